//! The consumer against a fake broker whose Fetch responses are built byte by
//! byte from the protocol JSON (the generated message types) and the record
//! batch builder: read_committed with transactional batches, control batches
//! and aborted-transaction lists (no test broker here lists aborted
//! transactions); corrupt data (bad CRC, truncated and lying lengths);
//! incremental fetch sessions (KIP-227) and topic ids (Fetch v13+); batches
//! larger than max.partition.fetch.bytes.

#[allow(dead_code)]
#[path = "support/fake.rs"]
mod fake;
use fake::{api_key_and_version, read_frame, write_response};

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kafka_blocking::consumer::{Consumer, ConsumerRecord, TopicPartition};
use kafka_blocking::unstable::protocol::compression::Compression;
use kafka_blocking::unstable::protocol::header::RequestHeader;
use kafka_blocking::unstable::protocol::messages::api_versions_response::ApiVersion;
use kafka_blocking::unstable::protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_blocking::unstable::protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_blocking::unstable::protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_blocking::unstable::protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse,
};
use kafka_blocking::unstable::protocol::records::{
    ControlRecord, ControlRecordType, ProducerState, RecordBatchBuilder,
};
use kafka_blocking::unstable::protocol::{Bytes, Decodable, KafkaCode, Reader, Request, Uuid};
use kafka_blocking::{ConsumerConfig, Error};

const TOPIC: &str = "t";
const TOPIC_ID: Uuid = Uuid([7; 16]);

/// What a Fetch of one partition at one offset gets.
#[derive(Clone, Debug, Default)]
struct Answer {
    records: Vec<u8>,
    high_watermark: i64,
    last_stable_offset: i64,
    aborted: Option<Vec<(i64, i64)>>,
    error: i16,
}

/// One Fetch request as the fake saw it.
#[derive(Clone, Debug)]
struct SeenFetch {
    version: i16,
    session_id: i32,
    session_epoch: i32,
    isolation_level: i8,
    /// (partition, fetch offset, partition max bytes) listed in the request.
    listed: Vec<(i32, i64, i32)>,
    forgotten: Vec<i32>,
    by_topic_id: bool,
}

type Handler = dyn Fn(i32, i64, i32) -> Answer + Send + Sync;

struct Fake {
    port: u16,
    seen: Arc<Mutex<Vec<SeenFetch>>>,
    /// Top-level error codes to answer the next Fetch requests with.
    top_errors: Arc<Mutex<Vec<i16>>>,
}

struct Options {
    partitions: i32,
    fetch_versions: (i16, i16),
    sessions: bool,
    end_offset: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            partitions: 1,
            fetch_versions: (4, 12),
            sessions: false,
            end_offset: 0,
        }
    }
}

fn start(opts: Options, handler: impl Fn(i32, i64, i32) -> Answer + Send + Sync + 'static) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let top_errors = Arc::new(Mutex::new(Vec::new()));
    let handler: Arc<Handler> = Arc::new(handler);
    let opts = Arc::new(opts);
    let (seen2, errs2) = (seen.clone(), top_errors.clone());
    thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let (h, o, seen, errs) = (handler.clone(), opts.clone(), seen2.clone(), errs2.clone());
            thread::spawn(move || serve(s, port, &o, &*h, &seen, &errs));
        }
    });
    Fake {
        port,
        seen,
        top_errors,
    }
}

fn serve(
    mut s: TcpStream,
    port: u16,
    o: &Options,
    handler: &Handler,
    seen: &Mutex<Vec<SeenFetch>>,
    errs: &Mutex<Vec<i16>>,
) {
    // The fake's view of each fetch session: partition -> (fetch offset, max bytes).
    let mut session: HashMap<i32, (i64, i32)> = HashMap::new();
    let mut next_epoch = 0;
    while let Some(frame) = read_frame(&mut s) {
        let (api_key, version) = api_key_and_version(&frame);
        let header_version = match api_key {
            18 => ApiVersionsRequest::header_version(version),
            3 => MetadataRequest::header_version(version),
            1 => FetchRequest::header_version(version),
            2 => ListOffsetsRequest::header_version(version),
            k => panic!("fake broker: unexpected api key {k}"),
        };
        let mut r = Reader::new(frame);
        let h = RequestHeader::decode(&mut r, header_version).unwrap();
        let ok = match api_key {
            18 => {
                let v = version.min(3);
                let api = |api_key, min_version, max_version| ApiVersion {
                    api_key,
                    min_version,
                    max_version,
                    ..Default::default()
                };
                let resp = ApiVersionsResponse {
                    api_keys: vec![
                        api(18, 0, 3),
                        api(3, 0, 12),
                        api(1, o.fetch_versions.0, o.fetch_versions.1),
                        api(2, 1, 7),
                    ],
                    ..Default::default()
                };
                write_response(&mut s, h.correlation_id, v, &resp)
            }
            3 => {
                let _req = MetadataRequest::decode(&mut r, version).unwrap();
                let resp = MetadataResponse {
                    brokers: vec![MetadataResponseBroker {
                        node_id: 0,
                        host: "127.0.0.1".into(),
                        port: port as i32,
                        ..Default::default()
                    }],
                    cluster_id: if version >= 2 {
                        Some("fake".into())
                    } else {
                        None
                    },
                    controller_id: 0,
                    topics: vec![MetadataResponseTopic {
                        name: Some(TOPIC.into()),
                        topic_id: if version >= 10 { TOPIC_ID } else { Uuid::ZERO },
                        partitions: (0..o.partitions)
                            .map(|p| MetadataResponsePartition {
                                partition_index: p,
                                leader_id: 0,
                                leader_epoch: if version >= 7 { 0 } else { -1 },
                                replica_nodes: vec![0],
                                isr_nodes: vec![0],
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                };
                write_response(&mut s, h.correlation_id, version, &resp)
            }
            2 => {
                let req = ListOffsetsRequest::decode(&mut r, version).unwrap();
                let resp = ListOffsetsResponse {
                    topics: req
                        .topics
                        .iter()
                        .map(|t| ListOffsetsTopicResponse {
                            name: t.name.clone(),
                            partitions: t
                                .partitions
                                .iter()
                                .map(|p| ListOffsetsPartitionResponse {
                                    partition_index: p.partition_index,
                                    offset: if p.timestamp == -1 { o.end_offset } else { 0 },
                                    timestamp: -1,
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                };
                write_response(&mut s, h.correlation_id, version, &resp)
            }
            1 => {
                let req = FetchRequest::decode(&mut r, version).unwrap();
                let by_topic_id = version >= 13;
                let mut listed = Vec::new();
                for t in &req.topics {
                    if by_topic_id {
                        assert_eq!(t.topic_id, TOPIC_ID, "fetch by unknown topic id");
                    } else {
                        assert_eq!(t.topic, TOPIC);
                    }
                    for p in &t.partitions {
                        listed.push((p.partition, p.fetch_offset, p.partition_max_bytes));
                    }
                }
                let forgotten: Vec<i32> = req
                    .forgotten_topics_data
                    .iter()
                    .flat_map(|f| f.partitions.clone())
                    .collect();
                seen.lock().unwrap().push(SeenFetch {
                    version,
                    session_id: req.session_id,
                    session_epoch: req.session_epoch,
                    isolation_level: req.isolation_level,
                    listed: listed.clone(),
                    forgotten: forgotten.clone(),
                    by_topic_id,
                });
                let top_error = {
                    let mut e = errs.lock().unwrap();
                    if e.is_empty() { 0 } else { e.remove(0) }
                };
                // Session bookkeeping, as a broker does.
                let mut session_id = 0;
                if o.sessions && version >= 7 && top_error == 0 {
                    if req.session_id == 0 {
                        session.clear();
                        next_epoch = 1;
                        session_id = 77;
                    } else {
                        assert_eq!(req.session_id, 77);
                        assert_eq!(req.session_epoch, next_epoch, "wrong session epoch");
                        next_epoch += 1;
                        session_id = 77;
                        for p in &forgotten {
                            session.remove(p);
                        }
                    }
                }
                let partitions: Vec<(i32, i64, i32)> = if session_id != 0 {
                    for (p, off, max) in &listed {
                        session.insert(*p, (*off, *max));
                    }
                    let mut v: Vec<_> = session.iter().map(|(p, (o, m))| (*p, *o, *m)).collect();
                    v.sort();
                    v
                } else {
                    listed.clone()
                };
                let mut answers: Vec<(i32, Answer)> = if top_error != 0 {
                    Vec::new()
                } else {
                    partitions
                        .iter()
                        .map(|&(p, off, max)| (p, handler(p, off, max)))
                        .collect()
                };
                // An incremental response lists only partitions with news.
                if session_id != 0 && req.session_id != 0 {
                    answers.retain(|(p, a)| {
                        !a.records.is_empty() || a.error != 0 || listed.iter().any(|l| l.0 == *p)
                    });
                }
                if top_error == 0 && answers.iter().all(|(_, a)| a.records.is_empty()) {
                    // Like a broker: hold the request up to max_wait_ms when there is no data.
                    thread::sleep(Duration::from_millis((req.max_wait_ms as u64).min(1000)));
                }
                let resp = FetchResponse {
                    error_code: top_error,
                    session_id,
                    responses: if answers.is_empty() {
                        Vec::new()
                    } else {
                        vec![FetchableTopicResponse {
                            topic: if by_topic_id {
                                String::new()
                            } else {
                                TOPIC.into()
                            },
                            topic_id: if by_topic_id { TOPIC_ID } else { Uuid::ZERO },
                            partitions: answers
                                .into_iter()
                                .map(|(p, a)| PartitionData {
                                    partition_index: p,
                                    error_code: a.error,
                                    high_watermark: a.high_watermark,
                                    last_stable_offset: a.last_stable_offset,
                                    log_start_offset: 0,
                                    aborted_transactions: a.aborted.map(|v| {
                                        v.into_iter()
                                            .map(|(producer_id, first_offset)| AbortedTransaction {
                                                producer_id,
                                                first_offset,
                                                ..Default::default()
                                            })
                                            .collect()
                                    }),
                                    records: Some(Bytes::from(a.records)),
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        }]
                    },
                    ..Default::default()
                };
                write_response(&mut s, h.correlation_id, version, &resp)
            }
            _ => unreachable!(),
        };
        if !ok {
            return;
        }
    }
}

// ---------------------------------------------------------------- batches

fn txn(pid: i64) -> ProducerState {
    ProducerState {
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: 0,
        transactional: true,
    }
}

/// A data batch of `n` records at `base`, values `v{offset}`.
fn batch(base: i64, n: usize, producer: ProducerState, codec: Compression) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new();
    b.set_base_offset(base);
    for i in 0..n {
        let off = base + i as i64;
        b.append(
            1_700_000_000_000 + off,
            Some(format!("k{off}").as_bytes()),
            Some(format!("v{off}").as_bytes()),
            &[],
        )
        .unwrap();
    }
    b.finish(producer, codec).unwrap().to_vec()
}

/// A transaction marker of producer `pid` at `offset`.
fn marker(offset: i64, pid: i64, kind: ControlRecordType) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new();
    b.set_base_offset(offset);
    b.set_control(true);
    let key = ControlRecord { version: 0, kind }.to_key();
    // Value: version i16, coordinator epoch i32.
    b.append(
        1_700_000_000_000,
        Some(&key),
        Some(&[0, 0, 0, 0, 0, 1][..]),
        &[],
    )
    .unwrap();
    b.finish(txn(pid), Compression::None).unwrap().to_vec()
}

/// A log: batches with their base and next offsets. A fetch at `offset`
/// returns every batch whose next offset is above it.
#[derive(Clone, Default)]
struct Log(Vec<(i64, i64, Vec<u8>)>);

impl Log {
    fn push(&mut self, base: i64, next: i64, bytes: Vec<u8>) -> &mut Self {
        self.0.push((base, next, bytes));
        self
    }
    fn data(&mut self, base: i64, n: usize, producer: ProducerState) -> &mut Self {
        let b = batch(base, n, producer, Compression::None);
        self.push(base, base + n as i64, b)
    }
    fn marker(&mut self, offset: i64, pid: i64, kind: ControlRecordType) -> &mut Self {
        let b = marker(offset, pid, kind);
        self.push(offset, offset + 1, b)
    }
    fn end(&self) -> i64 {
        self.0.last().map_or(0, |b| b.1)
    }
    fn from(&self, offset: i64) -> Vec<u8> {
        self.0
            .iter()
            .filter(|b| b.1 > offset)
            .flat_map(|b| b.2.clone())
            .collect()
    }
}

// ---------------------------------------------------------------- helpers

fn consumer(fake: &Fake, extra: &[(&str, &str)]) -> Consumer {
    let mut c = ConsumerConfig::new()
        .bootstrap_servers(&format!("127.0.0.1:{}", fake.port))
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.wait.ms", "100")
        .set("retry.backoff.ms", "20")
        .set("request.timeout.ms", "5000");
    for (k, v) in extra {
        c = c.set(k, v);
    }
    Consumer::new(c).unwrap()
}

/// Polls until `want` records arrived or `timeout`; returns them.
fn read(c: &mut Consumer, want: usize, timeout: Duration) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < want && Instant::now() < deadline {
        out.extend(c.poll(Duration::from_millis(100)).unwrap());
    }
    out
}

fn offsets(rs: &[ConsumerRecord]) -> Vec<i64> {
    rs.iter().map(|r| r.offset).collect()
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new(TOPIC, p)
}

/// Polls until an error or `timeout`; returns the records before it and the error.
fn read_until_error(c: &mut Consumer, timeout: Duration) -> (Vec<ConsumerRecord>, Option<Error>) {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(100)) {
            Ok(rs) => out.extend(rs),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

// ---------------------------------------------------------------- read_committed

/// pid 7 aborts (0-1, 4-5; marker 6), pid 8 commits (2-3, 7; marker 8),
/// plain 9-10, pid 7 aborts again (11-12; marker 13), pid 9 still open (14-15).
fn transactional_log() -> (Log, Vec<(i64, i64)>, i64) {
    let mut log = Log::default();
    log.data(0, 2, txn(7))
        .data(2, 2, txn(8))
        .data(4, 2, txn(7))
        .marker(6, 7, ControlRecordType::Abort)
        .data(7, 1, txn(8))
        .marker(8, 8, ControlRecordType::Commit)
        .data(9, 2, ProducerState::NONE)
        .data(11, 2, txn(7))
        .marker(13, 7, ControlRecordType::Abort)
        .data(14, 2, txn(9));
    (log, vec![(7, 0), (7, 11)], 14)
}

#[test]
fn read_committed_returns_committed_records_only() {
    let (log, aborted, lso) = transactional_log();
    let end = log.end();
    // The fake returns everything, even past the LSO, with the aborted list:
    // the client must filter by itself.
    let fake = start(Options::default(), move |_, offset, _| Answer {
        records: log.from(offset),
        high_watermark: end,
        last_stable_offset: lso,
        aborted: Some(aborted.clone()),
        error: 0,
    });
    let mut c = consumer(&fake, &[("isolation.level", "read_committed")]);
    c.assign(vec![tp(0)]).unwrap();
    let got = read(&mut c, 100, Duration::from_millis(1500));
    assert_eq!(
        offsets(&got),
        [2, 3, 7, 9, 10],
        "only committed and non-transactional records"
    );
    assert_eq!(got[0].value.as_deref(), Some(&b"v2"[..]));
    // Stopped at the last stable offset: the open transaction is not read.
    assert_eq!(c.position(&tp(0)).unwrap(), lso);
    assert!(
        fake.seen
            .lock()
            .unwrap()
            .iter()
            .all(|f| f.isolation_level == 1)
    );
    c.close();
}

#[test]
fn read_uncommitted_returns_every_data_record_but_no_marker() {
    let (log, aborted, lso) = transactional_log();
    let end = log.end();
    let fake = start(Options::default(), move |_, offset, _| Answer {
        records: log.from(offset),
        high_watermark: end,
        last_stable_offset: lso,
        aborted: Some(aborted.clone()),
        error: 0,
    });
    let mut c = consumer(&fake, &[]);
    c.assign(vec![tp(0)]).unwrap();
    let got = read(&mut c, 13, Duration::from_secs(3));
    assert_eq!(offsets(&got), [0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 14, 15]);
    assert_eq!(c.position(&tp(0)).unwrap(), end);
    assert!(
        fake.seen
            .lock()
            .unwrap()
            .iter()
            .all(|f| f.isolation_level == 0)
    );
}

#[test]
fn read_committed_across_fetches_and_compressed_batches() {
    // The aborted transaction's batches come one per fetch response, the
    // first one compressed: the abort state must not depend on response
    // boundaries (each response carries the aborted list again).
    let mut log = Log::default();
    let b = batch(0, 3, txn(5), Compression::Gzip);
    log.push(0, 3, b);
    let b = batch(3, 2, ProducerState::NONE, Compression::Snappy);
    log.push(3, 5, b);
    log.data(5, 2, txn(5))
        .marker(7, 5, ControlRecordType::Abort)
        .data(8, 2, txn(6))
        .marker(10, 6, ControlRecordType::Commit);
    let end = log.end();
    let fake = start(Options::default(), move |_, offset, _| {
        // One batch per response.
        let one = log
            .0
            .iter()
            .find(|b| b.1 > offset)
            .map(|b| b.2.clone())
            .unwrap_or_default();
        Answer {
            records: one,
            high_watermark: end,
            last_stable_offset: end,
            aborted: Some(vec![(5, 0)]),
            error: 0,
        }
    });
    let mut c = consumer(&fake, &[("isolation.level", "read_committed")]);
    c.assign(vec![tp(0)]).unwrap();
    let got = read(&mut c, 100, Duration::from_millis(1500));
    assert_eq!(offsets(&got), [3, 4, 8, 9]);
    assert_eq!(c.position(&tp(0)).unwrap(), end);
}

// ---------------------------------------------------------------- corrupt data

#[test]
fn bad_crc_is_an_error_naming_partition_and_offset_and_keeps_the_position() {
    let mut log = Log::default();
    log.data(0, 3, ProducerState::NONE);
    let mut bad = batch(3, 3, ProducerState::NONE, Compression::None);
    let n = bad.len();
    bad[n - 2] ^= 0x55; // a byte of the last record's value
    log.push(3, 6, bad).data(6, 3, ProducerState::NONE);
    let end = log.end();
    let l2 = log.clone();
    let fake = start(Options::default(), move |_, offset, _| Answer {
        records: l2.from(offset),
        high_watermark: end,
        last_stable_offset: end,
        ..Default::default()
    });
    let mut c = consumer(&fake, &[]);
    c.assign(vec![tp(0)]).unwrap();
    let (got, err) = read_until_error(&mut c, Duration::from_secs(3));
    assert_eq!(
        offsets(&got),
        [0, 1, 2],
        "records before the corrupt batch are delivered"
    );
    let err = err.expect("an error");
    let text = err.to_string();
    assert_eq!(err.kafka_code(), Some(KafkaCode::CorruptMessage), "{text}");
    assert!(
        text.contains("t-0") && text.contains("offset 3") && text.contains("CRC"),
        "{text}"
    );
    assert_eq!(
        c.position(&tp(0)).unwrap(),
        3,
        "position left at the corrupt batch"
    );
    // It stays stuck there (as Java's consumer does) until the application seeks past it.
    let (again, err) = read_until_error(&mut c, Duration::from_secs(3));
    assert!(again.is_empty());
    assert!(
        err.expect("same error again")
            .to_string()
            .contains("offset 3")
    );
    c.seek(&tp(0), 6).unwrap();
    assert_eq!(offsets(&read(&mut c, 3, Duration::from_secs(3))), [6, 7, 8]);

    // With check.crcs=false the batch decodes (the flipped byte is in a value).
    let mut c = consumer(&fake, &[("check.crcs", "false")]);
    c.assign(vec![tp(0)]).unwrap();
    let got = read(&mut c, 9, Duration::from_secs(3));
    assert_eq!(offsets(&got), (0..9).collect::<Vec<_>>());
    assert_ne!(got[5].value.as_deref(), Some(&b"v5"[..]));
}

#[test]
fn truncated_trailing_batch_is_ignored_and_fetched_again() {
    let mut log = Log::default();
    log.data(0, 3, ProducerState::NONE)
        .data(3, 3, ProducerState::NONE)
        .data(6, 3, ProducerState::NONE);
    let end = log.end();
    let fake = start(Options::default(), move |_, offset, _| {
        let mut data = log.from(offset);
        // Cut the last batch short, as brokers do at the size limit.
        if offset < 6 {
            data.truncate(data.len() - 10);
        }
        Answer {
            records: data,
            high_watermark: end,
            last_stable_offset: end,
            ..Default::default()
        }
    });
    let mut c = consumer(&fake, &[]);
    c.assign(vec![tp(0)]).unwrap();
    let got = read(&mut c, 9, Duration::from_secs(3));
    assert_eq!(offsets(&got), (0..9).collect::<Vec<_>>());
    let seen = fake.seen.lock().unwrap();
    let fetch_offsets: Vec<i64> = seen
        .iter()
        .flat_map(|f| f.listed.iter().map(|l| l.1))
        .collect();
    assert_eq!(
        &fetch_offsets[..2],
        &[0, 6],
        "the cut batch is fetched again from its start"
    );
}

/// Replaces the length field of the first batch in `data`.
fn with_length(mut data: Vec<u8>, length: i32) -> Vec<u8> {
    data[8..12].copy_from_slice(&length.to_be_bytes());
    data
}

#[test]
fn lying_lengths_give_errors_or_are_skipped_never_a_panic() {
    for (case, length, expect) in [
        ("huge", i32::MAX, Some(KafkaCode::MessageTooLarge)),
        ("too small", 5, Some(KafkaCode::CorruptMessage)),
        ("negative", -40, Some(KafkaCode::CorruptMessage)),
        ("short by one", -1, Some(KafkaCode::CorruptMessage)),
    ] {
        let good = batch(0, 2, ProducerState::NONE, Compression::None);
        let real = good.len() as i32 - 12;
        let length = if length == -1 { real - 1 } else { length };
        let mut data = good.clone();
        data.extend(with_length(
            batch(2, 2, ProducerState::NONE, Compression::None),
            length,
        ));
        // The lie is in the second batch: the first one is still delivered.
        let fake = start(Options::default(), move |_, offset, _| Answer {
            records: if offset < 2 {
                data.clone()
            } else {
                data[good.len()..].to_vec()
            },
            high_watermark: 4,
            last_stable_offset: 4,
            ..Default::default()
        });
        let mut c = consumer(&fake, &[]);
        c.assign(vec![tp(0)]).unwrap();
        let (got, err) = read_until_error(&mut c, Duration::from_secs(2));
        assert_eq!(offsets(&got), [0, 1], "{case}");
        match (expect, err) {
            (Some(code), Some(e)) => {
                assert_eq!(e.kafka_code(), Some(code), "{case}: {e}");
                assert!(e.to_string().contains("t-0"), "{case}: {e}");
            }
            (None, None) => {}
            (want, got) => panic!("{case}: expected {want:?}, got {got:?}"),
        }
        assert_eq!(c.position(&tp(0)).unwrap(), 2, "{case}");
    }
}

#[test]
fn garbage_records_inside_a_valid_crc_are_an_error() {
    // A batch whose CRC is right but whose records section is nonsense.
    let mut b = batch(0, 3, ProducerState::NONE, Compression::None);
    let n = b.len();
    for x in &mut b[61..n] {
        *x = 0xff;
    }
    let crc = kafka_blocking::unstable::protocol::crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    let fake = start(Options::default(), move |_, _, _| Answer {
        records: b.clone(),
        high_watermark: 3,
        last_stable_offset: 3,
        ..Default::default()
    });
    let mut c = consumer(&fake, &[]);
    c.assign(vec![tp(0)]).unwrap();
    let (got, err) = read_until_error(&mut c, Duration::from_secs(2));
    assert!(got.is_empty());
    let e = err.expect("an error");
    assert_eq!(e.kafka_code(), Some(KafkaCode::CorruptMessage), "{e}");
}

// ---------------------------------------------------------------- sizes

#[test]
fn batch_larger_than_max_partition_fetch_bytes_is_still_returned() {
    let big = batch(0, 50, ProducerState::NONE, Compression::None);
    let size = big.len();
    assert!(size > 500);
    let mut log = Log::default();
    log.push(0, 50, big).data(50, 2, ProducerState::NONE);
    let end = log.end();
    // A modern broker sends the first batch whole even when it is larger
    // than the limit (KIP-74); an old one cuts it at the limit. Partition 0
    // behaves like the former, partition 1 like the latter.
    let fake = start(
        Options {
            partitions: 2,
            ..Options::default()
        },
        move |p, offset, max| {
            let mut data = log.from(offset);
            if p == 1 && data.len() > max as usize {
                data.truncate(max as usize);
            }
            Answer {
                records: data,
                high_watermark: end,
                last_stable_offset: end,
                ..Default::default()
            }
        },
    );
    let mut c = consumer(&fake, &[("max.partition.fetch.bytes", "500")]);
    c.assign(vec![tp(0), tp(1)]).unwrap();
    let got = read(&mut c, 104, Duration::from_secs(3));
    for p in [0, 1] {
        let mine: Vec<i64> = got
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| r.offset)
            .collect();
        assert_eq!(mine, (0..52).collect::<Vec<_>>(), "partition {p}");
    }
    // Partition 1 was asked again with a size that fits the batch.
    let seen = fake.seen.lock().unwrap();
    assert!(
        seen.iter()
            .flat_map(|f| f.listed.clone())
            .any(|(p, o, max)| p == 1 && o == 0 && max as usize >= size)
    );
}

// ---------------------------------------------------------------- sessions

#[test]
fn incremental_fetch_sessions_and_reset_on_session_errors() {
    let mut log = Log::default();
    for i in 0..20 {
        log.data(i * 2, 2, ProducerState::NONE);
    }
    let end = log.end();
    let fake = start(
        Options {
            partitions: 3,
            fetch_versions: (4, 12),
            sessions: true,
            ..Options::default()
        },
        move |p, offset, _| {
            // Partition 2 never has data; partitions 0 and 1 one batch per fetch.
            let one = if p == 2 {
                Vec::new()
            } else {
                log.0
                    .iter()
                    .find(|b| b.1 > offset)
                    .map(|b| b.2.clone())
                    .unwrap_or_default()
            };
            Answer {
                records: one,
                high_watermark: if p == 2 { 0 } else { end },
                last_stable_offset: if p == 2 { 0 } else { end },
                ..Default::default()
            }
        },
    );
    let mut c = consumer(&fake, &[]);
    c.assign(vec![tp(0), tp(1), tp(2)]).unwrap();
    let got = read(&mut c, 20, Duration::from_secs(5));
    assert!(got.len() >= 20);
    {
        let seen = fake.seen.lock().unwrap();
        assert_eq!(
            (seen[0].session_id, seen[0].session_epoch),
            (0, 0),
            "first fetch creates a session"
        );
        assert_eq!(seen[0].listed.len(), 3);
        let incremental: Vec<&SeenFetch> =
            seen.iter().skip(1).filter(|f| f.session_id == 77).collect();
        assert!(incremental.len() >= 3, "{seen:?}");
        for (i, f) in incremental.iter().enumerate() {
            assert_eq!(f.session_epoch, i as i32 + 1);
            // Partition 2 never moves, so it is not listed again.
            assert!(f.listed.iter().all(|l| l.0 != 2), "{f:?}");
        }
    }
    // Pausing a partition removes it from the session (forgotten).
    c.pause(&[tp(1)]).unwrap();
    let n = fake.seen.lock().unwrap().len();
    read(&mut c, 1000, Duration::from_millis(400));
    assert!(
        fake.seen.lock().unwrap()[n..]
            .iter()
            .any(|f| f.forgotten.contains(&1))
    );
    c.resume(&[tp(1)]).unwrap();

    // A session error makes the next request a full one.
    fake.top_errors
        .lock()
        .unwrap()
        .push(KafkaCode::FetchSessionIdNotFound.code());
    let n = fake.seen.lock().unwrap().len();
    let more = read(&mut c, 10, Duration::from_secs(3));
    let seen = fake.seen.lock().unwrap();
    let after: Vec<&SeenFetch> = seen[n..].iter().collect();
    let errored = after
        .iter()
        .position(|f| f.session_id == 77)
        .expect("an incremental fetch got the error");
    let next = after.get(errored + 1).expect("a fetch after the error");
    assert_eq!((next.session_id, next.session_epoch), (0, 0), "{after:?}");
    assert_eq!(next.listed.len(), 3, "a full fetch lists every partition");
    // Nothing lost or repeated across all of it.
    let mut all: Vec<(i32, i64)> = got
        .iter()
        .chain(more.iter())
        .map(|r| (r.partition, r.offset))
        .collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "no record returned twice");
    for p in [0, 1] {
        let mine: Vec<i64> = all.iter().filter(|x| x.0 == p).map(|x| x.1).collect();
        assert_eq!(
            mine,
            (0..mine.len() as i64).collect::<Vec<_>>(),
            "partition {p} is contiguous"
        );
    }
}

#[test]
fn fetch_v13_uses_topic_ids() {
    let mut log = Log::default();
    log.data(0, 3, ProducerState::NONE)
        .data(3, 3, ProducerState::NONE);
    let end = log.end();
    let fake = start(
        Options {
            fetch_versions: (4, 13),
            sessions: true,
            ..Options::default()
        },
        move |_, offset, _| Answer {
            records: log.from(offset),
            high_watermark: end,
            last_stable_offset: end,
            ..Default::default()
        },
    );
    let mut c = consumer(&fake, &[]);
    c.assign(vec![tp(0)]).unwrap();
    let got = read(&mut c, 6, Duration::from_secs(3));
    assert_eq!(offsets(&got), (0..6).collect::<Vec<_>>());
    assert_eq!(&*got[0].topic, TOPIC);
    let seen = fake.seen.lock().unwrap();
    assert!(
        seen.iter().all(|f| f.version == 13 && f.by_topic_id),
        "{seen:?}"
    );
}

#[test]
fn pipelining_next_fetch_is_in_flight_when_poll_returns() {
    let mut log = Log::default();
    for i in 0..50 {
        log.data(i * 10, 10, ProducerState::NONE);
    }
    let end = log.end();
    let fake = start(Options::default(), move |_, offset, _| {
        let one = log
            .0
            .iter()
            .find(|b| b.1 > offset)
            .map(|b| b.2.clone())
            .unwrap_or_default();
        Answer {
            records: one,
            high_watermark: end,
            last_stable_offset: end,
            ..Default::default()
        }
    });
    let mut c = consumer(&fake, &[]);
    c.assign(vec![tp(0)]).unwrap();
    let mut total = 0;
    let mut with_fetch_in_flight = 0;
    let mut polls = 0;
    while total < 400 {
        let rs = c.poll(Duration::from_secs(2)).unwrap();
        assert!(!rs.is_empty());
        polls += 1;
        total += rs.len();
        if c.fetches_in_flight() == 1 {
            with_fetch_in_flight += 1;
        }
    }
    assert_eq!(
        with_fetch_in_flight, polls,
        "every poll that returned records left the next fetch in flight"
    );
}

// ---------------------------------------------------------------- real peers' bytes

/// `x` + hex, or `~` for null (the vectors' FORMAT).
fn vec_bytes(b: Option<&[u8]>) -> String {
    match b {
        None => "~".into(),
        Some(b) => format!(
            "x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

fn vector_line(r: &ConsumerRecord) -> String {
    let mut s = format!(
        "record {} {} {} {} {}",
        r.offset,
        r.timestamp,
        vec_bytes(r.key.as_deref()),
        vec_bytes(r.value.as_deref()),
        r.headers.len()
    );
    for h in &r.headers {
        s.push_str(&format!(
            " {} {}",
            vec_bytes(Some(h.key.as_bytes())),
            vec_bytes(h.value.as_deref())
        ));
    }
    s
}

/// Serves each test vector of `tests/data/records` (batches written by
/// kafka-python, legacy v0/v1 message sets included, and by librdkafka) as a
/// partition's data, and checks the consumer returns exactly the records the
/// peer was asked to write, in offset order, control records left out.
#[test]
fn peer_written_batches_and_legacy_message_sets_read_back_exactly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/records");
    let mut checked = 0;
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    names.sort();
    for path in names {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let data = std::fs::read(&path).unwrap();
        let expected = std::fs::read_to_string(path.with_extension("expected")).unwrap();
        let mut want: Vec<(i64, String)> = Vec::new();
        let mut last = -1i64;
        // (producer id, first offset, marker offset) of an aborted transaction.
        let mut aborted: Option<(i64, i64, i64)> = None;
        let mut data_batch = (0i64, 0i64);
        for l in expected.lines() {
            let f: Vec<&str> = l.split(' ').collect();
            match f[0] {
                "batch" => {
                    last = f[2].parse().unwrap();
                    if f[10] == "0" {
                        data_batch = (f[6].parse().unwrap(), f[1].parse().unwrap());
                    }
                }
                "record" => want.push((f[1].parse().unwrap(), l.to_string())),
                "control" if f[2] == "abort" => {
                    aborted = Some((data_batch.0, data_batch.1, f[1].parse().unwrap()));
                }
                _ => {}
            }
        }
        let transactional = aborted.is_some();
        let aborted_list = aborted.map(|(pid, first, _)| vec![(pid, first)]);
        let end = last + 1;
        let fake = start(Options::default(), move |_, offset, _| Answer {
            records: if offset == 0 {
                data.clone()
            } else {
                Vec::new()
            },
            high_watermark: end,
            last_stable_offset: end,
            aborted: aborted_list.clone(),
            error: 0,
        });
        for read_committed in [false, true] {
            if read_committed && !transactional {
                continue;
            }
            let level = if read_committed {
                "read_committed"
            } else {
                "read_uncommitted"
            };
            let mut c = consumer(
                &fake,
                &[("isolation.level", level), ("max.poll.records", "3")],
            );
            c.assign(vec![tp(0)]).unwrap();
            let want: Vec<String> = want
                .iter()
                .filter(|(o, _)| {
                    !read_committed
                        || aborted.is_none_or(|(_, first, marker)| *o < first || *o > marker)
                })
                .map(|(_, l)| l.clone())
                .collect();
            let got = read(&mut c, want.len(), Duration::from_secs(3));
            let got_lines: Vec<String> = got.iter().map(vector_line).collect();
            assert_eq!(got_lines, want, "{name} ({level})");
            assert!(
                c.poll(Duration::from_millis(150)).unwrap().is_empty(),
                "{name}: nothing more"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} vectors");
}

#[test]
fn idle_partitions_do_not_slow_down_a_busy_one() {
    // Partition 0 has 40 batches, partition 1 nothing. The broker holds a
    // fetch of only empty partitions for fetch.max.wait.ms: such a fetch must
    // not occupy the broker's one fetch slot while partition 0 waits.
    let mut log = Log::default();
    for i in 0..40 {
        log.data(i * 10, 10, ProducerState::NONE);
    }
    let end = log.end();
    let fake = start(
        Options {
            partitions: 2,
            ..Options::default()
        },
        move |p, offset, _| Answer {
            records: if p == 0 {
                // Four batches a response.
                log.0
                    .iter()
                    .filter(|b| b.1 > offset)
                    .take(4)
                    .flat_map(|b| b.2.clone())
                    .collect()
            } else {
                Vec::new()
            },
            high_watermark: if p == 0 { end } else { 0 },
            last_stable_offset: if p == 0 { end } else { 0 },
            ..Default::default()
        },
    );
    let mut c = consumer(
        &fake,
        &[
            ("fetch.max.wait.ms", "400"),
            ("max.partition.fetch.bytes", "300"),
            ("max.poll.records", "5"),
        ],
    );
    c.assign(vec![tp(0), tp(1)]).unwrap();
    let started = Instant::now();
    let got = read(&mut c, 400, Duration::from_secs(10));
    let took = started.elapsed();
    assert_eq!(offsets(&got), (0..400).collect::<Vec<_>>());
    // Ten responses for partition 0: one 400 ms wait each would take 4 s.
    assert!(took < Duration::from_millis(2000), "took {took:?}");
}
