//! Like Kafka's kafka-console-consumer: prints one record per line.
//!
//! ```text
//! cargo run --example console_consumer -- --bootstrap-server localhost:9092 --topic t \
//!     [--partition N] [--offset earliest|latest|N] [--from-beginning] [--max-messages N] \
//!     [--timeout-ms MS] [--property print.key=true] [--property key.separator=:] \
//!     [--property print.partition=true] [--property print.offset=true] [--property print.timestamp=true] \
//!     [--consumer-property k=v]...
//! ```
//!
//! Without `--partition` every partition of the topic is read. Without
//! `--offset`, reading starts at the end (`--from-beginning`: at the start).
//! `--timeout-ms` exits when no record arrived for that long. Null keys and
//! values print as `null`. `--group` (consumer groups) is not supported yet.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use kafka_blocking::ConsumerConfig;
use kafka_blocking::consumer::{Consumer, ConsumerRecord, TimestampType, TopicPartition};

const USAGE: &str = "usage: console_consumer --bootstrap-server HOST:PORT --topic TOPIC [--partition N] \
[--offset earliest|latest|N] [--from-beginning] [--max-messages N] [--timeout-ms MS] \
[--property print.key=true|print.partition=true|print.offset=true|print.timestamp=true|print.value=false|key.separator=SEP] \
[--consumer-property k=v]...";

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
    let mut args = std::env::args().skip(1);
    let mut bootstrap = std::env::var("KAFKA_BOOTSTRAP")
        .ok()
        .filter(|b| !b.is_empty());
    let mut topic = None;
    let mut partition: Option<i32> = None;
    let mut start: Option<Start> = None;
    let mut from_beginning = false;
    let mut max_messages: Option<u64> = None;
    let mut timeout: Option<Duration> = None;
    let mut config = ConsumerConfig::new().client_id("console-consumer");
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
            "--max-messages" => match value().and_then(|v| v.parse().ok()) {
                Some(n) => max_messages = Some(n),
                None => return usage("--max-messages needs a number"),
            },
            "--timeout-ms" => match value().and_then(|v| v.parse().ok()) {
                Some(ms) => timeout = Some(Duration::from_millis(ms)),
                None => return usage("--timeout-ms needs a number of milliseconds"),
            },
            "--group" => {
                eprintln!(
                    "error: --group is not supported yet: consumer groups are not implemented in kafka-blocking; \
                     read partitions directly (--partition, --offset) instead"
                );
                return ExitCode::from(2);
            }
            "--consumer-property" => match value().as_deref().and_then(|kv| kv.split_once('=')) {
                Some((k, v)) => config = config.set(k, v),
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
                config = match config.with_properties(&text) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("error: {path}: {e}");
                        return ExitCode::FAILURE;
                    }
                };
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
    let start = start.unwrap_or(if from_beginning {
        Start::Earliest
    } else {
        Start::Latest
    });
    match run(
        config.bootstrap_servers(&bootstrap),
        &topic,
        partition,
        start,
        max_messages,
        timeout,
        &format,
    ) {
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

fn run(
    config: ConsumerConfig,
    topic: &str,
    partition: Option<i32>,
    start: Start,
    max_messages: Option<u64>,
    timeout: Option<Duration>,
    format: &Format,
) -> Result<u64, Box<dyn std::error::Error>> {
    let mut consumer = Consumer::new(config)?;
    let all = consumer.partitions_for(topic)?;
    let partitions = match partition {
        Some(p) => {
            let tp = TopicPartition::new(topic, p);
            if !all.contains(&tp) {
                return Err(
                    format!("topic {topic} has no partition {p} (it has {})", all.len()).into(),
                );
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
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut count = 0u64;
    let mut last_record = Instant::now();
    let poll = timeout.map_or(Duration::from_millis(500), |t| {
        t.min(Duration::from_millis(500))
    });
    loop {
        if max_messages.is_some_and(|m| count >= m) {
            break;
        }
        let records = consumer.poll(poll)?;
        if records.is_empty() {
            if let Err(e) = out.flush() {
                broken_pipe_ok(e)?;
                return Ok(count);
            }
            if timeout.is_some_and(|t| last_record.elapsed() >= t) {
                break;
            }
            continue;
        }
        last_record = Instant::now();
        for r in &records {
            if max_messages.is_some_and(|m| count >= m) {
                break;
            }
            if let Err(e) = format.write(&mut out, r) {
                broken_pipe_ok(e)?;
                return Ok(count);
            }
            count += 1;
        }
    }
    if let Err(e) = out.flush() {
        broken_pipe_ok(e)?;
    }
    consumer.close();
    Ok(count)
}

/// `| head` closes the pipe: that is a normal end, not an error.
fn broken_pipe_ok(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}
