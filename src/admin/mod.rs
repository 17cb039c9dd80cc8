//! The admin client: topics and cluster description.
//!
//! Requests go where Kafka wants them (CreateTopics and DeleteTopics to the
//! controller, which KRaft brokers also forward) and are retried on
//! retriable errors until `default.api.timeout.ms`. Results are per topic: one
//! failing topic does not hide the others' outcome.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cluster::{Broker, Cluster, ClusterSettings, Retry, TopicMetadata};
use crate::config::AdminConfig;
use crate::error::{Error, Result};
use crate::protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use crate::protocol::messages::delete_topics_request::DeleteTopicState;
use crate::protocol::messages::{CreateTopicsRequest, DeleteTopicsRequest, DescribeClusterRequest};
use crate::protocol::{KafkaCode, Uuid};

/// A topic to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Number of partitions (-1 = the broker's default).
    pub num_partitions: i32,
    /// Replication factor (-1 = the broker's default).
    pub replication_factor: i16,
    /// Topic configs, e.g. `cleanup.policy=compact`.
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic with `num_partitions` partitions and `replication_factor` replicas.
    pub fn new(name: &str, num_partitions: i32, replication_factor: i16) -> NewTopic {
        NewTopic {
            name: name.to_string(),
            num_partitions,
            replication_factor,
            configs: BTreeMap::new(),
        }
    }

    /// Adds a topic config.
    pub fn config(mut self, key: &str, value: &str) -> NewTopic {
        self.configs.insert(key.to_string(), value.to_string());
        self
    }
}

/// The outcome for one topic of a batch operation.
#[derive(Debug)]
pub struct TopicOutcome {
    /// Topic name.
    pub name: String,
    /// Ok, or the error for this topic (e.g. TOPIC_ALREADY_EXISTS).
    pub result: Result<()>,
}

/// A listed topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicListing {
    /// Topic name.
    pub name: String,
    /// Topic id (zero when the broker does not send ids).
    pub topic_id: Uuid,
    /// True for internal topics.
    pub is_internal: bool,
    /// Number of partitions.
    pub partitions: usize,
}

/// What DescribeCluster (or Metadata, on older brokers) says about the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterDescription {
    /// Cluster id.
    pub cluster_id: Option<String>,
    /// Controller's node id (-1 when unknown).
    pub controller_id: i32,
    /// Brokers, sorted by node id.
    pub brokers: Vec<Broker>,
}

/// A Kafka admin client.
pub struct AdminClient {
    cluster: Arc<Cluster>,
    api_timeout: Duration,
}

impl AdminClient {
    /// Builds an admin client; fails on invalid configuration. Nothing is
    /// connected until the first call.
    pub fn new(config: AdminConfig) -> Result<AdminClient> {
        let settings = config.settings()?;
        let mut cluster = ClusterSettings::from_settings(&settings.common)?;
        cluster.allow_auto_create_topics = false;
        Ok(AdminClient {
            cluster: Arc::new(Cluster::new(cluster)),
            api_timeout: settings.default_api_timeout,
        })
    }

    /// The routing layer (metadata and connections) behind this client
    /// (cargo feature `unstable`: a lower-layer type, without semver
    /// guarantee).
    #[cfg(feature = "unstable")]
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.api_timeout
    }

    /// Creates topics. The request succeeds as a whole when the controller
    /// answered; each topic's own outcome is in the result. Topics answered
    /// NOT_CONTROLLER are sent again to the controller the refreshed metadata
    /// names until `default.api.timeout.ms`.
    pub fn create_topics(&self, topics: &[NewTopic]) -> Result<Vec<TopicOutcome>> {
        for t in topics {
            crate::cluster::validate_topic_name(&t.name)?;
        }
        let deadline = self.deadline();
        let timeout_ms = self.api_timeout.as_millis().min(i32::MAX as u128) as i32;
        let outcomes = self.per_topic_controller_call(
            "CreateTopics",
            topics.iter().map(|t| t.name.clone()).collect(),
            deadline,
            |names| {
                let req = CreateTopicsRequest {
                    topics: topics
                        .iter()
                        .filter(|t| names.contains(&t.name))
                        .map(|t| CreatableTopic {
                            name: t.name.clone(),
                            num_partitions: t.num_partitions,
                            replication_factor: t.replication_factor,
                            configs: t
                                .configs
                                .iter()
                                .map(|(k, v)| CreatableTopicConfig {
                                    name: k.clone(),
                                    value: Some(v.clone()),
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    timeout_ms,
                    ..Default::default()
                };
                let resp = self.cluster.request_controller(&req, deadline)?;
                Ok(resp
                    .topics
                    .into_iter()
                    .map(|t| (t.name, t.error_code, t.error_message))
                    .collect())
            },
        )?;
        self.cluster.request_refresh();
        Ok(outcomes)
    }

    /// Runs a controller request whose answer has one error code per topic
    /// (`call` sends it for the given names and returns name, code and
    /// message per topic), sending the topics answered NOT_CONTROLLER again
    /// after the [`Retry`] backoff and a metadata refresh until `deadline`.
    /// At the deadline a topic still answered NOT_CONTROLLER fails with
    /// that error, or with a timeout naming the controller id the metadata
    /// gave when no controller is known.
    fn per_topic_controller_call(
        &self,
        api: &str,
        mut pending: Vec<String>,
        deadline: Instant,
        mut call: impl FnMut(&[String]) -> Result<Vec<(String, i16, Option<String>)>>,
    ) -> Result<Vec<TopicOutcome>> {
        let started = Instant::now();
        let mut retry = Retry::new(&self.cluster, deadline);
        let mut outcomes = Vec::new();
        loop {
            let mut again = Vec::new();
            for (name, code, message) in call(&pending)? {
                let result = topic_result(code, message, api, &name);
                if KafkaCode::from_code(code) == Some(KafkaCode::NotController)
                    && pending.contains(&name)
                {
                    again.push(TopicOutcome { name, result });
                } else {
                    outcomes.push(TopicOutcome { name, result });
                }
            }
            if again.is_empty() {
                return Ok(outcomes);
            }
            let names: Vec<String> = again.iter().map(|o| o.name.clone()).collect();
            let not_controller = Error::kafka(
                KafkaCode::NotController,
                format!("{api} for {}", names.join(", ")),
            );
            if retry.controller_moved(api, not_controller).is_err() {
                // The deadline: these topics keep their NOT_CONTROLLER.
                for mut o in again {
                    if let Err(e) = o.result {
                        o.result = Err(self.cluster.no_controller_error(
                            &format!("{api} for topic {}", o.name),
                            started.elapsed(),
                            e,
                        ));
                    }
                    outcomes.push(o);
                }
                return Ok(outcomes);
            }
            pending = names;
        }
    }

    /// Creates one topic; TOPIC_ALREADY_EXISTS is an error (match on
    /// [`Error::kafka_code`] to ignore it).
    pub fn create_topic(&self, topic: NewTopic) -> Result<()> {
        first_outcome(
            self.create_topics(std::slice::from_ref(&topic))?,
            &topic.name,
        )
    }

    /// Deletes topics by name (topics answered NOT_CONTROLLER are sent
    /// again, as in [`AdminClient::create_topics`]).
    pub fn delete_topics<S: AsRef<str>>(&self, names: &[S]) -> Result<Vec<TopicOutcome>> {
        let names: Vec<String> = names.iter().map(|s| s.as_ref().to_string()).collect();
        for n in &names {
            crate::cluster::validate_topic_name(n)?;
        }
        let deadline = self.deadline();
        let timeout_ms = self.api_timeout.as_millis().min(i32::MAX as u128) as i32;
        let outcomes =
            self.per_topic_controller_call("DeleteTopics", names, deadline, |names| {
                // Topics go in `Topics` from v6 and in `TopicNames` before:
                // send whichever the negotiated version has.
                let resp = self
                    .cluster
                    .request_controller_with("DeleteTopics", deadline, |c| {
                        let v = c.version::<DeleteTopicsRequest>()?;
                        let mut req = DeleteTopicsRequest {
                            timeout_ms,
                            ..Default::default()
                        };
                        if v >= 6 {
                            req.topics = names
                                .iter()
                                .map(|n| DeleteTopicState {
                                    name: Some(n.clone()),
                                    ..Default::default()
                                })
                                .collect();
                        } else {
                            req.topic_names = names.to_vec();
                        }
                        c.request_at(&req, v)
                    })?;
                Ok(resp
                    .responses
                    .into_iter()
                    .map(|t| {
                        let name = t.name.unwrap_or_else(|| t.topic_id.to_string());
                        (name, t.error_code, t.error_message)
                    })
                    .collect())
            })?;
        self.cluster.request_refresh();
        Ok(outcomes)
    }

    /// Deletes one topic.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        first_outcome(self.delete_topics(&[name])?, name)
    }

    /// Lists the cluster's topics (internal ones included, flagged), sorted by name.
    pub fn list_topics(&self) -> Result<Vec<TopicListing>> {
        let md = self.cluster.refresh_topics_until(None, self.deadline())?;
        Ok(md
            .topics
            .values()
            .filter(|t| t.error.is_none())
            .map(|t| TopicListing {
                name: t.name.clone(),
                topic_id: t.topic_id,
                is_internal: t.is_internal,
                partitions: t.partitions.len(),
            })
            .collect())
    }

    /// Full metadata (partitions, leaders, replicas) of the given topics.
    pub fn describe_topics<S: AsRef<str>>(&self, names: &[S]) -> Result<Vec<TopicMetadata>> {
        let names: Vec<String> = names.iter().map(|s| s.as_ref().to_string()).collect();
        for n in &names {
            crate::cluster::validate_topic_name(n)?;
        }
        let md = self
            .cluster
            .refresh_topics_until(Some(&names), self.deadline())?;
        names
            .iter()
            .map(|n| match md.topics.get(n) {
                Some(t) => match t.error {
                    Some(code) => Err(Error::kafka(code, format!("Metadata for topic {n}"))),
                    None => Ok(t.clone()),
                },
                None => Err(Error::kafka(
                    KafkaCode::UnknownTopicOrPartition,
                    format!("Metadata for topic {n}"),
                )),
            })
            .collect()
    }

    /// Metadata of every topic and broker (cargo feature `unstable`: a
    /// lower-layer type, without semver guarantee; [`AdminClient::list_topics`],
    /// [`AdminClient::describe_topics`] and [`AdminClient::describe_cluster`]
    /// are the stable ways to ask).
    #[cfg(feature = "unstable")]
    pub fn metadata(&self) -> Result<Arc<crate::cluster::ClusterMetadata>> {
        self.cluster.refresh_topics_until(None, self.deadline())
    }

    /// Describes the cluster: DescribeCluster where the broker supports it,
    /// else the brokers and controller from a Metadata request.
    pub fn describe_cluster(&self) -> Result<ClusterDescription> {
        let deadline = self.deadline();
        let mut retry = Retry::new(&self.cluster, deadline);
        let conn = loop {
            match self.cluster.any_connection() {
                Ok(c) => break c,
                Err(e) => retry.backoff("DescribeCluster", e)?,
            }
        };
        if conn.version::<DescribeClusterRequest>().is_ok() {
            let resp = self
                .cluster
                .request_any(&DescribeClusterRequest::default(), deadline)?;
            if let Some(code) = KafkaCode::from_code(resp.error_code) {
                return Err(Error::Kafka {
                    code,
                    context: "DescribeCluster".into(),
                    message: resp.error_message,
                });
            }
            let mut brokers: Vec<Broker> = resp
                .brokers
                .iter()
                .map(|b| Broker {
                    node_id: b.broker_id,
                    host: b.host.clone(),
                    port: b.port as u16,
                    rack: b.rack.clone(),
                })
                .collect();
            brokers.sort_by_key(|b| b.node_id);
            return Ok(ClusterDescription {
                cluster_id: Some(resp.cluster_id),
                controller_id: resp.controller_id,
                brokers,
            });
        }
        let md = self.cluster.refresh_topics_until(Some(&[]), deadline)?;
        Ok(ClusterDescription {
            cluster_id: md.cluster_id.clone(),
            controller_id: md.controller_id,
            brokers: md.brokers.values().cloned().collect(),
        })
    }

    /// Closes every connection.
    pub fn close(&self) {
        self.cluster.close();
    }
}

impl Drop for AdminClient {
    fn drop(&mut self) {
        self.cluster.close();
    }
}

fn topic_result(code: i16, message: Option<String>, api: &str, topic: &str) -> Result<()> {
    match KafkaCode::from_code(code) {
        None => Ok(()),
        Some(code) => Err(Error::Kafka {
            code,
            context: format!("{api} for topic {topic}"),
            message,
        }),
    }
}

fn first_outcome(outcomes: Vec<TopicOutcome>, name: &str) -> Result<()> {
    outcomes
        .into_iter()
        .find(|o| o.name == name)
        .map(|o| o.result)
        .unwrap_or_else(|| {
            Err(Error::protocol(
                "controller",
                format!("no result for topic {name} in the response"),
            ))
        })
}
