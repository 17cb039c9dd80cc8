//! One connection to one broker.
//!
//! Threading: the socket's read side belongs to a reader
//! thread that reads size-prefixed responses and hands each to the oldest
//! in-flight request (Kafka answers in order on a connection). Writers encode
//! their request outside any lock, then, under the write lock, push the
//! in-flight entry and write the bytes, so the entry is always queued before
//! its response can arrive. Any protocol violation, I/O error or request
//! timeout fails every in-flight request and closes the socket, as the Java
//! client does: after a timeout the position of the byte stream is unknown.
//!
//! Throttling (KIP-219): a response whose `throttle_time_ms` the client must
//! honour (see [`Response::client_throttle_time_ms`]) mutes sending on its
//! connection until that time has passed, as Java's `NetworkClient` does.
//! Requests sent meanwhile are encoded and held back in the connection (their
//! callers do not block: [`Connection::send`] returns at once, a blocking
//! [`Connection::request`] waits for its response as usual), then written in
//! order by a short-lived flusher thread when the throttle ends. A held
//! request whose own timeout passes first fails with a timeout without being
//! written. Callers that would rather not queue on a throttled broker (the
//! producer's sender, the consumer's fetcher) can consult
//! [`Connection::throttled_until`].

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

pub use super::versions::{ApiVersionRanges, client_range};
use crate::error::{Error, Result};
use crate::net::sasl::SaslSettings;
use crate::net::security::Security;
#[cfg(feature = "tls")]
use crate::net::tls::{TlsReader, TlsSession, TlsWriter};
use crate::protocol::header::{RequestHeader, ResponseHeader};
use crate::protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use crate::protocol::{Bytes, Decodable, KafkaCode, Reader, Request, Response};

mod reader;
mod throttle;

use throttle::{TOTALS, ThrottleCounters};
pub use throttle::{ThrottleStats, throttle_totals};

/// Where a broker listens, and its node id (negative for bootstrap addresses
/// whose id is not known yet).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrokerAddress {
    /// Node id, or a negative number for a bootstrap server.
    pub node_id: i32,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.node_id >= 0 {
            write!(f, "{}:{} (id {})", self.host, self.port, self.node_id)
        } else {
            write!(f, "{}:{} (bootstrap)", self.host, self.port)
        }
    }
}

/// Socket and protocol settings of a connection (from the client's config).
#[derive(Clone, Debug)]
pub struct ConnectionSettings {
    /// `client.id`, sent in every request header.
    pub client_id: Option<String>,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub connect_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms`: the setup timeout doubles
    /// with each consecutive failed connect to a broker, up to this.
    pub connect_timeout_max: Duration,
    /// `send.buffer.bytes` (-1 = OS default).
    pub send_buffer_bytes: i32,
    /// `receive.buffer.bytes` (-1 = OS default).
    pub receive_buffer_bytes: i32,
    /// Largest response accepted (`receive.message.max.bytes`).
    pub max_response_size: usize,
    /// `connections.max.idle.ms` (`None` = never).
    pub idle_timeout: Option<Duration>,
    /// Sent in ApiVersions v3+.
    pub software_name: String,
    /// Sent in ApiVersions v3+.
    pub software_version: String,
    /// `security.protocol` with its TLS and SASL settings.
    pub security: Security,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            client_id: None,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            connect_timeout_max: Duration::from_secs(30),
            send_buffer_bytes: 131072,
            receive_buffer_bytes: 65536,
            max_response_size: 100 * 1024 * 1024,
            idle_timeout: Some(Duration::from_secs(540)),
            software_name: "kafka-blocking".into(),
            software_version: env!("CARGO_PKG_VERSION").into(),
            security: Security::default(),
        }
    }
}

type Callback = Box<dyn FnOnce(Result<Bytes>) + Send>;

struct InFlight {
    correlation_id: i32,
    api_key: i16,
    /// -1 for an unframed SASL token of the legacy flow (SaslHandshake v0):
    /// the answer is a bare size-prefixed token, with no response header.
    response_header_version: i16,
    deadline: Instant,
    callback: Callback,
}

/// The socket as the writers see it: plain, or TLS-encrypting.
enum WriteTransport {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(TlsWriter),
}

impl WriteTransport {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            WriteTransport::Plain(s) => s.write_all(data),
            #[cfg(feature = "tls")]
            WriteTransport::Tls(t) => t.write_all(data),
        }
    }
}

/// The socket as the reader thread sees it: plain, or TLS-decrypting.
enum ReadTransport {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(TlsReader),
}

impl ReadTransport {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            ReadTransport::Plain(s) => s.set_read_timeout(t),
            #[cfg(feature = "tls")]
            ReadTransport::Tls(r) => r.tcp().set_read_timeout(t),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ReadTransport::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            ReadTransport::Tls(r) => r.read(buf),
        }
    }
}

struct WriteSide {
    out: WriteTransport,
    next_correlation_id: i32,
    buf: Vec<u8>,
    /// A flusher thread is due to write the held-back requests (KIP-219).
    flusher: bool,
}

/// An encoded request held back while the broker throttles the connection.
struct Held {
    frame: Vec<u8>,
    /// The in-flight entry to queue when it is written (`None`: the broker
    /// will not answer, Produce with acks=0).
    entry: Option<InFlight>,
    name: &'static str,
    held_at: Instant,
    deadline: Instant,
    timeout: Duration,
}

impl Held {
    fn fail(self, err: Error) {
        if let Some(e) = self.entry {
            (e.callback)(Err(err));
        }
    }
}

struct Shared {
    label: String,
    settings: ConnectionSettings,
    write: Mutex<WriteSide>,
    in_flight: Mutex<VecDeque<InFlight>>,
    closed: AtomicBool,
    /// Why the connection closed, for callers that arrive later.
    close_reason: Mutex<Option<Error>>,
    last_activity: Mutex<Instant>,
    /// Responses received so far (to tell "closed after ApiVersions" apart).
    answered: std::sync::atomic::AtomicUsize,
    /// A handle used only to shut the socket down from any thread.
    shutdown_handle: TcpStream,
    /// When SASL re-authentication is due (KIP-368), and when a connection
    /// that no writer used since should rather be closed: set from the
    /// session lifetime the broker returned, `None` when it sets no limit.
    reauth_at: Mutex<Option<(Instant, Instant)>>,
    /// KIP-219: nothing is written before this instant (the broker asked the
    /// client to back off in a response's `throttle_time_ms`).
    throttled_until: Mutex<Option<Instant>>,
    /// Requests held back while throttled, in the order they were sent.
    /// Their in-flight entries are queued only when they are written, so
    /// that `in_flight` stays in the order of the byte stream.
    held: Mutex<VecDeque<Held>>,
    throttle_stats: ThrottleCounters,
}

impl Shared {
    /// Marks the connection dead, shuts the socket and fails every in-flight
    /// request with `err`. Idempotent.
    fn fail(&self, err: Error) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        log::debug!("connection to {} closed: {err}", self.label);
        *self.close_reason.lock().unwrap() = Some(err.clone());
        let _ = self.shutdown_handle.shutdown(Shutdown::Both);
        let pending: Vec<InFlight> = self.in_flight.lock().unwrap().drain(..).collect();
        for p in pending {
            (p.callback)(Err(err.clone()));
        }
        self.fail_held(&err);
    }

    /// Fails every held-back request with `err` (the connection is closed).
    fn fail_held(&self, err: &Error) {
        let held: Vec<Held> = self.held.lock().unwrap().drain(..).collect();
        for h in held {
            h.fail(err.clone());
        }
    }

    /// How long the broker still wants this connection to stay silent.
    fn throttle_remaining(&self, now: Instant) -> Duration {
        self.throttled_until
            .lock()
            .unwrap()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or_default()
    }

    /// Honours a response's throttle time (KIP-219): nothing more is written
    /// on this connection for `ms` milliseconds from now.
    fn throttle(&self, ms: i32, api: &str, version: i16) {
        if ms <= 0 {
            return;
        }
        let d = Duration::from_millis(ms as u64);
        let until = Instant::now() + d;
        {
            let mut t = self.throttled_until.lock().unwrap();
            if t.is_none_or(|t| t < until) {
                *t = Some(until);
            }
        }
        self.throttle_stats.throttled(d);
        TOTALS.throttled(d);
        log::debug!(
            "broker {} throttled this client for {ms} ms (quota exceeded; {api} v{version} response): requests to it are held back until then",
            self.label
        );
    }

    /// Fails the held-back requests whose own timeout has passed (they were
    /// never written, so the connection stays usable).
    fn expire_held(&self, now: Instant) {
        let expired: VecDeque<Held> = {
            let mut held = self.held.lock().unwrap();
            if held.iter().all(|h| h.deadline > now) {
                return;
            }
            let (expired, kept) = held.drain(..).partition(|h| h.deadline <= now);
            *held = kept;
            expired
        };
        for h in expired {
            let err = Error::Timeout {
                what: format!(
                    "{} request to broker {} was not sent: the broker throttled the client (quota exceeded) for longer than the request's timeout",
                    h.name, self.label
                ),
                after: h.timeout,
            };
            h.fail(err);
        }
    }

    /// Writes the held-back requests, in order, under the write lock.
    fn write_held(&self, w: &mut WriteSide) {
        let now = Instant::now();
        self.expire_held(now);
        let held: Vec<Held> = self.held.lock().unwrap().drain(..).collect();
        if held.is_empty() {
            return;
        }
        log::debug!(
            "broker {}: throttle over; sending {} held-back request(s)",
            self.label,
            held.len()
        );
        for mut h in held {
            if self.closed.load(Ordering::SeqCst) {
                h.fail(self.closed_error());
                continue;
            }
            let waited = now.saturating_duration_since(h.held_at);
            self.throttle_stats.held(waited);
            TOTALS.held(waited);
            if let Some(e) = h.entry.take() {
                self.in_flight.lock().unwrap().push_back(e);
            }
            if let Err(source) = w.out.write_all(&h.frame) {
                // Fails the entry just queued, and the rest of the loop
                // fails the requests after it.
                self.write_failed(source);
            }
        }
        *self.last_activity.lock().unwrap() = Instant::now();
    }

    /// Fails the connection after a failed socket write (the stream is cut
    /// at an unknown point) and returns the error.
    fn write_failed(&self, source: io::Error) -> Error {
        let err = Error::Io {
            broker: self.label.clone(),
            source,
        };
        self.fail(err.clone());
        err
    }

    fn closed_error(&self) -> Error {
        self.close_reason
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| Error::Closed(format!("connection to {}", self.label)))
    }
}

/// The flusher of a throttled connection: waits out the throttle (and any
/// throttle that arrives meanwhile), then writes the held-back requests.
/// Runs only while requests are held back.
fn flush_held(shared: Arc<Shared>) {
    loop {
        loop {
            let now = Instant::now();
            if shared.closed.load(Ordering::SeqCst) {
                break;
            }
            shared.expire_held(now);
            let left = shared.throttle_remaining(now);
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(reader::TICK));
        }
        let mut w = shared.write.lock().unwrap();
        if shared.closed.load(Ordering::SeqCst) {
            w.flusher = false;
            drop(w);
            shared.fail_held(&shared.closed_error());
            return;
        }
        if !shared.throttle_remaining(Instant::now()).is_zero() {
            continue; // throttled again meanwhile
        }
        shared.write_held(&mut w);
        w.flusher = false;
        return;
    }
}

/// A connection to one broker, with its reader thread.
///
/// Cheap to share (`Arc<Connection>`); requests from several threads are
/// pipelined on the one socket.
pub struct Connection {
    address: BrokerAddress,
    shared: Arc<Shared>,
    versions: ApiVersionRanges,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("broker", &self.shared.label)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Connection {
    /// Connects to `address` (every DNS address of the host is tried in turn)
    /// and negotiates API versions.
    pub fn connect(address: &BrokerAddress, settings: &ConnectionSettings) -> Result<Connection> {
        let label = address.to_string();
        #[allow(unused_mut)] // mutated by the TLS handshake
        let mut stream = open_socket(address, settings).map_err(|source| Error::Io {
            broker: label.clone(),
            source,
        })?;
        let io_err = |source| Error::Io {
            broker: label.clone(),
            source,
        };
        let shutdown_handle = stream.try_clone().map_err(io_err)?;
        #[cfg(feature = "tls")]
        let (reader_side, writer_side) = match &settings.security.tls {
            Some(tls) => {
                let session = TlsSession::new(tls.handshake(
                    &mut stream,
                    &address.host,
                    &label,
                    settings.connect_timeout,
                )?);
                let reader_stream = stream.try_clone().map_err(io_err)?;
                (
                    ReadTransport::Tls(TlsReader::new(reader_stream, session.clone())),
                    WriteTransport::Tls(TlsWriter::new(stream, session)),
                )
            }
            None => (
                ReadTransport::Plain(stream.try_clone().map_err(io_err)?),
                WriteTransport::Plain(stream),
            ),
        };
        #[cfg(not(feature = "tls"))]
        let (reader_side, writer_side) = (
            ReadTransport::Plain(stream.try_clone().map_err(io_err)?),
            WriteTransport::Plain(stream),
        );
        let shared = Arc::new(Shared {
            label: label.clone(),
            settings: settings.clone(),
            write: Mutex::new(WriteSide {
                out: writer_side,
                next_correlation_id: 1,
                buf: Vec::with_capacity(1024),
                flusher: false,
            }),
            in_flight: Mutex::new(VecDeque::new()),
            closed: AtomicBool::new(false),
            close_reason: Mutex::new(None),
            last_activity: Mutex::new(Instant::now()),
            shutdown_handle,
            reauth_at: Mutex::new(None),
            answered: std::sync::atomic::AtomicUsize::new(0),
            throttled_until: Mutex::new(None),
            held: Mutex::new(VecDeque::new()),
            throttle_stats: ThrottleCounters::default(),
        });
        let thread_shared = shared.clone();
        let reader = std::thread::Builder::new()
            .name(format!("kafka-conn-{}:{}", address.host, address.port))
            .spawn(move || reader::read_loop(reader_side, thread_shared))
            .map_err(io_err)?;
        let mut conn = Connection {
            address: address.clone(),
            shared,
            versions: ApiVersionRanges::default(),
            reader: Mutex::new(Some(reader)),
        };
        match conn.negotiate_versions() {
            Ok(v) => conn.versions = v,
            Err(e) => {
                conn.close();
                return Err(e);
            }
        }
        // SASL before any other request (ApiVersions is allowed first: it
        // tells which SaslHandshake/SaslAuthenticate versions to use).
        if let Some(sasl) = &settings.security.sasl {
            let mut w = conn.shared.write.lock().unwrap();
            let authenticated = conn.authenticate(&mut w, sasl);
            drop(w);
            if let Err(e) = authenticated {
                conn.close();
                return Err(e);
            }
        }
        Ok(conn)
    }

    /// ApiVersions first: v3 (client software name and version); when the
    /// broker answers UNSUPPORTED_VERSION, again at the highest version it
    /// listed for ApiVersions, or v0.
    fn negotiate_versions(&self) -> Result<ApiVersionRanges> {
        let mut version = ApiVersionsRequest::MAX_VERSION.min(3);
        for _ in 0..3 {
            let req = ApiVersionsRequest {
                client_software_name: self.shared.settings.software_name.clone(),
                client_software_version: self.shared.settings.software_version.clone(),
                ..Default::default()
            };
            let body = match self.request_raw(&req, version, self.shared.settings.request_timeout) {
                Ok(b) => b,
                Err(Error::Io { .. }) | Err(Error::Closed(_)) if self.is_closed() => {
                    // Retriable like any disconnect, but say what it usually means.
                    return Err(Error::Io {
                        broker: self.shared.label.clone(),
                        source: io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "the broker closed the connection in reply to ApiVersions: it is either not a Kafka \
                             broker (or expects TLS/SASL), or older than Kafka 0.10, which this client does not support",
                        ),
                    });
                }
                Err(e) => return Err(e),
            };
            // The first field of every version is the error code; a broker
            // that does not know our version answers in the v0 layout.
            let code = Reader::new(body.clone())
                .read_i16()
                .map_err(|e| Error::decode(&self.shared.label, e))?;
            if code == KafkaCode::UnsupportedVersion.code() && version > 0 {
                let fallback = ApiVersionsResponse::decode(&mut Reader::new(body), 0)
                    .ok()
                    .and_then(|r| {
                        r.api_keys
                            .iter()
                            .find(|k| k.api_key == ApiVersionsRequest::API_KEY)
                            .map(|k| k.max_version)
                    })
                    .map(|max| max.min(version - 1))
                    .unwrap_or(0);
                log::debug!(
                    "{} does not support ApiVersions v{version}; retrying with v{fallback}",
                    self.shared.label
                );
                version = fallback.max(0);
                continue;
            }
            let resp = ApiVersionsResponse::decode(&mut Reader::new(body), version)
                .map_err(|e| Error::decode(&self.shared.label, e))?;
            self.shared.throttle(
                resp.client_throttle_time_ms(version),
                ApiVersionsRequest::NAME,
                version,
            );
            if let Some(code) = KafkaCode::from_code(resp.error_code) {
                return Err(Error::kafka(
                    code,
                    format!("ApiVersions from broker {}", self.shared.label),
                ));
            }
            return Ok(ApiVersionRanges::from_ranges(
                resp.api_keys
                    .iter()
                    .map(|k| (k.api_key, k.min_version, k.max_version)),
            ));
        }
        Err(Error::protocol(
            &self.shared.label,
            "ApiVersions negotiation did not converge",
        ))
    }

    /// The broker this connection talks to.
    pub fn address(&self) -> &BrokerAddress {
        &self.address
    }

    /// `host:port (id N)`, for messages.
    pub fn label(&self) -> &str {
        &self.shared.label
    }

    /// The broker's advertised API versions.
    pub fn api_versions(&self) -> &ApiVersionRanges {
        &self.versions
    }

    /// The version of `R` this connection uses: min(ours, the broker's).
    pub fn version<R: Request>(&self) -> Result<i16> {
        self.versions.pick::<R>(&self.shared.label)
    }

    /// True once the connection has failed or been closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Number of requests waiting for their response (including those held
    /// back while the broker throttles the connection).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.lock().unwrap().len() + self.shared.held.lock().unwrap().len()
    }

    /// Until when the broker asked this client to send nothing more on this
    /// connection (KIP-219: a response's `throttle_time_ms`), or `None` when
    /// it is not throttled now. Requests sent before then are held back in the
    /// connection and written when it ends; callers with other work (other
    /// brokers) may rather keep them until then, as Java's `NetworkClient`
    /// does by reporting a throttled node as not ready.
    pub fn throttled_until(&self) -> Option<Instant> {
        let now = Instant::now();
        self.shared
            .throttled_until
            .lock()
            .unwrap()
            .filter(|&t| t > now)
    }

    /// What broker throttling did to this connection's requests so far.
    pub fn throttle_stats(&self) -> ThrottleStats {
        self.shared.throttle_stats.snapshot()
    }

    /// Sends `req` at the negotiated version and waits for its response (up to
    /// request.timeout.ms; a timeout closes the connection).
    pub fn request<R: Request>(&self, req: &R) -> Result<R::Response> {
        let version = self.version::<R>()?;
        self.request_at(req, version)
    }

    /// Like [`Connection::request`] at an explicit version.
    pub fn request_at<R: Request>(&self, req: &R, version: i16) -> Result<R::Response> {
        self.request_with_timeout(req, version, self.shared.settings.request_timeout)
    }

    /// Like [`Connection::request_at`] with its own timeout instead of
    /// request.timeout.ms: for requests the broker may hold on purpose, such
    /// as JoinGroup (up to the rebalance timeout).
    pub fn request_with_timeout<R: Request>(
        &self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        let body = self.request_raw(req, version, timeout)?;
        decode_body::<R>(&self.shared, body, version)
    }

    /// [`Connection::request_with_timeout`] without decoding the response.
    fn request_raw<R: Request>(&self, req: &R, version: i16, timeout: Duration) -> Result<Bytes> {
        self.round_trip(R::NAME, timeout, |callback| {
            self.send_raw(req, version, true, timeout, callback)
        })
    }

    /// Sends `req` at `version` and calls `callback` with the decoded response
    /// (on this connection's reader thread, so keep it short: typically a
    /// channel send). Returns once the request is written.
    pub fn send<R: Request>(
        &self,
        req: &R,
        version: i16,
        callback: impl FnOnce(Result<R::Response>) + Send + 'static,
    ) -> Result<()> {
        self.send_with_timeout(req, version, self.shared.settings.request_timeout, callback)
    }

    /// Like [`Connection::send`] with its own timeout instead of
    /// request.timeout.ms: for requests the broker holds on purpose (JoinGroup
    /// and SyncGroup, up to the rebalance timeout).
    pub fn send_with_timeout<R: Request>(
        &self,
        req: &R,
        version: i16,
        timeout: Duration,
        callback: impl FnOnce(Result<R::Response>) + Send + 'static,
    ) -> Result<()> {
        let shared = self.shared.clone();
        self.send_raw(
            req,
            version,
            true,
            timeout,
            Box::new(move |res: Result<Bytes>| {
                callback(res.and_then(|b| decode_body::<R>(&shared, b, version)))
            }),
        )
    }

    /// Sends a request that the broker will not answer (Produce with acks=0):
    /// no in-flight entry is queued.
    pub fn send_without_response<R: Request>(&self, req: &R, version: i16) -> Result<()> {
        self.send_raw(
            req,
            version,
            false,
            self.shared.settings.request_timeout,
            Box::new(|_| {}),
        )
    }

    /// The one blocking request path: `send` queues a request whose
    /// in-flight entry calls the callback it is given, and this waits up to
    /// `timeout` for the raw response (a timeout closes the connection).
    /// Used by [`Connection::request_with_timeout`] (taking the write lock)
    /// and by the SASL exchanges (which already hold it).
    fn round_trip(
        &self,
        what: &str,
        timeout: Duration,
        send: impl FnOnce(Callback) -> Result<()>,
    ) -> Result<Bytes> {
        let (tx, rx) = mpsc::sync_channel(1);
        send(Box::new(move |res| {
            let _ = tx.send(res);
        }))?;
        match rx.recv_timeout(timeout) {
            Ok(res) => res,
            Err(_) => {
                // Still held back by a throttle (never written): it fails
                // alone, the connection is fine.
                self.shared.expire_held(Instant::now());
                if let Ok(res) = rx.try_recv() {
                    return res;
                }
                let err = Error::Timeout {
                    what: format!(
                        "{what} request to broker {} got no response (request.timeout.ms); the connection was closed",
                        self.shared.label
                    ),
                    after: timeout,
                };
                self.shared.fail(err.clone());
                Err(err)
            }
        }
    }

    fn send_raw<R: Request>(
        &self,
        req: &R,
        version: i16,
        expect_response: bool,
        timeout: Duration,
        callback: Callback,
    ) -> Result<()> {
        if !(R::MIN_VERSION..=R::MAX_VERSION).contains(&version) {
            return Err(Error::InvalidArgument(format!(
                "{} version {version} is outside the supported range {}-{}",
                R::NAME,
                R::MIN_VERSION,
                R::MAX_VERSION
            )));
        }
        let mut w = self.shared.write.lock().unwrap();
        self.maybe_reauthenticate(&mut w)?;
        self.send_locked(
            &mut w,
            req,
            version,
            expect_response,
            timeout,
            callback,
            true,
        )
    }

    /// Writes one request; the caller holds the write lock, so requests
    /// reach the socket in the order their in-flight entries are queued.
    /// With `may_hold`, a request sent while the broker throttles the
    /// connection (or while others are held back) is held back until the
    /// throttle ends; the SASL exchanges, which wait for their answer under
    /// the write lock, are written at once.
    #[allow(clippy::too_many_arguments)]
    fn send_locked<R: Request>(
        &self,
        w: &mut WriteSide,
        req: &R,
        version: i16,
        expect_response: bool,
        timeout: Duration,
        callback: Callback,
        may_hold: bool,
    ) -> Result<()> {
        if self.is_closed() {
            return Err(self.shared.closed_error());
        }
        let correlation_id = w.next_correlation_id;
        w.next_correlation_id = w.next_correlation_id.wrapping_add(1).max(1);
        // Encode into the connection's reusable buffer; the size prefix is
        // patched in at the end.
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        buf.extend_from_slice(&[0; 4]);
        let header = RequestHeader {
            api_key: R::API_KEY,
            api_version: version,
            correlation_id,
            client_id: self.shared.settings.client_id.clone(),
        };
        let encoded = header
            .encode(&mut buf, R::header_version(version))
            .and_then(|_| req.encode(&mut buf, version));
        if let Err(e) = encoded {
            w.buf = buf;
            return Err(e.into());
        }
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        let now = Instant::now();
        if may_hold
            && (!self.shared.throttle_remaining(now).is_zero()
                || !self.shared.held.lock().unwrap().is_empty())
        {
            let entry = expect_response.then(|| InFlight {
                correlation_id,
                api_key: R::API_KEY,
                response_header_version: R::Response::header_version(version),
                deadline: now + timeout,
                callback,
            });
            w.buf = Vec::with_capacity(1024);
            self.hold(
                w,
                Held {
                    frame: buf,
                    entry,
                    name: R::NAME,
                    held_at: now,
                    deadline: now + timeout,
                    timeout,
                },
            );
            return Ok(());
        }
        if expect_response {
            self.shared.in_flight.lock().unwrap().push_back(InFlight {
                correlation_id,
                api_key: R::API_KEY,
                response_header_version: R::Response::header_version(version),
                deadline: Instant::now() + timeout,
                callback,
            });
        }
        let written = w.out.write_all(&buf);
        w.buf = buf;
        if w.buf.capacity() > 1 << 20 {
            // Do not keep a huge produce buffer alive per connection.
            w.buf = Vec::with_capacity(1024);
        }
        *self.shared.last_activity.lock().unwrap() = Instant::now();
        written.map_err(|source| self.shared.write_failed(source))
    }

    /// Holds `h` back until the broker's throttle ends, making sure a flusher
    /// thread will write it (the caller holds the write lock).
    fn hold(&self, w: &mut WriteSide, h: Held) {
        log::trace!(
            "{} request to broker {} held back: the broker throttles this client",
            h.name,
            self.shared.label
        );
        self.shared.held.lock().unwrap().push_back(h);
        *self.shared.last_activity.lock().unwrap() = Instant::now();
        if self.is_closed() {
            // Closed meanwhile: `fail` may have drained the queue already.
            self.shared.fail_held(&self.shared.closed_error());
            return;
        }
        if w.flusher {
            return;
        }
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!(
                "kafka-throttle-{}:{}",
                self.address.host, self.address.port
            ))
            .spawn(move || flush_held(shared));
        match spawned {
            Ok(_) => w.flusher = true,
            Err(e) => {
                // No thread to wait with: send now; the broker, which mutes
                // the connection on its side too, delays them instead.
                log::debug!(
                    "cannot start a thread to wait out the throttle of broker {} ({e}); sending at once",
                    self.shared.label
                );
                self.shared.write_held(w);
            }
        }
    }

    /// Authenticates with SASL (on connect, and again for KIP-368
    /// re-authentication) while the caller holds the write lock, so no other
    /// request is written between SaslHandshake and the last
    /// SaslAuthenticate. Responses to requests already in flight still
    /// arrive in order before ours (the broker answers in order).
    ///
    /// SaslHandshake v1+ is followed by SaslAuthenticate requests; against
    /// a broker with only SaslHandshake v0 (before Kafka 1.0) the tokens go
    /// unframed: a size-prefixed token each way, no request header.
    fn authenticate(&self, w: &mut WriteSide, sasl: &SaslSettings) -> Result<()> {
        let label = &self.shared.label;
        let mech = sasl.mechanism().name();
        // Evaluated when needed: an OAUTHBEARER principal is known only once
        // the token provider has been asked.
        let who = || match sasl.user() {
            Some(user) => {
                format!("SASL/{mech} authentication of user \"{user}\" with broker {label}")
            }
            None => format!("SASL/{mech} authentication with broker {label}"),
        };
        let Ok(hs_version) = self.versions.pick::<SaslHandshakeRequest>(label) else {
            return Err(Error::Kafka {
                code: KafkaCode::IllegalSaslState,
                context: who(),
                message: Some(
                    "the broker does not offer SaslHandshake: check security.protocol".into(),
                ),
            });
        };
        let hs = self.exchange_locked(
            w,
            &SaslHandshakeRequest {
                mechanism: mech.to_string(),
            },
            hs_version,
        )?;
        if let Some(code) = KafkaCode::from_code(hs.error_code) {
            let message = match code {
                KafkaCode::UnsupportedSaslMechanism => format!(
                    "{mech} is not enabled on this listener; the broker offers: {} (set sasl.mechanism to one of them)",
                    if hs.mechanisms.is_empty() {
                        "none".to_string()
                    } else {
                        hs.mechanisms.join(", ")
                    }
                ),
                KafkaCode::IllegalSaslState => "the broker did not expect a SASL handshake: this listener is probably not a SASL listener (use security.protocol PLAINTEXT or SSL for it)".to_string(),
                _ => String::new(),
            };
            return Err(Error::Kafka {
                code,
                context: who(),
                message: (!message.is_empty()).then_some(message),
            });
        }
        let with_broker = |e: Error| match e {
            Error::Kafka {
                code,
                context,
                message,
            } if !context.contains(label.as_str()) => Error::Kafka {
                code,
                context: format!("{context} with broker {label}"),
                message,
            },
            e => e,
        };
        let auth_version = if hs_version >= 1 {
            self.versions.pick::<SaslAuthenticateRequest>(label).ok()
        } else {
            None
        };
        let mut session = sasl.start().map_err(with_broker)?;
        let mut token = Some(session.initial_response().map_err(with_broker)?);
        let mut lifetime_ms = 0;
        let mut step = 0;
        while let Some(t) = token.take() {
            let sent = t.len();
            let challenge = match auth_version {
                Some(v) => {
                    let resp = self.exchange_locked(
                        w,
                        &SaslAuthenticateRequest {
                            auth_bytes: Bytes::from(t),
                            ..Default::default()
                        },
                        v,
                    )?;
                    if let Some(code) = KafkaCode::from_code(resp.error_code) {
                        return Err(Error::Kafka {
                            code,
                            context: who(),
                            message: resp.error_message.clone(),
                        });
                    }
                    lifetime_ms = resp.session_lifetime_ms;
                    resp.auth_bytes
                }
                None => self.token_locked(w, &t).map_err(|e| match e {
                    Error::Io { .. } | Error::Closed(_) => Error::Kafka {
                        code: KafkaCode::SaslAuthenticationFailed,
                        context: who(),
                        message: Some(
                            "the broker closed the connection during authentication (legacy SASL flow): check the credentials".into(),
                        ),
                    },
                    e => e,
                })?,
            };
            step += 1;
            // Sizes only: the tokens carry passwords, proofs and bearer tokens.
            log::trace!(
                "SASL/{mech} with broker {label}: step {step}, sent {sent} bytes, received {} bytes",
                challenge.len()
            );
            token = session.evaluate(&challenge).map_err(with_broker)?;
        }
        let reauth = (lifetime_ms > 0).then(|| {
            // As the Java client: somewhere in 85-95% of the session lifetime,
            // so that many connections do not all re-authenticate at once. A
            // connection no writer touches by half-way to the end is closed
            // by its reader instead (the next request reconnects).
            let fraction = 0.85 + 0.10 * crate::net::pool::random_unit();
            let lifetime = Duration::from_millis(lifetime_ms as u64);
            let now = Instant::now();
            // Brokers refuse a re-authentication within 1 s of the last one.
            let due = now + lifetime.mul_f64(fraction).max(Duration::from_millis(1100));
            let end = (now + lifetime).max(due);
            (due, due + (end - due) / 2)
        });
        *self.shared.reauth_at.lock().unwrap() = reauth;
        log::debug!(
            "authenticated with broker {label} using SASL/{mech}{}{}",
            sasl.user()
                .map(|u| format!(" as \"{u}\""))
                .unwrap_or_default(),
            if lifetime_ms > 0 {
                format!(" (session lifetime {lifetime_ms} ms)")
            } else {
                String::new()
            }
        );
        Ok(())
    }

    /// Re-authenticates (KIP-368) when the broker-given session lifetime is
    /// nearly over; called by writers under the write lock before their
    /// request, so the new session is in place before the old one ends.
    fn maybe_reauthenticate(&self, w: &mut WriteSide) -> Result<()> {
        let Some((due, must)) = *self.shared.reauth_at.lock().unwrap() else {
            return Ok(());
        };
        let now = Instant::now();
        // Preferably between requests: with nothing in flight the exchange
        // is not queued behind a slow answer (a held Fetch, a JoinGroup).
        // Past half-way to the session's end it cannot wait any longer.
        if now < due || (now < must && self.in_flight() > 0) {
            return Ok(());
        }
        let Some(sasl) = &self.shared.settings.security.sasl else {
            return Ok(());
        };
        *self.shared.reauth_at.lock().unwrap() = None;
        log::debug!(
            "re-authenticating with broker {} (session lifetime nearly over)",
            self.shared.label
        );
        if let Err(e) = self.authenticate(w, sasl) {
            self.shared.fail(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// Sends `req` and waits for its response while holding the write lock:
    /// up to request.timeout.ms after the answers to the requests already in
    /// flight are due, since ours comes after theirs.
    fn exchange_locked<R: Request>(
        &self,
        w: &mut WriteSide,
        req: &R,
        version: i16,
    ) -> Result<R::Response> {
        let now = Instant::now();
        let ahead = self
            .shared
            .in_flight
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.deadline.saturating_duration_since(now))
            .max()
            .unwrap_or_default();
        let timeout = self.shared.settings.request_timeout + ahead;
        let body = self.round_trip(R::NAME, timeout, |callback| {
            self.send_locked(w, req, version, true, timeout, callback, false)
        })?;
        decode_body::<R>(&self.shared, body, version)
    }

    /// Sends one unframed SASL token (legacy flow) and waits for the broker's.
    fn token_locked(&self, w: &mut WriteSide, token: &[u8]) -> Result<Bytes> {
        let timeout = self.shared.settings.request_timeout;
        self.round_trip("SASL token", timeout, |callback| {
            if self.is_closed() {
                return Err(self.shared.closed_error());
            }
            self.shared.in_flight.lock().unwrap().push_back(InFlight {
                correlation_id: 0,
                api_key: SaslAuthenticateRequest::API_KEY,
                response_header_version: -1,
                deadline: Instant::now() + timeout,
                callback,
            });
            let mut frame = Vec::with_capacity(4 + token.len());
            frame.extend_from_slice(&(token.len() as u32).to_be_bytes());
            frame.extend_from_slice(token);
            w.out
                .write_all(&frame)
                .map_err(|source| self.shared.write_failed(source))
        })
    }

    /// Closes the socket, fails in-flight requests and joins the reader thread.
    pub fn close(&self) {
        self.shared.fail(Error::Closed(format!(
            "connection to {}",
            self.shared.label
        )));
        let handle = self.reader.lock().unwrap().take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

fn decode_body<R: Request>(shared: &Shared, body: Bytes, version: i16) -> Result<R::Response> {
    let mut r = Reader::new(body);
    match R::Response::decode(&mut r, version) {
        Ok(resp) => {
            shared.throttle(resp.client_throttle_time_ms(version), R::NAME, version);
            Ok(resp)
        }
        Err(e) => {
            let err = Error::protocol(
                &shared.label,
                format!(
                    "cannot decode {} v{version} response: {}",
                    R::NAME,
                    e.message()
                ),
            );
            shared.fail(err.clone());
            Err(err)
        }
    }
}

fn open_socket(address: &BrokerAddress, settings: &ConnectionSettings) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (address.host.as_str(), address.port)
        .to_socket_addrs()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot resolve host name {}: {e} (check the host name in bootstrap.servers or the broker's advertised.listeners)",
                    address.host
                ),
            )
        })?
        .collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} resolves to no address", address.host),
        ));
    }
    connect_any(&addrs, settings)
}

/// Tries every address in turn (client.dns.lookup=use_all_dns_ips) and
/// returns the first connection made, or the last error.
fn connect_any(addrs: &[SocketAddr], settings: &ConnectionSettings) -> io::Result<TcpStream> {
    let mut last = None;
    for &addr in addrs {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nodelay(true)?;
        if settings.send_buffer_bytes >= 0 {
            socket.set_send_buffer_size(settings.send_buffer_bytes as usize)?;
        }
        if settings.receive_buffer_bytes >= 0 {
            socket.set_recv_buffer_size(settings.receive_buffer_bytes as usize)?;
        }
        match socket.connect_timeout(&SockAddr::from(addr), settings.connect_timeout) {
            Ok(()) => {
                socket.set_keepalive(true)?;
                return Ok(socket.into());
            }
            Err(e) => {
                log::debug!("connect to {addr} failed: {e}");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no address tried")))
}

#[cfg(test)]
mod tests;
