//! Like Kafka's kafka-console-consumer: prints one record per line.
//!
//! ```text
//! cargo run --example console_consumer -- --bootstrap-server localhost:9092 --topic t \
//!     [--group G | --partition N [--offset earliest|latest|N]] [--from-beginning] [--max-messages N] \
//!     [--timeout-ms MS] [--exit-at-end] [--property print.key=true] [--property key.separator=:] \
//!     [--property print.partition=true] [--property print.offset=true] [--property print.timestamp=true] \
//!     [--consumer-property k=v]...
//! ```
//!
//! Without `--group`, the consumer reads partitions directly: without
//! `--partition` every partition of the topic, from the end (`--offset`, or
//! `--from-beginning` for the start).
//!
//! With `--group G` it joins consumer group `G` (subscribes to the topic) and
//! reads the partitions the group gives it, from the group's committed
//! offsets (where there are none, from the end, or from the start with
//! `--from-beginning`). On exit it commits the offsets of the records it
//! printed and leaves the group.
//!
//! `--exit-at-end` (like `kcat -e`) captures the end offsets of the
//! partitions at start (with `--group`: of every partition of the topic) and
//! exits once everything before them was printed (with `--group`: of the
//! partitions the group gave this member), empty partitions included.
//!
//! `--timeout-ms` exits when no record arrived for that long (with `--group`,
//! counted from the first assignment: joining a group can take a while, on
//! tansu about session.timeout.ms/2, so pass e.g.
//! `--consumer-property session.timeout.ms=6000` there). Ctrl-C exits
//! cleanly (a second Ctrl-C at once). Null keys and values print as `null`.
//!
//! The client's warnings (e.g. a topic the broker does not know, a broker
//! that cannot be reached) go to stderr; `-v`/`--verbose` adds its debug log
//! (`RUST_LOG` overrides, see `examples/common/log.rs`).

#[path = "common/log.rs"]
mod tool_log;

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kafka_blocking::ConsumerConfig;
use kafka_blocking::consumer::{Consumer, ConsumerRecord, TimestampType, TopicPartition};

/// Set by Ctrl-C: the poll loop ends and the consumer closes cleanly.
static STOP: AtomicBool = AtomicBool::new(false);

const USAGE: &str = "usage: console_consumer --bootstrap-server HOST:PORT --topic TOPIC \
[--group GROUP | --partition N [--offset earliest|latest|N]] [--from-beginning] [--max-messages N] [--timeout-ms MS] [--exit-at-end] \
[--property print.key=true|print.partition=true|print.offset=true|print.timestamp=true|print.value=false|key.separator=SEP] \
[--consumer-property k=v]... [-v|--verbose]";

fn usage(why: &str) -> ExitCode {
    if !why.is_empty() {
        eprintln!("error: {why}");
    }
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    Earliest,
    Latest,
    Offset(i64),
}

enum UserSetting {
    Property(String, String),
    /// A properties file: its path and text.
    File(String, String),
}

/// Where the partitions come from.
enum Mode {
    /// Read these partitions (all without a number) from `Start`.
    Assign(Option<i32>, Start),
    /// Join this group and read what it assigns.
    Group(String),
}

#[derive(Default)]
struct Format {
    key: bool,
    partition: bool,
    offset: bool,
    timestamp: bool,
    no_value: bool,
    separator: String,
}

impl Format {
    fn write(&self, out: &mut impl Write, r: &ConsumerRecord) -> io::Result<()> {
        let sep = self.separator.as_bytes();
        if self.timestamp {
            match r.timestamp_type {
                TimestampType::CreateTime => write!(out, "CreateTime:{}", r.timestamp)?,
                TimestampType::LogAppendTime => write!(out, "LogAppendTime:{}", r.timestamp)?,
            }
            out.write_all(sep)?;
        }
        if self.partition {
            write!(out, "Partition:{}", r.partition)?;
            out.write_all(sep)?;
        }
        if self.offset {
            write!(out, "Offset:{}", r.offset)?;
            out.write_all(sep)?;
        }
        if self.key {
            out.write_all(r.key.as_deref().unwrap_or(b"null"))?;
            if !self.no_value {
                out.write_all(sep)?;
            }
        }
        if !self.no_value {
            out.write_all(r.value.as_deref().unwrap_or(b"null"))?;
        }
        out.write_all(b"\n")
    }
}

fn main() -> ExitCode {
    let mut args = tool_log::init_from_args(std::env::args().skip(1));
    let mut bootstrap = std::env::var("KAFKA_BOOTSTRAP")
        .ok()
        .filter(|b| !b.is_empty());
    let mut topic = None;
    let mut partition: Option<i32> = None;
    let mut start: Option<Start> = None;
    let mut from_beginning = false;
    let mut exit_at_end = false;
    let mut max_messages: Option<u64> = None;
    let mut timeout: Option<Duration> = None;
    let mut group: Option<String> = None;
    // --consumer-property and --consumer.config settings, applied last so that
    // they override what the other options imply.
    let mut user_settings: Vec<UserSetting> = Vec::new();
    let mut format = Format {
        separator: "\t".into(),
        ..Format::default()
    };
    while let Some(a) = args.next() {
        let mut value = || args.next();
        match a.as_str() {
            "--bootstrap-server" | "--broker-list" => bootstrap = value(),
            "--topic" => topic = value(),
            "--partition" => match value().and_then(|v| v.parse().ok()) {
                Some(p) => partition = Some(p),
                None => return usage("--partition needs a partition number"),
            },
            "--offset" => {
                start = match value().as_deref() {
                    Some("earliest") => Some(Start::Earliest),
                    Some("latest") => Some(Start::Latest),
                    Some(n) => match n.parse::<i64>() {
                        Ok(o) if o >= 0 => Some(Start::Offset(o)),
                        _ => {
                            return usage(
                                "--offset takes earliest, latest or a non-negative offset",
                            );
                        }
                    },
                    None => return usage("--offset needs a value"),
                }
            }
            "--from-beginning" => from_beginning = true,
            "--exit-at-end" => exit_at_end = true,
            "--max-messages" => match value().and_then(|v| v.parse().ok()) {
                Some(n) => max_messages = Some(n),
                None => return usage("--max-messages needs a number"),
            },
            "--timeout-ms" => match value().and_then(|v| v.parse().ok()) {
                Some(ms) => timeout = Some(Duration::from_millis(ms)),
                None => return usage("--timeout-ms needs a number of milliseconds"),
            },
            "--group" => match value() {
                Some(g) if !g.is_empty() => group = Some(g),
                _ => return usage("--group needs a group id"),
            },
            "--consumer-property" => match value().as_deref().and_then(|kv| kv.split_once('=')) {
                Some((k, v)) => user_settings.push(UserSetting::Property(k.into(), v.into())),
                None => return usage("--consumer-property takes key=value"),
            },
            "--consumer.config" => {
                let Some(path) = value() else {
                    return usage("--consumer.config needs a file");
                };
                let text = match std::fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("error: cannot read {path}: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                user_settings.push(UserSetting::File(path, text));
            }
            "--property" => match value().as_deref().and_then(|kv| kv.split_once('=')) {
                Some(("print.key", v)) => format.key = v == "true",
                Some(("print.partition", v)) => format.partition = v == "true",
                Some(("print.offset", v)) => format.offset = v == "true",
                Some(("print.timestamp", v)) => format.timestamp = v == "true",
                Some(("print.value", v)) => format.no_value = v == "false",
                Some(("key.separator", v)) => format.separator = v.to_string(),
                Some((k, _)) => {
                    return usage(&format!(
                        "unsupported --property {k} (supported: print.key, print.partition, print.offset, \
                         print.timestamp, print.value, key.separator)"
                    ));
                }
                None => return usage("--property takes key=value"),
            },
            "--help" | "-h" => return usage(""),
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    let Some(bootstrap) = bootstrap else {
        return usage("--bootstrap-server is required (or set KAFKA_BOOTSTRAP)");
    };
    let Some(topic) = topic else {
        return usage("--topic is required");
    };
    if matches!(start, Some(Start::Offset(_))) && partition.is_none() {
        return usage("--offset N needs --partition");
    }
    if group.is_some() && (partition.is_some() || start.is_some()) {
        return usage(
            "--group reads the partitions the group assigns, from its committed offsets: \
             it cannot be combined with --partition or --offset",
        );
    }
    let start = start.unwrap_or(if from_beginning {
        Start::Earliest
    } else {
        Start::Latest
    });
    let mut config = ConsumerConfig::new().client_id("console-consumer");
    if let Some(g) = &group {
        config = config.set("group.id", g).set(
            "auto.offset.reset",
            if from_beginning { "earliest" } else { "latest" },
        );
    }
    for setting in user_settings {
        config = match setting {
            UserSetting::Property(k, v) => config.set(&k, v),
            UserSetting::File(path, text) => match config.with_properties(&text) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {path}: {e}");
                    return ExitCode::FAILURE;
                }
            },
        };
    }
    let config = config.bootstrap_servers(&bootstrap);
    if let Err(e) = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    }) {
        eprintln!("warning: Ctrl-C will not close the consumer cleanly: {e}");
    }
    let mode = match group {
        Some(g) => Mode::Group(g),
        None => Mode::Assign(partition, start),
    };
    let limits = Limits {
        max_messages,
        timeout,
        exit_at_end,
    };
    match run(config, &topic, mode, &limits, &format) {
        Ok(n) => {
            eprintln!("Processed a total of {n} messages");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// When the poll loop ends (besides Ctrl-C).
struct Limits {
    max_messages: Option<u64>,
    timeout: Option<Duration>,
    /// Stop at the end offsets captured at start.
    exit_at_end: bool,
}

fn run(
    config: ConsumerConfig,
    topic: &str,
    mode: Mode,
    limits: &Limits,
    format: &Format,
) -> Result<u64, Box<dyn std::error::Error>> {
    let mut consumer = Consumer::new(config)?;
    let group = match mode {
        Mode::Group(g) => {
            consumer.subscribe(&[topic])?;
            Some(g)
        }
        Mode::Assign(partition, start) => {
            let all = consumer.partitions_for(topic)?;
            let partitions = match partition {
                Some(p) => {
                    let tp = TopicPartition::new(topic, p);
                    if !all.contains(&tp) {
                        return Err(format!(
                            "topic {topic} has no partition {p} (it has {})",
                            all.len()
                        )
                        .into());
                    }
                    vec![tp]
                }
                None => all,
            };
            consumer.assign(partitions.clone())?;
            match start {
                Start::Earliest => consumer.seek_to_beginning(&partitions)?,
                Start::Latest => consumer.seek_to_end(&partitions)?,
                Start::Offset(o) => consumer.seek(&partitions[0], o)?,
            }
            for tp in &partitions {
                // Resolve positions now, so "latest" means "from when we started".
                consumer.position(tp)?;
            }
            None
        }
    };
    if limits.exit_at_end {
        consumer.stop_at_end_offsets()?;
    }
    let result = consume(&mut consumer, limits, format);
    if let Some(g) = group {
        // Commit what was printed, then leave the group (close).
        if let Err(e) = commit_printed(&mut consumer, result.as_ref().ok()) {
            eprintln!("error: committing the offsets of group {g} failed: {e}");
        }
    }
    consumer.close();
    result.map(|r| r.count)
}

/// What the poll loop did.
struct Consumed {
    count: u64,
    /// For each partition of the last batch whose records were not all
    /// printed (--max-messages, or the output closed), the offset of the
    /// first one not printed.
    unprinted: BTreeMap<TopicPartition, i64>,
}

/// The consumer's group generation (None without a group).
fn generation(consumer: &Consumer) -> Option<i32> {
    consumer.group_metadata().ok().map(|m| m.generation_id)
}

fn consume(
    consumer: &mut Consumer,
    limits: &Limits,
    format: &Format,
) -> Result<Consumed, Box<dyn std::error::Error>> {
    let (max_messages, timeout) = (limits.max_messages, limits.timeout);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut done = Consumed {
        count: 0,
        unprinted: BTreeMap::new(),
    };
    let mut last_record = Instant::now();
    let mut last_generation = generation(consumer);
    let poll = timeout.map_or(Duration::from_millis(500), |t| {
        t.min(Duration::from_millis(500))
    });
    while !STOP.load(Ordering::SeqCst) {
        if max_messages.is_some_and(|m| done.count >= m)
            || (limits.exit_at_end && consumer.reached_stop_offsets())
        {
            break;
        }
        let records = consumer.poll(poll)?;
        if records.is_empty() {
            if let Err(e) = out.flush() {
                broken_pipe_ok(e)?;
                return Ok(done);
            }
            let now_generation = generation(consumer);
            if now_generation != last_generation {
                // With a group, the idle time counts from the (latest)
                // assignment, not while the group forms.
                last_record = Instant::now();
                last_generation = now_generation;
            }
            if timeout.is_some_and(|t| last_record.elapsed() >= t) {
                break;
            }
            continue;
        }
        last_record = Instant::now();
        let mut pipe_closed = false;
        for r in &records {
            if !pipe_closed && max_messages.is_none_or(|m| done.count < m) {
                match format.write(&mut out, r) {
                    Ok(()) => {
                        done.count += 1;
                        continue;
                    }
                    Err(e) => {
                        broken_pipe_ok(e)?;
                        pipe_closed = true;
                    }
                }
            }
            let tp = TopicPartition::new(&r.topic, r.partition);
            done.unprinted.entry(tp).or_insert(r.offset);
        }
        if pipe_closed {
            return Ok(done);
        }
    }
    if let Err(e) = out.flush() {
        broken_pipe_ok(e)?;
    }
    Ok(done)
}

/// Commits the group's offsets so that the next reader starts after the
/// last printed record: records polled but not printed are not committed.
fn commit_printed(
    consumer: &mut Consumer,
    consumed: Option<&Consumed>,
) -> kafka_blocking::Result<()> {
    if let Some(c) = consumed {
        for (tp, offset) in &c.unprinted {
            consumer.seek(tp, *offset)?;
        }
    }
    consumer.commit_sync()
}

/// `| head` closes the pipe: that is a normal end, not an error.
fn broken_pipe_ok(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}
