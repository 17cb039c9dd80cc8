//! Reading a partition's log with raw fetches, for checking what producers
//! wrote independently of the consumer.

use std::time::{Duration, Instant};

use kafka_blocking::Error;
use kafka_blocking::unstable::cluster::Cluster;
use kafka_blocking::unstable::protocol::messages::FetchRequest;
use kafka_blocking::unstable::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_blocking::unstable::protocol::records::{DecodeOptions, Record, decode_batches};

/// Every record of `topic`-`partition` from offset `from`, fetched from the
/// current leader (retrying for up to 20 s while leadership settles). Stops
/// when a fetch returns nothing new: tansu's high watermark is not reliable
/// (BROKERS.md), so it is not used.
pub fn read_partition(cluster: &Cluster, topic: &str, partition: i32, from: i64) -> Vec<Record> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match try_read(cluster, topic, partition, from, deadline) {
            Ok(log) => return log,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "cannot read {topic}-{partition}: {e}"
                );
                cluster.request_refresh();
                let _ = cluster.maybe_refresh();
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn try_read(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    from: i64,
    deadline: Instant,
) -> Result<Vec<Record>, Error> {
    let md = cluster.wait_for_topic(topic, deadline)?;
    let leader = md.partitions[partition as usize].leader;
    let conn = cluster.connection(leader)?;
    let mut out: Vec<Record> = Vec::new();
    loop {
        let next = out.last().map_or(from, |r| r.offset + 1);
        let req = FetchRequest {
            replica_id: -1,
            max_wait_ms: 10,
            min_bytes: 1,
            max_bytes: 50 << 20,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: topic.to_string(),
                topic_id: md.topic_id,
                partitions: vec![FetchPartition {
                    partition,
                    fetch_offset: next,
                    partition_max_bytes: 8 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = conn.request(&req)?;
        let p = &resp.responses[0].partitions[0];
        if p.error_code != 0 {
            return Err(Error::InvalidArgument(format!(
                "fetch error {}",
                p.error_code
            )));
        }
        let before = out.len();
        for b in decode_batches(
            p.records.clone().unwrap_or_default(),
            DecodeOptions::default(),
        ) {
            let b = b.map_err(|e| Error::InvalidArgument(e.to_string()))?;
            out.extend(b.records.into_iter().filter(|r| r.offset >= next));
        }
        if out.len() == before {
            return Ok(out);
        }
    }
}
