//! The example tools' stderr logger: shows the client's log (it logs through
//! the `log` facade) without any extra dependency.
//!
//! Levels: warnings and errors by default (a connection that cannot be
//! established, a topic the broker does not know); `-v`/`--verbose` adds the
//! client's debug log, `-vv` its trace log. `RUST_LOG` overrides both, in the
//! usual form: `debug`, or `kafka_blocking=debug,kafka_blocking::unstable::net=trace`
//! (a target prefix per entry; the longest matching prefix wins).
//!
//! Include it from an example with
//! `#[path = "common/log.rs"] mod tool_log;` (files in `examples/common/` are
//! not example targets).

use std::time::Instant;

use log::{LevelFilter, Log, Metadata, Record};

/// Writes each record to stderr as `[  1.234s WARN  target] message`
/// (seconds since the tool started).
struct StderrLog {
    start: Instant,
    /// Level when no rule matches.
    default: LevelFilter,
    /// `(target prefix, level)`, most specific first.
    rules: Vec<(String, LevelFilter)>,
}

impl StderrLog {
    fn level_for(&self, target: &str) -> LevelFilter {
        self.rules
            .iter()
            .find(|(prefix, _)| target.starts_with(prefix.as_str()))
            .map_or(self.default, |(_, level)| *level)
    }

    fn max_level(&self) -> LevelFilter {
        self.rules
            .iter()
            .map(|(_, l)| *l)
            .chain([self.default])
            .max()
            .unwrap_or(LevelFilter::Warn)
    }
}

impl Log for StderrLog {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level_for(m.target())
    }

    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            let t = self.start.elapsed();
            eprintln!(
                "[{:4}.{:03}s {:<5} {}] {}",
                t.as_secs(),
                t.subsec_millis(),
                r.level(),
                r.target(),
                r.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Parses `RUST_LOG`: entries `level` or `target=level`, comma-separated.
/// Returns the default level and the per-target rules, or `None` when no
/// entry is understood.
fn parse_rust_log(spec: &str) -> Option<(LevelFilter, Vec<(String, LevelFilter)>)> {
    let mut default = None;
    let mut rules = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.split_once('=') {
            Some((target, level)) => match level.trim().parse::<LevelFilter>() {
                Ok(l) => rules.push((target.trim().to_string(), l)),
                Err(_) => eprintln!("RUST_LOG: ignoring {entry} (unknown level)"),
            },
            None => match entry.parse::<LevelFilter>() {
                Ok(l) => default = Some(l),
                Err(_) => eprintln!("RUST_LOG: ignoring {entry} (unknown level)"),
            },
        }
    }
    if default.is_none() && rules.is_empty() {
        return None;
    }
    rules.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
    Some((default.unwrap_or(LevelFilter::Warn), rules))
}

/// Installs the logger and returns the arguments without the verbosity
/// flags (`-v`, `-vv`, `--verbose`, given once or twice), for the tool's
/// own parsing.
pub fn init_from_args(args: impl Iterator<Item = String>) -> std::vec::IntoIter<String> {
    let mut verbosity = 0;
    let rest: Vec<String> = args
        .filter(|a| match a.as_str() {
            "-v" | "--verbose" => {
                verbosity += 1;
                false
            }
            "-vv" => {
                verbosity += 2;
                false
            }
            _ => true,
        })
        .collect();
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| parse_rust_log(&spec));
    let (default, rules) = from_env.unwrap_or_else(|| {
        let client = match verbosity {
            0 => LevelFilter::Warn,
            1 => LevelFilter::Debug,
            _ => LevelFilter::Trace,
        };
        (
            LevelFilter::Warn,
            vec![("kafka_blocking".to_string(), client)],
        )
    });
    let logger = StderrLog {
        start: Instant::now(),
        default,
        rules,
    };
    let max = logger.max_level();
    // Leaked once: the logger lives as long as the tool (`log` without its
    // `std` feature takes only a `&'static` logger).
    if log::set_logger(Box::leak(Box::new(logger))).is_ok() {
        log::set_max_level(max);
    }
    rest.into_iter()
}
