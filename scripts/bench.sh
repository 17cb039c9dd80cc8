#!/usr/bin/env bash
# Producer and consumer throughput beside the other clients, in one run, against
# one local broker (tansu, or one Apache Kafka node):
#   kafka-blocking  examples/producer_perf.rs, consumer_perf.rs (release build)
#   kcat            C, librdkafka 2.16 (the confluent-kafka wheel's library)
#   confluent-kafka Python, librdkafka 2.16
#   java            Apache Kafka's own ProducerPerformance / ConsumerPerformance
#                   (kafka-tools, the Java client; skipped when Java is missing)
# Same settings for all: 100-byte records, acks=all, linger.ms=5,
# batch.size=65536, enable.idempotence=true; each consumer reads the records
# kcat wrote, from the beginning.
#
# Usage: scripts/bench.sh [--broker tansu|kafka] [NUM_RECORDS]   (default tansu, 1000000)
# Prints records/s (whole process, wall clock, JVM start-up included for java)
# and client CPU µs per record.
set -euo pipefail
cd "$(dirname "$0")/.."
BROKER=tansu
if [[ ${1:-} == --broker ]]; then BROKER=$2; shift 2; fi
[[ $BROKER == tansu || $BROKER == kafka ]] || { echo "bench.sh: --broker takes tansu or kafka"; exit 2; }
N=${1:-1000000}
PYTHON=${KAFKA_BLOCKING_PYTHON:-python3}
command -v kcat >/dev/null || { echo "bench.sh: kcat is missing (apt-get install kcat)"; exit 1; }
[[ -x /usr/bin/time ]] || { echo "bench.sh: /usr/bin/time is missing (apt-get install time)"; exit 1; }

cargo build -q --release --example producer_perf --example consumer_perf 2>/dev/null \
    || cargo build -q --release --example producer_perf

work=$(mktemp -d)
if [[ $BROKER == tansu ]]; then
    # tansu from the test cache (scripts/test.sh installs it).
    cache=${KAFKA_BLOCKING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka-blocking}
    tansu=${KAFKA_BLOCKING_TANSU:-$cache/tansu-0.6.0/tansu}
    [[ -x $tansu ]] || { echo "bench.sh: $tansu is missing: run scripts/test.sh once"; exit 1; }
    port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    RUST_LOG=warn "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://tansu/ >"$work/tansu.log" 2>&1 &
    tansu_pid=$!
    trap 'kill $tansu_pid 2>/dev/null; rm -rf "$work"' EXIT
    for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
    bootstrap=127.0.0.1:$port
    broker_name="tansu 0.6.0"
else
    # One Apache Kafka node, with the JIT and heap a benchmark wants (the test
    # bed's defaults favour start-up time).
    trap 'bash scripts/kafka.sh stop "$work/kafka"; rm -rf "$work"' EXIT
    KAFKA_BLOCKING_JVM_OPTS=${KAFKA_BLOCKING_BENCH_JVM_OPTS:--Xms1g -Xmx1g -XX:+UseG1GC} \
        bash scripts/kafka.sh start --nodes 1 --dir "$work/kafka" >/dev/null
    bootstrap=$(cat "$work/kafka/bootstrap")
    broker_name="Apache Kafka $(cat "$work/kafka/version") (one KRaft node)"
fi
java_cp=""
if command -v java >/dev/null && command -v mvn >/dev/null; then
    java_cp=$(bash scripts/kafka.sh classpath)
else
    echo "bench.sh: no java/mvn: the Java client's rows are left out"
fi
librdkafka=$("$PYTHON" -c 'import confluent_kafka,glob,os;print(glob.glob(os.path.dirname(confluent_kafka.__file__)+"/../confluent_kafka.libs/librdkafka*")[0])')

"$PYTHON" - "$bootstrap" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
for f in a.create_topics([NewTopic(t, 1, 1) for t in ("bench-ours", "bench-kcat", "bench-confluent", "bench-java")]).values():
    f.result()
PY
"$PYTHON" -c "import sys; sys.stdout.write(('x'*100+'\n')*$N)" >"$work/records.txt"

report() { # name seconds user sys
    awk -v n="$N" -v name="$1" -v e="$2" -v u="$3" -v s="$4" \
        'BEGIN { printf "%-16s %10.0f records/s  %6.2f s wall  %5.2f us CPU/record\n", name, n/e, e, (u+s)*1e6/n }'
}
run() { # name command...
    local name=$1; shift
    /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >"$work/out" 2>&1 || { cat "$work/out"; exit 1; }
    read -r e u s <"$work/time"
    report "$name" "$e" "$u" "$s"
}

echo "producing $N records of 100 bytes to $broker_name at $bootstrap (acks=all linger.ms=5 batch.size=65536 idempotence)"
run kafka-blocking target/release/examples/producer_perf --topic bench-ours --num-records "$N" --record-size 100 \
    --throughput -1 --producer-props "bootstrap.servers=$bootstrap" acks=all linger.ms=5 batch.size=65536 enable.idempotence=true
sed 's/^/    /' "$work/out" | grep records
run kcat env LD_PRELOAD="$librdkafka" kcat -P -b "$bootstrap" -t bench-kcat -X acks=all -X linger.ms=5 \
    -X batch.size=65536 -X enable.idempotence=true -l "$work/records.txt"
run confluent-kafka "$PYTHON" -c "
import sys
from confluent_kafka import Producer
p = Producer({'bootstrap.servers': '$bootstrap', 'acks': 'all', 'linger.ms': 5, 'batch.size': 65536,
              'enable.idempotence': True, 'queue.buffering.max.messages': 2000000})
v = b'x' * 100
for i in range($N):
    while True:
        try:
            p.produce('bench-confluent', v); break
        except BufferError:
            p.poll(0.01)
assert p.flush(60) == 0
"

if [[ -n $java_cp ]]; then
    run java java -Xmx512m -cp "$java_cp" org.apache.kafka.tools.ProducerPerformance --topic bench-java \
        --num-records "$N" --record-size 100 --throughput -1 --producer-props "bootstrap.servers=$bootstrap" \
        acks=all linger.ms=5 batch.size=65536 enable.idempotence=true
fi

if [[ -x target/release/examples/consumer_perf ]]; then
    echo
    echo "consuming the $N records of bench-kcat"
    run kafka-blocking target/release/examples/consumer_perf --bootstrap-server "$bootstrap" --topic bench-kcat --messages "$N"
    run kcat env LD_PRELOAD="$librdkafka" kcat -C -b "$bootstrap" -t bench-kcat -o beginning -e -q -c "$N"
    run confluent-kafka "$PYTHON" -c "
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
c = Consumer({'bootstrap.servers': '$bootstrap', 'group.id': 'bench', 'enable.auto.commit': False})
c.assign([TopicPartition('bench-kcat', 0, OFFSET_BEGINNING)])
n = 0
while n < $N:
    for m in c.consume(10000, 5):
        if not m.error(): n += 1
c.close()
"
    if [[ -n $java_cp ]]; then
        run java java -Xmx512m -cp "$java_cp" org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$bootstrap" \
            --topic bench-kcat --num-records "$N" --timeout 60000 --group "bench-java-$$"
    fi
fi
