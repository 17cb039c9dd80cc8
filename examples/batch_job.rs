//! A batch job: reads everything in a topic up to the ends it captures at
//! start, counts records per key, commits what it processed, prints the
//! counts, leaves the group and exits 0.
//!
//! ```sh
//! cargo run --example batch_job -- --bootstrap-server localhost:9092 --topic events --group counters \
//!     [--consumer-property k=v]...
//! ```
//!
//! Run it twice with the same group: the second run finds the group's
//! committed offsets at the ends and processes nothing. Start several at
//! once: the group shares the partitions out and, between them, they process
//! every record once (each commits before a partition moves to another
//! member, and each stops when the partitions it holds are finished).
//!
//! Output (stdout): one `key<TAB>count` line per key (`null` for a null key),
//! sorted by key, then `processed N records`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use kafka_blocking::ConsumerConfig;
use kafka_blocking::consumer::{Consumer, ConsumerRebalanceListener, TopicPartition};

const USAGE: &str = "usage: batch_job --bootstrap-server HOST:PORT --topic TOPIC --group GROUP \
[--consumer-property k=v]...";

/// Commits what was processed before partitions move to another member.
struct CommitOnRevoke;

impl ConsumerRebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, _partitions: &[TopicPartition]) {
        // Every record polled so far was counted: the positions are what
        // was processed. Committing them now means the next owner of these
        // partitions starts right after, so no record is counted twice.
        if let Err(e) = consumer.commit_sync() {
            eprintln!("warning: commit before the rebalance failed: {e}");
        }
    }

    fn on_partitions_lost(&mut self, _consumer: &mut Consumer, partitions: &[TopicPartition]) {
        // They may already belong to another member: committing is pointless.
        eprintln!("warning: lost partitions {partitions:?}");
    }
}

fn main() -> ExitCode {
    let mut bootstrap = std::env::var("KAFKA_BOOTSTRAP")
        .ok()
        .filter(|b| !b.is_empty());
    let (mut topic, mut group) = (None, None);
    let mut settings: Vec<(String, String)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--bootstrap-server", Some(v)) => bootstrap = Some(v),
            ("--topic", Some(v)) => topic = Some(v),
            ("--group", Some(v)) => group = Some(v),
            ("--consumer-property", Some(kv)) => match kv.split_once('=') {
                Some((k, v)) => settings.push((k.into(), v.into())),
                None => return usage("--consumer-property takes key=value"),
            },
            (other, _) => return usage(&format!("unknown or incomplete argument {other}")),
        }
    }
    let (Some(bootstrap), Some(topic), Some(group)) = (bootstrap, topic, group) else {
        return usage("--bootstrap-server (or KAFKA_BOOTSTRAP), --topic and --group are required");
    };
    let mut config = ConsumerConfig::new()
        .bootstrap_servers(&bootstrap)
        .client_id("batch-job")
        .set("group.id", &group)
        // Where the group has no committed offset, start at the beginning.
        .set("auto.offset.reset", "earliest")
        // Commit exactly what was processed, at known points.
        .set("enable.auto.commit", "false")
        // Aggregate committed data only (aborted transactions are skipped).
        .set("isolation.level", "read_committed");
    for (k, v) in settings {
        config = config.set(&k, v);
    }
    match run(config, &topic) {
        Ok((counts, total)) => {
            for (key, n) in counts {
                println!("{key}\t{n}");
            }
            println!("processed {total} records");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("error: {why}\n{USAGE}");
    ExitCode::from(2)
}

/// Reads up to the ends captured at start and counts records per key.
fn run(
    config: ConsumerConfig,
    topic: &str,
) -> Result<(BTreeMap<String, u64>, u64), kafka_blocking::Error> {
    let mut consumer = Consumer::new(config)?;
    consumer.set_rebalance_listener(CommitOnRevoke);
    consumer.subscribe(&[topic])?;
    // The ends of every partition of the topic, now: what this job covers.
    consumer.stop_at_end_offsets()?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0;
    while !consumer.reached_stop_offsets() {
        for record in consumer.poll(Duration::from_millis(500))? {
            let key = match &record.key {
                Some(k) => String::from_utf8_lossy(k).into_owned(),
                None => "null".to_string(),
            };
            *counts.entry(key).or_default() += 1;
            total += 1;
        }
    }
    // Positions are at the stop offsets of the partitions this member holds.
    consumer.commit_sync()?;
    // Leaves the group, so the other members rebalance at once.
    consumer.close();
    Ok((counts, total))
}
