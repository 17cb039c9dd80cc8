//! Issue 6, resource invariants, measured on this process:
//!
//! - 3: a hostile broker (garbage, lying lengths, split or missing answers,
//!   wrong correlation ids, unsolicited frames, lies inside the body) always
//!   ends in a clear error within request.timeout.ms, without a panic or an
//!   allocation larger than receive.message.max.bytes, and the next request
//!   succeeds on a new connection once the broker behaves;
//! - 4: with every broker down, producer and consumers back off (the process
//!   is nearly idle for 10 s) and recover on their own when the broker comes
//!   back (empty: tansu keeps its data in memory);
//! - 5: after `close()`, and after a drop without close, no `kafka-` thread
//!   and no socket of the client remains (producer, consumer with assign
//!   and with a group, admin);
//! - 6: memory stays within buffer.memory (producer, broker stopped) and
//!   within fetch.max.bytes (consumer, application not polling while data
//!   piles up) plus a constant.
//!
//! Threads, sockets, CPU time and memory are process-wide, so every test here
//! holds [`SERIAL`]: nothing else in this binary creates clients meanwhile.
//! Allocations are counted by a wrapper around the system allocator
//! ([`Counting`]): live bytes, their peak, and the largest single allocation.

#[path = "support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{Consumer, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, ConsumerConfig, Error, ProducerConfig};

// ---------------------------------------------------------------------------
// Measuring the process.

/// The system allocator, counting live bytes, their peak and the largest
/// single request.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

fn note_alloc(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
    LARGEST.fetch_max(size, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            note_alloc(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Restarts the peak and largest-allocation counters; returns live bytes.
fn reset_alloc_counters() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
    live
}

/// Tests in this binary run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Panics in any thread of this process (a panicking connection reader
/// would otherwise go unnoticed: its callers just see a timeout).
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn serial() -> MutexGuard<'static, ()> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Threads of this process whose name starts with `kafka-` (the producer's
/// sender, the connections' readers).
fn kafka_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim_end().to_string())
        .filter(|n| n.starts_with("kafka-"))
        .collect()
}

/// Open sockets of this process (file descriptors linking to `socket:[..]`).
fn sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy().starts_with("socket:"))
        .count()
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may contain spaces): utime and
    // stime are fields 14 and 15 of the line, 12 and 13 after ") ".
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Resident set size of this process, in bytes (VmRSS).
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Waits up to 3 s for `kafka-` threads and sockets to drop to `sockets0`
/// and no thread; fails naming what remains.
fn assert_released(case: &str, sockets0: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let threads = kafka_threads();
        let socks = sockets();
        if threads.is_empty() && socks <= sockets0 {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{case}: {} thread(s) {threads:?} and {} socket(s) remain",
                threads.len(),
                socks.saturating_sub(sockets0)
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(bootstrap)).unwrap();
    admin
        .create_topic(NewTopic::new(topic, partitions, 1))
        .unwrap();
    admin
        .cluster()
        .wait_for_topic(topic, Instant::now() + Duration::from_secs(15))
        .unwrap();
    admin.close();
}

// ---------------------------------------------------------------------------
// Invariant 5: nothing outlives a client.

fn producer_config(bootstrap: &str) -> ProducerConfig {
    ProducerConfig::new()
        .bootstrap_servers(bootstrap)
        .set("linger.ms", 5)
}

fn consumer_config(bootstrap: &str) -> ConsumerConfig {
    ConsumerConfig::new()
        .bootstrap_servers(bootstrap)
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.wait.ms", 100)
}

fn group_config(bootstrap: &str, group: &str) -> ConsumerConfig {
    consumer_config(bootstrap)
        .set("group.id", group)
        .set("session.timeout.ms", 6000)
        .set("heartbeat.interval.ms", 300)
}

/// Polls until `n` records arrived (or 30 s passed).
fn read_n(c: &mut Consumer, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = 0;
    while got < n && Instant::now() < deadline {
        got += c.poll(Duration::from_millis(200)).unwrap().len();
    }
    got
}

#[test]
fn close_and_drop_release_every_thread_and_socket() {
    let _serial = serial();
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("resources");
    create_topic(&bootstrap, &topic, 2);
    {
        let p = Producer::new(producer_config(&bootstrap)).unwrap();
        for i in 0..20 {
            let _ = p
                .send(ProducerRecord::new(&topic, format!("{i}").as_bytes()).partition(i % 2))
                .unwrap();
        }
        p.close(None).unwrap();
    }
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new(&topic, p)).collect();
    let base = sockets();
    assert_released("before any client", base);

    // Producer: close, then drop without close (with records in flight).
    let p = Producer::new(producer_config(&bootstrap)).unwrap();
    let h = p.send(ProducerRecord::new(&topic, b"closed")).unwrap();
    h.wait().unwrap();
    assert!(!kafka_threads().is_empty() && sockets() > base);
    p.close(None).unwrap();
    assert_released("producer after close()", base);
    drop(p);
    let p = Producer::new(producer_config(&bootstrap)).unwrap();
    let h = p.send(ProducerRecord::new(&topic, b"dropped")).unwrap();
    drop(p);
    assert!(h.try_get().expect("drop flushes").is_ok());
    assert_released("producer after drop", base);

    // Consumer with assign: close, then drop.
    let mut c = Consumer::new(consumer_config(&bootstrap)).unwrap();
    c.assign(tps.clone()).unwrap();
    assert_eq!(read_n(&mut c, 22), 22);
    assert!(c.fetches_in_flight() > 0 && sockets() > base);
    c.close();
    assert_released("assigned consumer after close()", base);
    drop(c);
    let mut c = Consumer::new(consumer_config(&bootstrap)).unwrap();
    c.assign(tps.clone()).unwrap();
    assert_eq!(read_n(&mut c, 22), 22);
    drop(c);
    assert_released("assigned consumer after drop", base);

    // Consumer in a group (coordinator connection too): close, then drop.
    let group = support::unique_topic("resources-group");
    let mut c = Consumer::new(group_config(&bootstrap, &group)).unwrap();
    c.subscribe(&[&topic]).unwrap();
    assert_eq!(read_n(&mut c, 22), 22);
    assert_eq!(c.assignment().len(), 2);
    c.close();
    assert_released("group consumer after close()", base);
    drop(c);
    let mut c = Consumer::new(group_config(&bootstrap, &group)).unwrap();
    c.subscribe(&[&topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.assignment().len() < 2 && Instant::now() < deadline {
        c.poll(Duration::from_millis(200)).unwrap();
    }
    assert_eq!(c.assignment().len(), 2);
    drop(c);
    assert_released("group consumer after drop", base);

    // Admin: close, then drop.
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(&bootstrap)).unwrap();
    assert!(admin.list_topics().unwrap().iter().any(|t| t.name == topic));
    admin.close();
    assert_released("admin after close()", base);
    drop(admin);
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(&bootstrap)).unwrap();
    admin.describe_cluster().unwrap();
    drop(admin);
    assert_released("admin after drop", base);

    // Clients that never reached a broker (nothing listens on the port).
    let dead = format!("127.0.0.1:{}", free_port());
    // An idempotent producer looks for a producer id at once; with no broker
    // reachable, close() must still return within its timeout (it used to
    // wait request.timeout.ms: the sender thread was stuck retrying
    // InitProducerId) and drop must not hang either.
    let p = Producer::new(producer_config(&dead).set("max.block.ms", 300)).unwrap();
    let e = p.send(ProducerRecord::new(&topic, b"x")).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    let t = Instant::now();
    p.close(Some(Duration::from_millis(500))).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "close took {:?}",
        t.elapsed()
    );
    assert_released("producer that never connected, closed", base);
    let p = Producer::new(producer_config(&dead)).unwrap();
    thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    drop(p);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        t.elapsed()
    );
    assert_released("producer that never connected, dropped", base);
    let mut c = Consumer::new(consumer_config(&dead)).unwrap();
    c.assign(tps.clone()).unwrap();
    assert!(c.poll(Duration::from_millis(300)).unwrap().is_empty());
    drop(c);
    let mut c = Consumer::new(group_config(&dead, "nobody")).unwrap();
    c.subscribe(&[&topic]).unwrap();
    let _ = c.poll(Duration::from_millis(300));
    c.close();
    assert_released("consumers that never connected", base);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------
// Invariant 3: a hostile broker.

/// One request as a fake broker saw it.
struct Req {
    /// The fake broker's port.
    port: u16,
    api_key: i16,
    version: i16,
    correlation_id: i32,
    /// The request after its header.
    body: Vec<u8>,
}

/// What a fake broker does with a request.
enum Reply {
    /// The correct response.
    Good,
    /// The correct response, one byte at a time.
    Split,
    /// The correct response, then these bytes (an unsolicited frame).
    GoodThen(Vec<u8>),
    /// These bytes, then keep serving the connection.
    Raw(Vec<u8>),
    /// These bytes, then hang up.
    RawThenClose(Vec<u8>),
    /// No answer; the connection stays open.
    Silent,
}

type Policy = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

/// The topic a fake broker hosts: one partition, three records.
const FAKE_TOPIC: &str = "hostile";
const FAKE_RECORDS: i64 = 3;

/// A loopback Kafka broker (node 1) that speaks just enough of the protocol
/// (ApiVersions, Metadata v0-8, ListOffsets v1-5, Fetch v4-11) and answers
/// each request as `policy` says. Dropping it closes every socket and joins
/// every thread.
struct FakeBroker {
    port: u16,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    handlers: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeBroker {
    fn start(policy: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let policy: Policy = Arc::new(policy);
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let handlers = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, accepted, streams, handlers) = (
                stop.clone(),
                accepted.clone(),
                streams.clone(),
                handlers.clone(),
            );
            thread::spawn(move || {
                for s in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(s) = s else { continue };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    streams.lock().unwrap().push(s.try_clone().unwrap());
                    let policy = policy.clone();
                    let h = thread::spawn(move || serve(s, port, &*policy));
                    handlers.lock().unwrap().push(h);
                }
            })
        };
        FakeBroker {
            port,
            stop,
            accepted,
            streams,
            handlers,
            acceptor: Some(acceptor),
        }
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        let handlers: Vec<_> = self.handlers.lock().unwrap().drain(..).collect();
        for h in handlers {
            let _ = h.join();
        }
    }
}

fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let size = i32::from_be_bytes(size);
    if !(0..=(1 << 20)).contains(&size) {
        return None;
    }
    let mut body = vec![0u8; size as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// A response frame: size, header (v0, or v1 with an empty tagged-field
/// section for flexible versions), body.
fn response_frame<R: kafka_blocking::unstable::protocol::Response>(
    correlation_id: i32,
    version: i16,
    resp: &R,
) -> Vec<u8> {
    use kafka_blocking::unstable::protocol::header::ResponseHeader;
    let mut body = Vec::new();
    ResponseHeader { correlation_id }.encode(&mut body, R::header_version(version));
    resp.encode(&mut body, version).unwrap();
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// A frame with exactly these bytes after the size.
fn raw_frame(body: &[u8]) -> Vec<u8> {
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    frame
}

/// The three records of [`FAKE_TOPIC`], as one record batch at offset 0.
fn fake_batch() -> Vec<u8> {
    use kafka_blocking::unstable::protocol::compression::Compression;
    use kafka_blocking::unstable::protocol::records::{ProducerState, RecordBatchBuilder};
    let mut b = RecordBatchBuilder::new();
    for i in 0..FAKE_RECORDS {
        b.append(
            1_700_000_000_000,
            None,
            Some(format!("v{i}").as_bytes()),
            &[],
        )
        .unwrap();
    }
    b.finish(ProducerState::NONE, Compression::None).unwrap()
}

/// The correct answer of node 1 (at `port`) to `req`.
fn good_response(req: &Req, port: u16) -> Vec<u8> {
    use kafka_blocking::unstable::protocol::messages::api_versions_response::ApiVersion;
    use kafka_blocking::unstable::protocol::messages::list_offsets_response::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };
    use kafka_blocking::unstable::protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_blocking::unstable::protocol::messages::{
        ApiVersionsResponse, ListOffsetsResponse, MetadataResponse,
    };
    let (corr, v) = (req.correlation_id, req.version);
    match req.api_key {
        18 => {
            let api = |api_key, min_version, max_version| ApiVersion {
                api_key,
                min_version,
                max_version,
                ..Default::default()
            };
            let resp = ApiVersionsResponse {
                api_keys: vec![api(18, 0, 3), api(3, 0, 8), api(2, 1, 5), api(1, 4, 11)],
                ..Default::default()
            };
            response_frame(corr, v.min(3), &resp)
        }
        3 => {
            let resp = MetadataResponse {
                brokers: vec![MetadataResponseBroker {
                    node_id: 1,
                    host: "127.0.0.1".into(),
                    port: port as i32,
                    rack: None,
                    ..Default::default()
                }],
                cluster_id: Some("fake".into()),
                controller_id: 1,
                topics: vec![MetadataResponseTopic {
                    name: Some(FAKE_TOPIC.into()),
                    partitions: vec![MetadataResponsePartition {
                        partition_index: 0,
                        leader_id: 1,
                        replica_nodes: vec![1],
                        isr_nodes: vec![1],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            response_frame(corr, v, &resp)
        }
        2 => {
            let resp = ListOffsetsResponse {
                topics: vec![ListOffsetsTopicResponse {
                    name: FAKE_TOPIC.into(),
                    partitions: vec![ListOffsetsPartitionResponse {
                        partition_index: 0,
                        timestamp: -1,
                        offset: 0,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            response_frame(corr, v, &resp)
        }
        1 => fetch_response(req, fake_batch()),
        other => panic!("the fake broker got api key {other}"),
    }
}

/// The answer to a Fetch: `records` when the fetch offset is below
/// [`FAKE_RECORDS`], else (after a short wait) nothing.
fn fetch_response(req: &Req, records: Vec<u8>) -> Vec<u8> {
    use kafka_blocking::unstable::protocol::messages::fetch_response::{
        FetchableTopicResponse, PartitionData,
    };
    use kafka_blocking::unstable::protocol::messages::{FetchRequest, FetchResponse};
    use kafka_blocking::unstable::protocol::{Bytes, Decodable, Reader};
    let fetch = FetchRequest::decode(&mut Reader::new(req.body.clone()), req.version).unwrap();
    let offset = fetch.topics[0].partitions[0].fetch_offset;
    let records = if offset < FAKE_RECORDS {
        Some(Bytes::from(records))
    } else {
        // Nothing new: hold the fetch a little, as a broker would.
        thread::sleep(Duration::from_millis(fetch.max_wait_ms.clamp(0, 100) as u64));
        None
    };
    let resp = FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: FAKE_TOPIC.into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                high_watermark: FAKE_RECORDS,
                last_stable_offset: FAKE_RECORDS,
                log_start_offset: 0,
                preferred_read_replica: -1,
                records,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    response_frame(req.correlation_id, req.version, &resp)
}

/// Serves one connection until the client hangs up (or the broker stops).
fn serve(mut s: TcpStream, port: u16, policy: &(dyn Fn(&Req) -> Reply + Sync)) {
    use kafka_blocking::unstable::protocol::Reader;
    use kafka_blocking::unstable::protocol::header::RequestHeader;
    while let Some(frame) = read_frame(&mut s) {
        let mut r = Reader::new(frame.clone());
        let api_key = r.read_i16().unwrap();
        let version = r.read_i16().unwrap();
        // Flexible request headers (v2) add a tagged-field section.
        let flexible = match api_key {
            18 => version >= 3,
            3 => version >= 9,
            2 => version >= 6,
            1 => version >= 12,
            _ => false,
        };
        let mut r = Reader::new(frame.clone());
        let header = RequestHeader::decode(&mut r, if flexible { 2 } else { 1 }).unwrap();
        let req = Req {
            port,
            api_key,
            version,
            correlation_id: header.correlation_id,
            body: frame[r.position()..].to_vec(),
        };
        let written = match policy(&req) {
            Reply::Good => s.write_all(&good_response(&req, port)),
            Reply::Split => good_response(&req, port).iter().try_for_each(|b| {
                thread::sleep(Duration::from_micros(200));
                s.write_all(&[*b])
            }),
            Reply::GoodThen(extra) => s
                .write_all(&good_response(&req, port))
                .and_then(|()| s.write_all(&extra)),
            Reply::Raw(bytes) => s.write_all(&bytes),
            Reply::RawThenClose(bytes) => {
                let _ = s.write_all(&bytes);
                // A clone of the stream is kept for Drop: shut it down.
                let _ = s.shutdown(Shutdown::Both);
                return;
            }
            Reply::Silent => {
                // Read (and ignore) until the client gives up.
                let mut sink = [0u8; 4096];
                while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
                return;
            }
        };
        if written.is_err() {
            return;
        }
    }
}

/// receive.message.max.bytes in the hostile cases: no allocation may be larger.
const MAX_RESPONSE: usize = 1 << 20;
/// request.timeout.ms in the hostile cases.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1000);

fn hostile_admin(bootstrap: &str) -> AdminClient {
    AdminClient::new(
        AdminConfig::new()
            .bootstrap_servers(bootstrap)
            .set("request.timeout.ms", REQUEST_TIMEOUT.as_millis())
            .set("receive.message.max.bytes", MAX_RESPONSE)
            .set("socket.connection.setup.timeout.ms", 1000)
            .set("reconnect.backoff.ms", 20)
            .set("reconnect.backoff.max.ms", 100)
            .set("retry.backoff.ms", 20)
            .set("default.api.timeout.ms", 5000),
    )
    .unwrap()
}

/// What a hostile case must end in.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Timeout(&'static str),
    Protocol(&'static str),
    Io(&'static str),
    /// The request succeeds (the misbehaviour is harmless or comes after).
    Ok,
}

impl Expect {
    fn check(self, case: &str, r: &Result<(), Error>) {
        let ok = match (self, r) {
            (Expect::Ok, Ok(())) => true,
            (Expect::Timeout(m), Err(e @ Error::Timeout { .. }))
            | (Expect::Protocol(m), Err(e @ Error::Protocol { .. }))
            | (Expect::Io(m), Err(e @ Error::Io { .. })) => e.to_string().contains(m),
            _ => false,
        };
        assert!(ok, "{case}: expected {self:?}, got {r:?}");
    }
}

/// Byte `at` of `frame` onwards replaced by `with`.
fn patched(mut frame: Vec<u8>, at: usize, with: &[u8]) -> Vec<u8> {
    frame[at..at + with.len()].copy_from_slice(with);
    frame
}

type Misbehave = Box<dyn Fn(&Req) -> Reply + Send + Sync>;

#[test]
fn hostile_broker_errors_are_clear_bounded_and_the_connection_recovers() {
    let _serial = serial();
    let base = sockets();
    let max = MAX_RESPONSE as i32;
    // (name, api key misbehaved on once, what it does, expected outcome)
    let cases: Vec<(&str, i16, Misbehave, Expect)> = vec![
        // During the handshake (ApiVersions, inside connect).
        (
            "handshake: no answer",
            18,
            Box::new(|_| Reply::Silent),
            Expect::Timeout("ApiVersions"),
        ),
        (
            "handshake: 2 GiB length prefix",
            18,
            Box::new(|_| Reply::Raw(0x7fff_fff0i32.to_be_bytes().to_vec())),
            Expect::Protocol("receive.message.max.bytes"),
        ),
        (
            "handshake: garbage body",
            18,
            Box::new(|r| {
                let mut b = r.correlation_id.to_be_bytes().to_vec();
                b.extend_from_slice(&[0x7f, 0xff, 0xde, 0xad]);
                Reply::Raw(raw_frame(&b))
            }),
            Expect::Protocol(""),
        ),
        (
            "handshake: hang up",
            18,
            Box::new(|_| Reply::RawThenClose(Vec::new())),
            Expect::Io("ApiVersions"),
        ),
        // On an established connection (Metadata).
        (
            "no answer",
            3,
            Box::new(|_| Reply::Silent),
            Expect::Timeout("request.timeout.ms"),
        ),
        (
            "garbage body",
            3,
            Box::new(|r| {
                let mut b = r.correlation_id.to_be_bytes().to_vec();
                b.extend_from_slice(&[0xff; 9]);
                Reply::Raw(raw_frame(&b))
            }),
            Expect::Protocol("cannot decode Metadata"),
        ),
        (
            "wrong correlation id",
            3,
            Box::new(|r| {
                let good = good_response(r, r.port);
                Reply::Raw(patched(good, 4, &(r.correlation_id + 7).to_be_bytes()))
            }),
            Expect::Protocol("correlation id"),
        ),
        (
            "frame shorter than a header",
            3,
            Box::new(|_| Reply::Raw(raw_frame(&[1, 2, 3]))),
            Expect::Protocol("receive.message.max.bytes"),
        ),
        (
            "2 GiB length prefix",
            3,
            Box::new(|_| Reply::Raw([&0x7fff_fff0i32.to_be_bytes()[..], &[0; 64]].concat())),
            Expect::Protocol("receive.message.max.bytes"),
        ),
        (
            "negative length prefix",
            3,
            Box::new(|_| Reply::Raw((-5i32).to_be_bytes().to_vec())),
            Expect::Protocol("receive.message.max.bytes"),
        ),
        (
            "length one above receive.message.max.bytes",
            3,
            Box::new(move |_| Reply::Raw((max + 1).to_be_bytes().to_vec())),
            Expect::Protocol("receive.message.max.bytes"),
        ),
        (
            "truncated frame, then nothing",
            3,
            Box::new(|r| Reply::Raw(good_response(r, r.port)[..20].to_vec())),
            Expect::Timeout("request.timeout.ms"),
        ),
        (
            "truncated frame, then hang up",
            3,
            Box::new(|r| Reply::RawThenClose(good_response(r, r.port)[..20].to_vec())),
            Expect::Io("closed the connection"),
        ),
        (
            "hang up instead of answering",
            3,
            Box::new(|_| Reply::RawThenClose(Vec::new())),
            Expect::Io("closed the connection"),
        ),
        (
            // Metadata v8: size, correlation id, throttle time, then the
            // broker array's length: claim 2^31 - 1 brokers.
            "array length 2^31-1 in a small frame",
            3,
            Box::new(|r| {
                assert_eq!(r.version, 8);
                Reply::Raw(patched(
                    good_response(r, r.port),
                    12,
                    &i32::MAX.to_be_bytes(),
                ))
            }),
            Expect::Protocol("cannot decode Metadata"),
        ),
        (
            // ...then node id, then the host's int16 length: claim 32767.
            "string length beyond the frame",
            3,
            Box::new(|r| {
                Reply::Raw(patched(
                    good_response(r, r.port),
                    20,
                    &0x7fffi16.to_be_bytes(),
                ))
            }),
            Expect::Protocol("cannot decode Metadata"),
        ),
        (
            "response split byte by byte",
            3,
            Box::new(|_| Reply::Split),
            Expect::Ok,
        ),
        (
            // The answer, then a second copy nobody asked for: the
            // connection is dropped and the next request uses a new one.
            "unsolicited frame after the answer",
            3,
            Box::new(|r| Reply::GoodThen(good_response(r, r.port))),
            Expect::Ok,
        ),
    ];
    for (name, api_key, misbehave, expect) in cases {
        let once = AtomicBool::new(true);
        let fake = FakeBroker::start(move |r| {
            if r.api_key == api_key && once.swap(false, Ordering::SeqCst) {
                misbehave(r)
            } else {
                Reply::Good
            }
        });
        let admin = hostile_admin(&fake.bootstrap());
        reset_alloc_counters();
        let start = Instant::now();
        let first = admin.cluster().refresh_topics(Some(&[])).map(drop);
        let took = start.elapsed();
        let largest = LARGEST.load(Ordering::Relaxed);
        expect.check(name, &first);
        assert!(
            took <= REQUEST_TIMEOUT + Duration::from_millis(300),
            "{name}: took {took:?}"
        );
        if !matches!(expect, Expect::Timeout(_)) {
            assert!(took < Duration::from_millis(700), "{name}: took {took:?}");
        }
        assert!(
            largest < MAX_RESPONSE,
            "{name}: an allocation of {largest} bytes (receive.message.max.bytes is {MAX_RESPONSE})"
        );
        // The broker behaves from now on: the next request succeeds, on a
        // new connection unless the first exchange went well.
        thread::sleep(Duration::from_millis(100));
        let deadline = Instant::now() + Duration::from_secs(3);
        let md = loop {
            match admin.cluster().refresh_topics(Some(&[])) {
                Ok(md) => break md,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("{name}: no recovery: {e}"),
            }
        };
        assert!(md.brokers.contains_key(&1), "{name}: {md:?}");
        let expect_reconnect = !matches!(expect, Expect::Ok) || name.contains("unsolicited");
        if expect_reconnect {
            assert_eq!(fake.accepted(), 2, "{name}: connections accepted");
        } else {
            assert_eq!(fake.accepted(), 1, "{name}: connections accepted");
        }
        drop(admin);
        drop(fake);
        assert_released(name, base);
        assert_eq!(
            PANICS.load(Ordering::SeqCst),
            0,
            "{name}: a thread panicked"
        );
    }
}

#[test]
fn hostile_fetch_responses_end_in_clear_errors_or_recovery() {
    let _serial = serial();
    let base = sockets();
    // The allocation counter sees large allocations.
    reset_alloc_counters();
    drop(std::hint::black_box(Vec::<u8>::with_capacity(
        2 * MAX_RESPONSE,
    )));
    assert!(LARGEST.load(Ordering::Relaxed) >= 2 * MAX_RESPONSE);

    let lying_batch = patched(fake_batch(), 8, &0x7fff_fff0i32.to_be_bytes());
    let mut corrupt_batch = fake_batch();
    *corrupt_batch.last_mut().unwrap() ^= 0x55;
    // (name, misbehave on the first Fetch only?, what it does, the error
    // poll ends in (None: the consumer recovers and reads the records))
    type Case = (&'static str, bool, Misbehave, Option<&'static str>);
    let cases: Vec<Case> = vec![
        ("fetch: no answer", true, Box::new(|_| Reply::Silent), None),
        (
            "fetch: garbage",
            true,
            Box::new(|r| {
                let mut b = r.correlation_id.to_be_bytes().to_vec();
                b.extend_from_slice(&[0xee; 40]);
                Reply::Raw(raw_frame(&b))
            }),
            None,
        ),
        (
            "fetch: 2 GiB length prefix",
            true,
            Box::new(|_| Reply::Raw(0x7fff_fff0i32.to_be_bytes().to_vec())),
            None,
        ),
        (
            "fetch: hang up",
            true,
            Box::new(|_| Reply::RawThenClose(Vec::new())),
            None,
        ),
        (
            // Every Fetch: a record batch whose header claims 2 GiB.
            "fetch: batch length 2 GiB",
            false,
            Box::new(move |r| Reply::Raw(fetch_response(r, lying_batch.clone()))),
            Some("receive.message.max.bytes"),
        ),
        (
            // Every Fetch: a batch whose CRC does not match.
            "fetch: corrupt batch",
            false,
            Box::new(move |r| Reply::Raw(fetch_response(r, corrupt_batch.clone()))),
            Some("CRC"),
        ),
    ];
    for (name, once, misbehave, error) in cases {
        let first = AtomicBool::new(true);
        let fake = FakeBroker::start(move |r| {
            if r.api_key == 1 && (!once || first.swap(false, Ordering::SeqCst)) {
                misbehave(r)
            } else {
                Reply::Good
            }
        });
        let mut c = Consumer::new(
            ConsumerConfig::new()
                .bootstrap_servers(&fake.bootstrap())
                .set("request.timeout.ms", REQUEST_TIMEOUT.as_millis())
                .set("receive.message.max.bytes", MAX_RESPONSE)
                .set("fetch.max.wait.ms", 100)
                .set("auto.offset.reset", "earliest")
                .set("reconnect.backoff.ms", 20)
                .set("retry.backoff.ms", 20),
        )
        .unwrap();
        c.assign(vec![TopicPartition::new(FAKE_TOPIC, 0)]).unwrap();
        reset_alloc_counters();
        let start = Instant::now();
        let mut values = Vec::new();
        let mut failure = None;
        while values.len() < FAKE_RECORDS as usize && start.elapsed() < Duration::from_secs(5) {
            match c.poll(Duration::from_millis(100)) {
                Ok(records) => values.extend(
                    records
                        .into_iter()
                        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap()),
                ),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let took = start.elapsed();
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            largest < MAX_RESPONSE,
            "{name}: an allocation of {largest} bytes (receive.message.max.bytes is {MAX_RESPONSE})"
        );
        match error {
            None => {
                assert!(failure.is_none(), "{name}: {failure:?}");
                assert_eq!(values, ["v0", "v1", "v2"], "{name}: after {took:?}");
                // Recovered within about one request timeout, on a new
                // connection (bootstrap, node 1, node 1 again).
                assert!(
                    took < REQUEST_TIMEOUT + Duration::from_millis(1500),
                    "{name}: took {took:?}"
                );
                assert!(
                    fake.accepted() >= 3,
                    "{name}: {} connections accepted",
                    fake.accepted()
                );
            }
            Some(m) => {
                let e = failure.unwrap_or_else(|| panic!("{name}: no error, read {values:?}"));
                assert!(e.to_string().contains(m), "{name}: {e}");
                assert!(took < Duration::from_secs(2), "{name}: took {took:?}");
                // The error is sticky: the bad batch is not skipped.
                let again = c.poll(Duration::from_millis(300)).unwrap_err();
                assert!(again.to_string().contains(m), "{name}: {again}");
            }
        }
        drop(c);
        drop(fake);
        assert_released(name, base);
        assert_eq!(
            PANICS.load(Ordering::SeqCst),
            0,
            "{name}: a thread panicked"
        );
    }
}

// ---------------------------------------------------------------------------
// Invariant 4: every broker down, then back.

/// Polls until a record whose value starts with `prefix` and `n` of them in
/// all have arrived; returns every value read.
fn read_values(c: &mut Consumer, prefix: &str, n: usize, within: Duration) -> Vec<(i64, String)> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out
        .iter()
        .filter(|(_, v): &&(i64, String)| v.starts_with(prefix))
        .count()
        < n
    {
        assert!(
            Instant::now() < deadline,
            "read only {out:?} while waiting for {n} `{prefix}` records"
        );
        match c.poll(Duration::from_millis(200)) {
            Ok(records) => out.extend(records.into_iter().map(|r| {
                (
                    r.offset,
                    String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
                )
            })),
            Err(e) => eprintln!("poll while recovering: {e}"),
        }
    }
    out
}

#[test]
fn with_every_broker_down_clients_back_off_then_recover_on_their_own() {
    let _serial = serial();
    let mut broker = support::PrivateBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let topic = support::unique_topic("outage");
    create_topic(&bootstrap, &topic, 1);
    let tp = TopicPartition::new(&topic, 0);
    let producer = Producer::new(
        producer_config(&bootstrap)
            .set("request.timeout.ms", 5000)
            .set("delivery.timeout.ms", 60000),
    )
    .unwrap();
    for i in 0..5 {
        let v = format!("before-{i}");
        producer
            .send(ProducerRecord::new(&topic, v.as_bytes()).partition(0))
            .unwrap()
            .wait()
            .unwrap();
    }
    // A reads by assignment, B in a group that commits what it read.
    let mut a = Consumer::new(consumer_config(&bootstrap)).unwrap();
    a.assign(vec![tp.clone()]).unwrap();
    assert_eq!(
        read_values(&mut a, "before-", 5, Duration::from_secs(20)).len(),
        5
    );
    let group = support::unique_topic("outage-group");
    let mut b = Consumer::new(group_config(&bootstrap, &group)).unwrap();
    b.subscribe(&[&topic]).unwrap();
    assert_eq!(
        read_values(&mut b, "before-", 5, Duration::from_secs(30)).len(),
        5
    );
    b.commit_sync().unwrap();

    // Every broker down: records sent meanwhile wait, consumers keep polling.
    broker.stop();
    let during: Vec<_> = (0..5)
        .map(|i| {
            let v = format!("during-{i}");
            producer
                .send(ProducerRecord::new(&topic, v.as_bytes()).partition(0))
                .unwrap()
        })
        .collect();
    let mut errors = BTreeSet::new();
    let mut poll_both = |a: &mut Consumer, b: &mut Consumer| {
        for (name, c) in [("A", a), ("B", b)] {
            let t = Instant::now();
            let r = c.poll(Duration::from_millis(250));
            // poll(250 ms) of B used to block 60 s (default.api.timeout.ms)
            // in the auto-commit before rejoining a coordinator that is gone.
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "poll(250 ms) of {name} took {:?}: {r:?}",
                t.elapsed()
            );
            match r {
                Ok(r) => assert!(r.is_empty(), "records from a stopped broker"),
                Err(e) => {
                    errors.insert(e.to_string().chars().take(60).collect::<String>());
                }
            }
        }
    };
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(1000) {
        poll_both(&mut a, &mut b);
    }
    let cpu0 = cpu_time();
    let start = Instant::now();
    let mut polls = 0;
    while start.elapsed() < Duration::from_secs(10) {
        poll_both(&mut a, &mut b);
        polls += 2;
    }
    let cpu = cpu_time() - cpu0;
    let wall = start.elapsed();
    eprintln!("outage: {cpu:?} CPU in {wall:?} ({polls} polls); poll errors: {errors:?}");
    assert!(
        cpu < Duration::from_millis(500),
        "clients should back off while every broker is down: {cpu:?} of CPU in {wall:?}"
    );
    assert!(
        polls <= 2 * (wall.as_millis() as usize / 250 + 2),
        "poll returned early {polls} times in {wall:?}: {errors:?}"
    );
    for h in &during {
        assert!(
            !h.is_done(),
            "a record sent during the outage resolved: {:?}",
            h.try_get()
        );
    }

    // The broker returns: tansu empty (memory storage), so recreate the topic;
    // Kafka with its log and the group's commits (the same checks hold below).
    broker.start_again().unwrap();
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(&bootstrap)).unwrap();
    match admin.create_topic(NewTopic::new(&topic, 1, 1)) {
        Ok(()) => {}
        // A client's Metadata request may have auto-created it already.
        Err(e) if e.kafka_code() == Some(kafka_blocking::KafkaCode::TopicAlreadyExists) => {}
        Err(e) => panic!("recreating {topic}: {e}"),
    }
    admin.close();
    // The producer delivers what waited, and new records.
    for (i, h) in during.iter().enumerate() {
        let md = h
            .wait_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("during-{i}: {e}"));
        assert_eq!(md.partition, 0);
    }
    for i in 0..5 {
        let v = format!("after-{i}");
        producer
            .send(ProducerRecord::new(&topic, v.as_bytes()).partition(0))
            .unwrap()
            .wait_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("after-{i}: {e}"));
    }
    // A resumes: from its old position (tansu does not answer
    // OFFSET_OUT_OF_RANGE for a position past the new log's end) or, on a
    // broker that does, from the beginning (auto.offset.reset=earliest).
    let got_a = read_values(&mut a, "after-", 5, Duration::from_secs(20));
    let first = got_a.first().map(|r| r.0);
    assert!(
        first == Some(5) || first == Some(0),
        "A resumed at {got_a:?}"
    );
    eprintln!("after the restart, A resumed at offset {first:?}");
    assert!(
        got_a.iter().all(|(_, v)| !v.starts_with("before-")),
        "{got_a:?}"
    );
    // B keeps its membership through the outage: a lost coordinator is
    // found again, not a reason to rejoin (as Java). On Kafka its group and
    // commits survive, so it reads on from its committed offset: the whole
    // new part of the log. On tansu (memory storage) the group is gone, but
    // tansu accepts the old member's heartbeats, so B reads on from its old
    // position, as A; told it is unknown, it would rejoin and start over per
    // auto.offset.reset=earliest, which is the whole new log too.
    let got_b = read_values(&mut b, "after-", 5, Duration::from_secs(30));
    let values_b: Vec<&str> = got_b.iter().map(|(_, v)| v.as_str()).collect();
    let new_log: Vec<String> = (0..5)
        .map(|i| format!("during-{i}"))
        .chain((0..5).map(|i| format!("after-{i}")))
        .collect();
    let old_position: Vec<String> = (0..5).map(|i| format!("after-{i}")).collect();
    assert!(
        values_b == new_log || (!broker.keeps_data() && values_b == old_position),
        "B after the restart: {values_b:?}"
    );
    producer.close(None).unwrap();
    a.close();
    b.close();
}

// ---------------------------------------------------------------------------
// Invariant 6: memory bounds.

const MIB: usize = 1 << 20;

#[test]
fn producer_memory_stays_within_buffer_memory_while_the_broker_is_down() {
    let _serial = serial();
    const BUFFER: usize = 2 * MIB;
    const MAX_BLOCK: Duration = Duration::from_millis(300);
    let mut broker = support::PrivateBroker::start().unwrap();
    let topic = support::unique_topic("buffer-memory");
    create_topic(&broker.bootstrap(), &topic, 2);
    let producer = Arc::new(
        Producer::new(
            producer_config(&broker.bootstrap())
                .set("buffer.memory", BUFFER)
                .set("batch.size", 16384)
                .set("max.block.ms", MAX_BLOCK.as_millis())
                .set("request.timeout.ms", 5000)
                .set("delivery.timeout.ms", 60000),
        )
        .unwrap(),
    );
    producer
        .send(ProducerRecord::new(&topic, b"first"))
        .unwrap()
        .wait()
        .unwrap();
    broker.stop();

    // Watch buffer_in_use while the application keeps sending 1 KiB records.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (p, done) = (producer.clone(), done.clone());
        thread::spawn(move || {
            let mut max = 0;
            while !done.load(Ordering::SeqCst) {
                max = max.max(p.metrics().buffer_in_use);
                thread::sleep(Duration::from_millis(1));
            }
            max
        })
    };
    let value = vec![b'x'; 1024];
    let live0 = reset_alloc_counters();
    let rss0 = rss();
    let start = Instant::now();
    let (mut accepted, mut refused) = (0usize, 0usize);
    while start.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        match producer.send(ProducerRecord::new(&topic, &value)) {
            Ok(_) => accepted += 1,
            Err(e) => {
                refused += 1;
                assert!(
                    matches!(e, Error::Timeout { .. }) && e.to_string().contains("buffer.memory"),
                    "{e}"
                );
                assert!(
                    t.elapsed() >= MAX_BLOCK - Duration::from_millis(20),
                    "{:?}",
                    t.elapsed()
                );
                assert!(
                    t.elapsed() < MAX_BLOCK + Duration::from_millis(500),
                    "{:?}",
                    t.elapsed()
                );
            }
        }
    }
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(live0);
    let rss_growth = rss().saturating_sub(rss0);
    done.store(true, Ordering::SeqCst);
    let max_in_use = watcher.join().unwrap();
    eprintln!(
        "producer: {accepted} records accepted, {refused} sends refused; buffer_in_use max {max_in_use}; heap peak +{peak}; RSS +{rss_growth}"
    );
    assert!(refused > 0, "sends never blocked");
    assert!(accepted * 1024 <= BUFFER, "{accepted} KiB accepted");
    assert!(max_in_use <= BUFFER, "buffer_in_use reached {max_in_use}");
    assert!(
        max_in_use >= BUFFER / 2,
        "buffer_in_use only reached {max_in_use}"
    );
    assert!(peak <= BUFFER + MIB, "heap grew by {peak} bytes");
    assert!(
        rss_growth <= BUFFER + 16 * MIB,
        "RSS grew by {rss_growth} bytes"
    );
    // Closing fails what waited (and says so) and gives the memory back.
    let e = producer
        .close(Some(Duration::from_millis(200)))
        .expect_err("close reports the records it failed");
    assert!(e.to_string().contains("close:"), "{e}");
    assert_eq!(producer.metrics().buffer_in_use, 0);
}

#[test]
fn consumer_memory_stays_within_fetch_max_bytes_for_a_slow_application() {
    let _serial = serial();
    const FETCH_MAX: usize = MIB;
    const DATA: usize = 64 * MIB;
    let broker = support::PrivateBroker::start().unwrap();
    let topic = support::unique_topic("fetch-max-bytes");
    create_topic(&broker.bootstrap(), &topic, 2);
    {
        let p = Producer::new(
            producer_config(&broker.bootstrap())
                .set("batch.size", 65536)
                .set("linger.ms", 10),
        )
        .unwrap();
        let value = vec![b'y'; 1024];
        for i in 0..DATA / 1024 {
            let _ = p
                .send(ProducerRecord::new(&topic, &value).partition((i % 2) as i32))
                .unwrap();
        }
        p.close(None).unwrap();
    }
    let mut c = Consumer::new(
        consumer_config(&broker.bootstrap())
            .set("fetch.max.bytes", FETCH_MAX)
            .set("max.partition.fetch.bytes", FETCH_MAX / 2)
            .set("max.poll.records", 100),
    )
    .unwrap();
    c.assign((0..2).map(|p| TopicPartition::new(&topic, p)))
        .unwrap();
    let live0 = reset_alloc_counters();
    let rss0 = rss();
    let start = Instant::now();
    let mut read = 0;
    // A slow application: 100 records, then 200 ms of work without polling.
    while start.elapsed() < Duration::from_secs(5) {
        read += c.poll(Duration::from_millis(100)).unwrap().len();
        thread::sleep(Duration::from_millis(200));
    }
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(live0);
    let rss_growth = rss().saturating_sub(rss0);
    eprintln!("consumer: read {read} records; heap peak +{peak}; RSS +{rss_growth}");
    assert!(read > 0 && read * 1024 < DATA / 4, "read {read}");
    assert!(peak <= 3 * FETCH_MAX + MIB, "heap grew by {peak} bytes");
    assert!(
        rss_growth <= 3 * FETCH_MAX + 16 * MIB,
        "RSS grew by {rss_growth} bytes"
    );
    c.close();
}
