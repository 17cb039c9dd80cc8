//! The librdkafka mock cluster: several brokers on loopback with fault injection.
//!
//! Runs `python3 tests/support/mock_cluster.py` (needs the `confluent-kafka` wheel,
//! whose bundled librdkafka provides the mock) and talks to it one command per line;
//! see that script's docstring for the command list. The script exits when its
//! stdin reaches EOF, so it never outlives the test process. Its stderr (librdkafka
//! logs) goes to a log file in the temp dir.
//!
//! Quirks: ApiVersions only v0-2 (v3+ gets UNSUPPORTED_VERSION), topics are
//! auto-created on Metadata/Produce, DescribeGroups is unsupported.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use super::{log_file, log_tail, python};

const START_TIMEOUT: Duration = Duration::from_secs(30);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A running mock cluster. Dropping it destroys the cluster.
pub struct MockCluster {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    bootstrap: String,
    brokers: usize,
    log_path: PathBuf,
}

/// Path of `tests/support/mock_cluster.py`.
pub fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mock_cluster.py")
}

impl MockCluster {
    /// Starts a cluster of `brokers` brokers (ids `1..=brokers`).
    pub fn start(brokers: usize) -> io::Result<MockCluster> {
        Self::start_with_conf(brokers, &[])
    }

    /// Like [`MockCluster::start`], with extra librdkafka settings for the
    /// handle that owns the cluster (`-X key=value`), e.g.
    /// `("debug", "mock")` to log the mock's decisions to [`Self::log_path`].
    pub fn start_with_conf(brokers: usize, conf: &[(&str, &str)]) -> io::Result<MockCluster> {
        let log_path = log_file("mock");
        let log = File::create(&log_path)?;
        let mut cmd = Command::new(python());
        cmd.arg(script_path()).args(["-b", &brokers.to_string()]);
        for (k, v) in conf {
            cmd.arg("-X").arg(format!("{k}={v}"));
        }
        cmd.env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {cmd:?}: {e}")))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut mock = MockCluster {
            child,
            stdin,
            lines,
            bootstrap: String::new(),
            brokers,
            log_path,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let line = mock.next_line(deadline, "waiting for BOOTSTRAP")?;
            if let Some(b) = line.strip_prefix("BOOTSTRAP ") {
                mock.bootstrap = b.trim().to_string();
                return Ok(mock);
            }
        }
    }

    /// `host:port,host:port,...` of all brokers.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Number of brokers the cluster was started with.
    pub fn brokers(&self) -> usize {
        self.brokers
    }

    /// File that receives the mock's stderr (librdkafka logs).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Sends one command line and returns the answer (`OK ...`; several lines
    /// for `track dump`). An `ERR ...` answer becomes an error.
    pub fn cmd(&mut self, line: &str) -> io::Result<String> {
        if line.contains('\n') || line.trim().is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("mock cluster: one non-empty command line expected, got {line:?}"),
            ));
        }
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("mock cluster: already shut down"))?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| self.failure(&format!("sending `{line}`: {e}")))?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let mut answer = String::new();
        loop {
            let reply = self.next_line(deadline, &format!("waiting for the answer to `{line}`"))?;
            if reply.starts_with('#') {
                continue;
            }
            if !answer.is_empty() {
                answer.push('\n');
            }
            answer.push_str(&reply);
            if reply.starts_with("OK") {
                return Ok(answer);
            }
            if reply.starts_with("ERR") {
                return Err(io::Error::other(format!(
                    "mock cluster: `{line}` -> {answer}"
                )));
            }
        }
    }

    /// Creates `topic`; partition `p`'s leader is broker `p % brokers + 1`.
    /// `rf` is capped by the mock at the number of brokers.
    pub fn create_topic(&mut self, topic: &str, partitions: i32, rf: i32) -> io::Result<()> {
        self.cmd(&format!("create {topic} {partitions} {rf}"))
            .map(drop)
    }

    /// Moves the leadership of `topic`/`partition` to `broker` (-1: no leader).
    pub fn leader(&mut self, topic: &str, partition: i32, broker: i32) -> io::Result<()> {
        self.cmd(&format!("leader {topic} {partition} {broker}"))
            .map(drop)
    }

    /// Closes the broker's connections and refuses new ones.
    pub fn broker_down(&mut self, broker: i32) -> io::Result<()> {
        self.cmd(&format!("down {broker}")).map(drop)
    }

    pub fn broker_up(&mut self, broker: i32) -> io::Result<()> {
        self.cmd(&format!("up {broker}")).map(drop)
    }

    /// The next `count` requests of `api` (e.g. `"Produce"`, or a numeric key), on
    /// any broker, fail with `errs` (cycled; names like `NOT_LEADER_OR_FOLLOWER`).
    pub fn push_errors(&mut self, api: &str, count: usize, errs: &[&str]) -> io::Result<()> {
        self.cmd(&format!("errors {api} {count} {}", errs.join(" ")))
            .map(drop)
    }

    /// Forgets errors pushed for `api`.
    pub fn clear_errors(&mut self, api: &str) -> io::Result<()> {
        self.cmd(&format!("clear_errors {api}")).map(drop)
    }

    /// Delays every response of `broker` by `ms` milliseconds (0 = none).
    pub fn rtt(&mut self, broker: i32, ms: u32) -> io::Result<()> {
        self.cmd(&format!("rtt {broker} {ms}")).map(drop)
    }

    /// Makes `broker` the coordinator; `kind` is `"group"` or `"transaction"`.
    pub fn coordinator(&mut self, kind: &str, key: &str, broker: i32) -> io::Result<()> {
        self.cmd(&format!("coordinator {kind} {key} {broker}"))
            .map(drop)
    }

    /// Restricts the versions advertised for `api` (`-1, -1` disables it).
    pub fn apiversion(&mut self, api: &str, min: i16, max: i16) -> io::Result<()> {
        self.cmd(&format!("apiversion {api} {min} {max}")).map(drop)
    }

    fn next_line(&mut self, deadline: Instant, what: &str) -> io::Result<String> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => Err(self.failure(&format!("timed out {what}"))),
            Err(RecvTimeoutError::Disconnected) => {
                // Give the process a moment to exit so we can report its status.
                let mut status = None;
                for _ in 0..100 {
                    if let Ok(Some(s)) = self.child.try_wait() {
                        status = Some(s);
                        break;
                    }
                    thread::sleep(Duration::from_millis(10));
                }
                let status = status.map_or_else(|| "still running".to_string(), |s| s.to_string());
                Err(self.failure(&format!("{what}: output closed ({status})")))
            }
        }
    }

    fn failure(&self, msg: &str) -> io::Error {
        let mut hint = String::new();
        if !super::python_has("confluent_kafka") {
            hint = "\n(confluent_kafka is not importable: python3 -m pip install -r tests/support/requirements.txt)"
                .to_string();
        }
        io::Error::other(format!(
            "mock cluster: {msg}{hint}\n--- {} ---\n{}",
            self.log_path.display(),
            log_tail(&self.log_path, 0, 4000)
        ))
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"quit\n");
            let _ = stdin.flush();
            // dropping stdin closes it: EOF also makes the script exit
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut exited = false;
        while !exited && Instant::now() < deadline {
            exited = !matches!(self.child.try_wait(), Ok(None));
            if !exited {
                thread::sleep(Duration::from_millis(10));
            }
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if !thread::panicking() {
            let _ = std::fs::remove_file(&self.log_path);
        }
    }
}
