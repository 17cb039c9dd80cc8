//! Tests of the configuration: parsing, checking, and the typed settings
//! (every key read, none misspelt).

use super::*;

fn err_text(e: Error) -> String {
    e.to_string()
}

#[test]
fn unknown_keys_are_ignored_with_a_reason() {
    let r = ProducerConfig::new()
        .bootstrap_servers("a:1")
        .set("bootstrap.server", "x")
        .set("group.id", "g")
        .set("ssl.keystore.password", "hunter2")
        .set("no.such.thing", "1")
        .resolve()
        .unwrap();
    assert_eq!(
        r.ignored,
        vec![
            "bootstrap.server: not a known setting; did you mean bootstrap.servers?",
            "group.id: it is a consumer setting",
            "no.such.thing: not a known setting",
            "ssl.keystore.password: store passwords are not used: this client reads PEM files (ssl.key.password opens an encrypted PEM key)",
        ]
    );
    assert!(!format!("{r:?}").contains("hunter2"));
    assert_eq!(r.str("bootstrap.servers"), "a:1");
}

#[test]
fn settings_not_implemented_are_refused_unless_default() {
    for (key, value) in [
        (
            "client.dns.lookup",
            "resolve_canonical_bootstrap_servers_only",
        ),
        ("metadata.max.idle.ms", "60000"),
        ("transaction.timeout.ms", "1000"),
    ] {
        let e = err_text(
            ProducerConfig::new()
                .bootstrap_servers("a:1")
                .set(key, value)
                .resolve()
                .unwrap_err(),
        );
        assert!(e.contains(key) && e.contains("implemented"), "{e}");
    }
    ProducerConfig::new()
        .bootstrap_servers("a:1")
        .set("client.dns.lookup", "use_all_dns_ips")
        .set("metadata.max.idle.ms", "300000")
        .resolve()
        .unwrap();
}

#[test]
fn bad_values_name_key_and_allowed() {
    let e = ProducerConfig::new()
        .bootstrap_servers("a:1")
        .set("acks", "maybe")
        .resolve()
        .unwrap_err();
    match &e {
        Error::Config {
            key,
            value,
            allowed,
        } => {
            assert_eq!(key, "acks");
            assert_eq!(value, "maybe");
            assert!(allowed.contains("all"), "{allowed}");
        }
        other => panic!("{other:?}"),
    }
    let e = AdminConfig::new()
        .bootstrap_servers("a:1")
        .set("request.timeout.ms", "-5")
        .resolve()
        .unwrap_err();
    assert!(err_text(e).contains("request.timeout.ms"));
    let e = ConsumerConfig::new()
        .bootstrap_servers("a:1")
        .set("enable.auto.commit", "yes")
        .resolve()
        .unwrap_err();
    assert!(err_text(e).contains("enable.auto.commit"));
    let e = AdminConfig::new().resolve().unwrap_err();
    assert!(err_text(e).contains("bootstrap.servers"));
}

#[test]
fn defaults_and_properties_text() {
    let c = ProducerConfig::from_properties(
        "# comment\nbootstrap.servers = h:1, h:2\nacks: 1\nenable.idempotence=false\n",
    )
    .unwrap();
    let r = c.resolve().unwrap();
    assert_eq!(r.list("bootstrap.servers"), ["h:1", "h:2"]);
    assert_eq!(r.str("acks"), "1");
    assert_eq!(r.int("linger.ms"), 5);
    assert_eq!(r.int("batch.size"), 16384);
    assert!(ProducerConfig::from_properties("novalue").is_err());
}

#[test]
fn idempotence_conflicts_rejected() {
    let base = ProducerConfig::new().bootstrap_servers("a:1");
    assert!(
        base.clone()
            .set("acks", "1")
            .set("enable.idempotence", "true")
            .resolve()
            .is_err()
    );
    // Implicit idempotence gives way to an explicit weaker acks, as in Java 3.x.
    assert!(
        !base
            .clone()
            .set("acks", "1")
            .resolve()
            .unwrap()
            .bool("enable.idempotence")
    );
    assert!(
        base.clone()
            .set("acks", "1")
            .set("enable.idempotence", "false")
            .resolve()
            .is_ok()
    );
    let six = base.set("max.in.flight.requests.per.connection", "6");
    assert!(!six.clone().resolve().unwrap().bool("enable.idempotence"));
    assert!(six.set("enable.idempotence", "true").resolve().is_err());
}

#[test]
fn debug_hides_secrets() {
    let c = AdminConfig::new().set("sasl.password", "hunter2");
    assert!(!format!("{c:?}").contains("hunter2"));
    let r = c.set("bootstrap.servers", "b:9092").resolve().unwrap();
    assert!(!format!("{r:?}").contains("hunter2"));
}

#[test]
fn errors_never_echo_secrets() {
    // A bad value of a secret key is not shown.
    let e = err_text(
        AdminConfig::new()
            .bootstrap_servers("b:9092")
            .set("sasl.password", "hunter2")
            .set("security.protocol", "SASL_PLAIN")
            .resolve()
            .unwrap_err(),
    );
    assert!(
        e.contains("security.protocol") && !e.contains("hunter2"),
        "{e}"
    );
    // A base64 line of a PEM key (no '=') is not echoed.
    let e = err_text(
        AdminConfig::from_properties("ssl.keystore.key=x\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n")
            .unwrap_err(),
    );
    assert!(e.contains("line 2") && !e.contains("MIIEvQ"), "{e}");
}

#[test]
fn properties_lines_continue_after_a_backslash() {
    let text = "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n    username=\"alice\" \\\n    password=\"hunter2\";\nbootstrap.servers=b:9092\n";
    let c = AdminConfig::from_properties(text).unwrap();
    let r = c.resolve().unwrap();
    assert_eq!(
        r.str("sasl.jaas.config"),
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"hunter2\";"
    );
    assert_eq!(r.str("bootstrap.servers"), "b:9092");
}

/// A value for every key of every table, none of them the default
/// where the key allows another (so that a key read into the wrong field
/// shows), all valid together.
const EVERY_KEY: &[(&str, &str)] = &[
    ("bootstrap.servers", "h1:1, h2:2"),
    ("client.id", "app"),
    ("client.dns.lookup", "use_all_dns_ips"),
    ("request.timeout.ms", "31000"),
    ("socket.connection.setup.timeout.ms", "11000"),
    ("socket.connection.setup.timeout.max.ms", "32000"),
    ("send.buffer.bytes", "1001"),
    ("receive.buffer.bytes", "1002"),
    ("reconnect.backoff.ms", "51"),
    ("reconnect.backoff.max.ms", "1001"),
    ("retry.backoff.ms", "101"),
    ("retry.backoff.max.ms", "1003"),
    ("connections.max.idle.ms", "-1"),
    ("metadata.max.age.ms", "300001"),
    ("receive.message.max.bytes", "2048"),
    ("security.protocol", "SASL_SSL"),
    ("ssl.truststore.location", "/trust.pem"),
    ("ssl.truststore.type", "pem"),
    ("ssl.truststore.certificates", "CERTS"),
    ("ssl.keystore.location", "/keystore.pem"),
    ("ssl.keystore.type", "Pem"),
    ("ssl.keystore.key", "hunter2-key"),
    ("ssl.keystore.certificate.chain", "CHAIN"),
    ("ssl.key.password", "hunter2-keypass"),
    ("ssl.endpoint.identification.algorithm", ""),
    ("ssl.enabled.protocols", "TLSv1.3"),
    ("ssl.protocol", "TLS"),
    ("ssl.ca.location", "/ca.pem"),
    ("ssl.certificate.location", "/cert.pem"),
    ("ssl.key.location", "/key.pem"),
    ("sasl.mechanism", "PLAIN"),
    ("sasl.jaas.config", "hunter2-jaas"),
    ("sasl.username", "alice"),
    ("sasl.password", "hunter2-password"),
    ("client.software.name", "sw"),
    ("client.software.version", "9.9"),
    ("default.api.timeout.ms", "60001"),
    // Producer.
    ("acks", "1"),
    ("retries", "7"),
    ("delivery.timeout.ms", "120001"),
    ("linger.ms", "6"),
    ("batch.size", "16385"),
    ("buffer.memory", "33554433"),
    ("max.block.ms", "60002"),
    ("max.request.size", "1048577"),
    ("compression.type", "gzip"),
    ("enable.idempotence", "false"),
    ("max.in.flight.requests.per.connection", "6"),
    ("partitioner.class", "round_robin"),
    ("partitioner.ignore.keys", "true"),
    ("transactional.id", ""),
    ("transaction.timeout.ms", "60000"),
    ("metadata.max.idle.ms", "300000"),
    // Consumer.
    ("group.id", "g"),
    ("group.instance.id", "i"),
    ("group.protocol", "consumer"),
    ("allow.auto.create.topics", "false"),
    ("auto.offset.reset", "earliest"),
    ("enable.auto.commit", "false"),
    ("auto.commit.interval.ms", "5001"),
    ("fetch.min.bytes", "2"),
    ("fetch.max.bytes", "52428801"),
    ("fetch.max.wait.ms", "501"),
    ("max.partition.fetch.bytes", "1048578"),
    ("max.poll.records", "502"),
    ("max.poll.interval.ms", "300001"),
    ("session.timeout.ms", "45001"),
    ("heartbeat.interval.ms", "3001"),
    ("isolation.level", "read_committed"),
    ("check.crcs", "false"),
    ("enable.partition.eof", "true"),
    ("partition.assignment.strategy", "roundrobin, sticky"),
    ("exclude.internal.topics", "false"),
    ("client.rack", "rack-1"),
];

/// Sets every key of `tables` (from [`EVERY_KEY`], which must cover them).
fn set_every_key(mut props: Properties, tables: &[&[KeyDef]]) -> Properties {
    for def in tables.iter().flat_map(|t| t.iter()) {
        let (_, v) = EVERY_KEY
            .iter()
            .find(|(k, _)| *k == def.0)
            .unwrap_or_else(|| panic!("EVERY_KEY has no value for {}", def.0));
        props.set(def.0, v);
    }
    props
}

/// Runs `read` (a `*Settings::read`) on `r` and checks that it read
/// every key of `tables` but those accepted at their default only.
fn reads_every_key<T>(r: &Resolved, tables: &[&[KeyDef]], read: fn(&Resolved) -> Result<T>) -> T {
    r.read.lock().unwrap().clear();
    let settings = read(r).unwrap();
    let seen = r.read.lock().unwrap();
    let unread: Vec<&str> = tables
        .iter()
        .flat_map(|t| t.iter())
        .map(|d| d.0)
        .filter(|k| !seen.contains(k) && !NOT_IMPLEMENTED.iter().any(|(n, _)| n == k))
        .collect();
    assert!(unread.is_empty(), "settings never read: {unread:?}");
    settings
}

#[test]
fn typed_settings_read_every_key_from_defaults() {
    let admin = AdminConfig::new().bootstrap_servers("a:1");
    let r = admin.resolve().unwrap();
    let s = reads_every_key(&r, &[COMMON_KEYS, ADMIN_KEYS], AdminSettings::read);
    assert_eq!(s.default_api_timeout, Duration::from_secs(60));
    assert_eq!(s.common.bootstrap_servers, ["a:1"]);
    assert_eq!(s.common.client_id, None);
    assert_eq!(s.common.retry_backoff, Duration::from_millis(100));
    assert_eq!(s.common.retry_backoff_max, Duration::from_millis(1000));
    assert_eq!(
        s.common.connections_max_idle,
        Some(Duration::from_secs(540))
    );
    assert_eq!(s.common.security.protocol, SecurityProtocol::Plaintext);
    assert_eq!(s.common.security.sasl.mechanism, "GSSAPI");
    assert_eq!(s.common.security.tls.truststore_location, None);
    assert_eq!(
        s.common.security.tls.enabled_protocols,
        ["TLSv1.2", "TLSv1.3"]
    );

    let producer = ProducerConfig::new().bootstrap_servers("a:1");
    let r = producer.resolve().unwrap();
    let s = reads_every_key(&r, &[COMMON_KEYS, PRODUCER_KEYS], ProducerSettings::read);
    assert_eq!(s.acks, -1);
    assert!(s.idempotence);
    assert_eq!(s.partitioner, PartitionerKind::Default);
    assert_eq!(s.compression, Compression::None);
    assert_eq!(s.delivery_timeout, Duration::from_secs(120));
    assert_eq!(producer.settings().unwrap().batch_size, 16384);

    let consumer = ConsumerConfig::new().bootstrap_servers("a:1");
    let r = consumer.resolve().unwrap();
    let s = reads_every_key(&r, &[COMMON_KEYS, CONSUMER_KEYS], ConsumerSettings::read);
    assert!(s.group.is_none(), "no group without group.id");
    assert_eq!(s.auto_offset_reset, AutoOffsetReset::Latest);
    assert!(!s.read_committed);
    assert!(s.allow_auto_create_topics);
    assert_eq!(s.client_rack, None);
    assert_eq!(s.fetch_max_wait, Duration::from_millis(500));
    assert!(consumer.settings().unwrap().group.is_none());
    let g = ConsumerConfig::new()
        .bootstrap_servers("a:1")
        .set("group.id", "g")
        .settings()
        .unwrap()
        .group
        .expect("group settings");
    assert_eq!(g.group_protocol, GroupProtocol::Classic);
    assert_eq!(g.auto_commit(), Some(Duration::from_secs(5)));
    assert_eq!(
        g.partition_assignment_strategy,
        ["range", "cooperative-sticky"]
    );
}

#[test]
fn typed_settings_read_every_key_when_all_are_set() {
    let mut admin = AdminConfig::new();
    admin.props = set_every_key(admin.props, &[COMMON_KEYS, ADMIN_KEYS]);
    let r = admin.resolve().unwrap();
    assert!(r.ignored.is_empty(), "{:?}", r.ignored);
    let s = reads_every_key(&r, &[COMMON_KEYS, ADMIN_KEYS], AdminSettings::read);
    assert_eq!(s.default_api_timeout, Duration::from_millis(60001));
    let c = &s.common;
    assert_eq!(c.bootstrap_servers, ["h1:1", "h2:2"]);
    assert_eq!(c.client_id.as_deref(), Some("app"));
    assert_eq!(c.request_timeout, Duration::from_millis(31000));
    assert_eq!(c.connection_setup_timeout, Duration::from_millis(11000));
    assert_eq!(c.connection_setup_timeout_max, Duration::from_millis(32000));
    assert_eq!((c.send_buffer_bytes, c.receive_buffer_bytes), (1001, 1002));
    assert_eq!(c.reconnect_backoff, Duration::from_millis(51));
    assert_eq!(c.reconnect_backoff_max, Duration::from_millis(1001));
    assert_eq!(c.retry_backoff, Duration::from_millis(101));
    assert_eq!(c.retry_backoff_max, Duration::from_millis(1003));
    assert_eq!(c.connections_max_idle, None);
    assert_eq!(c.metadata_max_age, Duration::from_millis(300001));
    assert_eq!(c.receive_message_max_bytes, 2048);
    assert_eq!(
        (&*c.client_software_name, &*c.client_software_version),
        ("sw", "9.9")
    );
    let sec = &c.security;
    assert_eq!(sec.protocol, SecurityProtocol::SaslSsl);
    assert_eq!(sec.sasl.mechanism, "PLAIN");
    assert_eq!(sec.sasl.username.as_deref(), Some("alice"));
    assert_eq!(sec.sasl.password.as_deref(), Some("hunter2-password"));
    assert_eq!(sec.sasl.jaas_config.as_deref(), Some("hunter2-jaas"));
    let t = &sec.tls;
    assert_eq!(t.truststore_location.as_deref(), Some("/trust.pem"));
    assert_eq!(t.truststore_certificates.as_deref(), Some("CERTS"));
    assert_eq!(t.ca_location.as_deref(), Some("/ca.pem"));
    assert_eq!((&*t.truststore_type, &*t.keystore_type), ("pem", "Pem"));
    assert_eq!(t.keystore_location.as_deref(), Some("/keystore.pem"));
    assert_eq!(t.keystore_key.as_deref(), Some("hunter2-key"));
    assert_eq!(t.keystore_certificate_chain.as_deref(), Some("CHAIN"));
    assert_eq!(t.certificate_location.as_deref(), Some("/cert.pem"));
    assert_eq!(t.key_location.as_deref(), Some("/key.pem"));
    assert_eq!(t.key_password.as_deref(), Some("hunter2-keypass"));
    assert_eq!(t.endpoint_identification_algorithm, "");
    assert_eq!(t.enabled_protocols, ["TLSv1.3"]);
    assert_eq!(t.protocol, "TLS");
    assert!(
        !format!("{s:?}").contains("hunter2"),
        "Debug shows a secret: {s:?}"
    );

    let mut producer = ProducerConfig::new();
    producer.props = set_every_key(producer.props, &[COMMON_KEYS, PRODUCER_KEYS]);
    let r = producer.resolve().unwrap();
    let s = reads_every_key(&r, &[COMMON_KEYS, PRODUCER_KEYS], ProducerSettings::read);
    assert_eq!(s.common.retry_backoff, Duration::from_millis(101));
    assert_eq!((s.acks, s.retries), (1, 7));
    assert_eq!(s.delivery_timeout, Duration::from_millis(120001));
    assert_eq!(s.linger, Duration::from_millis(6));
    assert_eq!((s.batch_size, s.buffer_memory), (16385, 33554433));
    assert_eq!(s.max_block, Duration::from_millis(60002));
    assert_eq!(s.max_request_size, 1048577);
    assert_eq!(s.compression, Compression::Gzip);
    assert!(!s.idempotence);
    assert_eq!(s.max_in_flight, 6);
    assert_eq!(s.partitioner, PartitionerKind::RoundRobin);
    assert!(s.partitioner_ignore_keys);
    assert!(!format!("{s:?}").contains("hunter2"));

    let mut consumer = ConsumerConfig::new();
    consumer.props = set_every_key(consumer.props, &[COMMON_KEYS, CONSUMER_KEYS]);
    let r = consumer.resolve().unwrap();
    let s = reads_every_key(&r, &[COMMON_KEYS, CONSUMER_KEYS], ConsumerSettings::read);
    assert!(!s.allow_auto_create_topics);
    assert_eq!((s.fetch_min_bytes, s.fetch_max_bytes), (2, 52428801));
    assert_eq!(s.fetch_max_wait, Duration::from_millis(501));
    assert_eq!(s.max_partition_fetch_bytes, 1048578);
    assert_eq!(s.max_poll_records, 502);
    assert_eq!(s.auto_offset_reset, AutoOffsetReset::Earliest);
    assert!(s.read_committed);
    assert!(!s.check_crcs);
    assert_eq!(s.default_api_timeout, Duration::from_millis(60001));
    assert_eq!(s.client_rack.as_deref(), Some("rack-1"));
    assert!(s.enable_partition_eof);
    let g = s.group.as_ref().expect("group settings");
    assert_eq!(g.group_id, "g");
    assert_eq!(g.group_instance_id.as_deref(), Some("i"));
    assert_eq!(g.group_protocol, GroupProtocol::Consumer);
    assert_eq!(g.session_timeout, Duration::from_millis(45001));
    assert_eq!(g.max_poll_interval, Duration::from_millis(300001));
    assert_eq!(g.heartbeat_interval, Duration::from_millis(3001));
    assert!(!g.enable_auto_commit);
    assert_eq!(g.auto_commit(), None);
    assert_eq!(g.auto_commit_interval, Duration::from_millis(5001));
    assert!(!g.exclude_internal_topics);
    assert_eq!(g.partition_assignment_strategy, ["roundrobin", "sticky"]);
    assert_eq!(g.retry_backoff, Duration::from_millis(101));
    assert_eq!(g.default_api_timeout, Duration::from_millis(60001));
    assert_eq!(g.client_rack.as_deref(), Some("rack-1"));
    assert!(!format!("{s:?}").contains("hunter2"));
}

#[test]
fn typed_settings_check_what_spans_several_keys() {
    let e = err_text(
        ConsumerConfig::new()
            .bootstrap_servers("a:1")
            .set("fetch.max.wait.ms", "30000")
            .settings()
            .unwrap_err(),
    );
    assert!(
        e.contains("fetch.max.wait.ms") && e.contains("request.timeout.ms"),
        "{e}"
    );
    let e = err_text(
        ProducerConfig::new()
            .bootstrap_servers("a:1")
            .set("linger.ms", "100000")
            .settings()
            .unwrap_err(),
    );
    assert!(
        e.contains("delivery.timeout.ms") && e.contains("linger.ms"),
        "{e}"
    );
    let e = err_text(
        ProducerConfig::new()
            .bootstrap_servers("a:1")
            .set("transactional.id", "tx")
            .settings()
            .unwrap_err(),
    );
    assert!(e.contains("transactional.id"), "{e}");
}

#[test]
#[should_panic(expected = "not in the table")]
fn a_misspelt_key_panics() {
    let r = AdminConfig::new()
        .bootstrap_servers("a:1")
        .resolve()
        .unwrap();
    r.millis("default.api.timout.ms");
}
