//! `close()` (and drop) leave no thread behind: the connections' reader
//! threads are joined. Also: a consumer can move to another thread (`Send`).
//! Alone in its test binary so that no other test's connections are counted.

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod util;

#[path = "support/threads.rs"]
mod threads;

use std::time::Duration;

use kafka_blocking::consumer::TopicPartition;

use util::{consumer, create_topic, python, read_n};

/// Threads of this process whose name starts like a connection reader's
/// (`kafka-conn-host:port`, cut to 15 characters by the kernel).
fn connection_threads() -> usize {
    threads::named("kafka-conn").len()
}

/// The connection threads left once joined threads had time to leave `/proc`
/// (see [`threads::remaining_after_grace`]).
fn connection_threads_left() -> Vec<String> {
    threads::remaining_after_grace("kafka-conn")
}

#[test]
fn close_and_drop_join_every_connection_thread() {
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("consumer-close");
    create_topic(&bootstrap, &topic, 2);
    python(
        "import sys\nfrom kafka import KafkaProducer\np = KafkaProducer(bootstrap_servers=sys.argv[1])\n\
         [p.send(sys.argv[2], value=b'x', partition=i % 2) for i in range(10)]\np.flush()\np.close()",
        &[&bootstrap, &topic],
    );
    assert_eq!(connection_threads_left(), Vec::<String>::new());
    let mut c = consumer(&bootstrap, &[("auto.offset.reset", "earliest")]);
    c.assign((0..2).map(|p| TopicPartition::new(&topic, p)))
        .unwrap();
    assert_eq!(read_n(&mut c, 10, Duration::from_secs(60)).len(), 10);
    assert!(connection_threads() > 0);
    // Send: keep consuming on another thread.
    let mut c = std::thread::spawn(move || {
        assert!(c.poll(Duration::from_millis(100)).unwrap().is_empty());
        c
    })
    .join()
    .unwrap();
    assert!(c.fetches_in_flight() <= 1);
    c.close();
    assert_eq!(
        connection_threads_left(),
        Vec::<String>::new(),
        "close() joined the reader threads"
    );
    let e = c.poll(Duration::from_millis(10)).unwrap_err();
    assert!(e.to_string().contains("closed"), "{e}");
    c.close(); // idempotent

    let mut d = consumer(&bootstrap, &[("auto.offset.reset", "earliest")]);
    d.assign(vec![TopicPartition::new(&topic, 0)]).unwrap();
    assert!(!read_n(&mut d, 1, Duration::from_secs(60)).is_empty());
    assert!(connection_threads() > 0);
    drop(d);
    assert_eq!(
        connection_threads_left(),
        Vec::<String>::new(),
        "drop joined the reader threads"
    );
}
