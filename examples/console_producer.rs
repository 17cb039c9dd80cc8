//! Like Kafka's kafka-console-producer: one record per line of standard input.
//!
//! ```text
//! cargo run --example console_producer -- --bootstrap-server localhost:9092 --topic t \
//!     [--producer-property k=v]... [--property parse.key=true --property key.separator=:] [-v]
//! ```
//! Warnings of the client go to stderr; `-v`/`--verbose` adds its debug log
//! (`RUST_LOG` overrides, see `examples/common/log.rs`).
//! Exits non-zero, saying why, if any record fails to be delivered.

#[path = "common/log.rs"]
mod tool_log;

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kafka_blocking::ProducerConfig;
use kafka_blocking::producer::{Producer, ProducerRecord};

fn usage() -> ExitCode {
    eprintln!(
        "usage: console_producer --bootstrap-server HOST:PORT --topic TOPIC [--producer-property k=v]... \
         [--property parse.key=true] [--property key.separator=SEP] [-v|--verbose]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = tool_log::init_from_args(std::env::args().skip(1));
    let mut bootstrap = std::env::var("KAFKA_BOOTSTRAP").ok();
    let mut topic = None;
    let mut config = ProducerConfig::new();
    let mut parse_key = false;
    let mut separator = "\t".to_string();
    while let Some(a) = args.next() {
        let mut value = || args.next();
        match a.as_str() {
            "--bootstrap-server" | "--broker-list" => bootstrap = value(),
            "--topic" => topic = value(),
            "--producer-property" => {
                let Some((k, v)) = value().and_then(|kv| {
                    kv.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                }) else {
                    return usage();
                };
                config = config.set(&k, v);
            }
            "--property" => match value().as_deref().and_then(|kv| kv.split_once('=')) {
                Some(("parse.key", v)) => parse_key = v == "true",
                Some(("key.separator", v)) => separator = v.to_string(),
                Some((k, _)) => {
                    eprintln!("unsupported --property {k} (supported: parse.key, key.separator)");
                    return ExitCode::from(2);
                }
                None => return usage(),
            },
            "--help" | "-h" => return usage(),
            other => {
                eprintln!("unknown argument {other}");
                return usage();
            }
        }
    }
    let (Some(bootstrap), Some(topic)) = (bootstrap, topic) else {
        return usage();
    };
    let producer = match Producer::new(config.bootstrap_servers(&bootstrap)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let failures = Arc::new(AtomicU64::new(0));
    let stdin = std::io::stdin();
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error reading standard input: {e}");
                return ExitCode::FAILURE;
            }
        };
        let (key, value) = if parse_key {
            match line.split_once(separator.as_str()) {
                Some((k, v)) => (Some(k), v),
                None => {
                    eprintln!(
                        "line {}: no key separator {separator:?} (parse.key=true)",
                        n + 1
                    );
                    return ExitCode::FAILURE;
                }
            }
        } else {
            (None, line.as_str())
        };
        let mut record = ProducerRecord::new(&topic, value.as_bytes());
        record.key = key.map(str::as_bytes);
        let f = failures.clone();
        let line_no = n + 1;
        if let Err(e) = producer.send_with_callback(record, move |r| {
            if let Err(e) = r {
                eprintln!("error: line {line_no} was not delivered: {e}");
                f.fetch_add(1, Ordering::SeqCst);
            }
        }) {
            eprintln!("error: line {}: {e}", n + 1);
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = producer.flush().and_then(|_| producer.close(None)) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    match failures.load(Ordering::SeqCst) {
        0 => ExitCode::SUCCESS,
        n => {
            eprintln!("{n} record(s) failed");
            ExitCode::FAILURE
        }
    }
}
