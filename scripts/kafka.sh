#!/usr/bin/env bash
# Apache Kafka for the tests and benchmarks: resolved from Maven Central into a
# cache outside the tree (keyed by version) and started with plain `java -cp` in
# KRaft mode. No tarballs, no Docker.
#
#   scripts/kafka.sh install [VERSION]        resolve the broker, kafka-tools and
#                                             kafka-clients; print the lib folder
#   scripts/kafka.sh configure DIR [--nodes N] [--version V]
#                                             write DIR/node-K/server.properties for
#                                             N combined broker+controller nodes on
#                                             free loopback ports, format their logs;
#                                             DIR/bootstrap holds host:port,...
#   scripts/kafka.sh run DIR K                exec node K in the foreground
#   scripts/kafka.sh start [--nodes N] [--version V] [--dir DIR]
#                                             configure + run every node in the
#                                             background + wait until all brokers are
#                                             registered; prints BOOTSTRAP=... and DIR=...
#   scripts/kafka.sh stop DIR [--keep]        kill the nodes, remove DIR (unless --keep)
#   scripts/kafka.sh classpath [VERSION]      print the java class path
#
# Shapes: one node (the ordinary suites: replication factor 1 everywhere) or three
# (failures: default replication factor 3, min.insync.replicas=2, broker.rack=rack-K,
# a quorum of three controllers). Small heaps and segments so that three nodes start
# within seconds on two cores.
#
# Listeners: PLAINTEXT (clients) and CONTROLLER (the quorum), laid out in
# `listeners`/`listener.security.protocol.map` so that SSL and SASL listeners can be
# added beside PLAINTEXT.
#
# Environment: KAFKA_BLOCKING_KAFKA_VERSION (default below), KAFKA_BLOCKING_CACHE
# (as scripts/test.sh), KAFKA_BLOCKING_JVM_OPTS (heap/GC/JIT options for the
# brokers), KAFKA_BLOCKING_JAVA (the java binary), KAFKA_BLOCKING_KAFKA_EXTRA
# (extra server.properties lines, separated by newlines, for every node).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

DEFAULT_VERSION=4.4.0
VERSION=${KAFKA_BLOCKING_KAFKA_VERSION:-$DEFAULT_VERSION}
JAVA=${KAFKA_BLOCKING_JAVA:-java}
PYTHON=${KAFKA_BLOCKING_PYTHON:-python3}
JVM_OPTS=${KAFKA_BLOCKING_JVM_OPTS:--Xms192m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xshare:auto}

die() { echo "kafka.sh: $*" >&2; exit 1; }

cache_root() { # same resolution as scripts/test.sh and tests/support/tansu.rs
    if [[ -n ${KAFKA_BLOCKING_CACHE:-} ]]; then echo "$KAFKA_BLOCKING_CACHE"
    elif [[ -n ${XDG_CACHE_HOME:-} ]]; then echo "$XDG_CACHE_HOME/kafka-blocking"
    elif [[ -n ${HOME:-} ]]; then echo "$HOME/.cache/kafka-blocking"
    else echo "${TMPDIR:-/tmp}/kafka-blocking-cache"; fi
}

# Resolves org.apache.kafka:kafka_2.13, kafka-tools and kafka-clients VERSION with
# their runtime dependencies into CACHE/kafka-VERSION/lib (once; atomic rename).
install() {
    local version=$1 dir lib work
    dir=$(cache_root)/kafka-$version
    lib=$dir/lib
    if [[ -f $lib/.complete ]]; then echo "$lib"; return; fi
    command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Apache Kafka $version from Maven Central (apt-get install maven)"
    mkdir -p "$dir"
    work=$(mktemp -d "$dir/.install-XXXXXX")
    cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafka-blocking.testbed</groupId>
  <artifactId>kafka-$version</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>$version</version></dependency>
  </dependencies>
</project>
EOF
    echo "kafka.sh: resolving Apache Kafka $version from Maven Central into $lib" >&2
    if ! mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$work/lib" >"$work/mvn.log" 2>&1; then
        cat "$work/mvn.log" >&2
        rm -rf "$work"
        die "could not resolve Apache Kafka $version"
    fi
    # The broker logs through SLF4J, whose binding is not a runtime dependency of
    # the Maven artifacts: add slf4j-simple of the same SLF4J version (works for
    # every broker line; configured by -Dorg.slf4j.simpleLogger.* in `run`).
    local slf4j
    slf4j=$(cd "$work/lib" && ls slf4j-api-*.jar 2>/dev/null | sed -n 's/^slf4j-api-\(.*\)\.jar$/\1/p' | head -1)
    [[ -n $slf4j ]] || { rm -rf "$work"; die "no slf4j-api among Kafka $version's dependencies"; }
    if ! mvn -q -B dependency:copy -Dartifact="org.slf4j:slf4j-simple:$slf4j" \
        -DoutputDirectory="$work/lib" >"$work/mvn.log" 2>&1; then
        cat "$work/mvn.log" >&2
        rm -rf "$work"
        die "could not resolve org.slf4j:slf4j-simple:$slf4j"
    fi
    touch "$work/lib/.complete"
    rm -rf "$lib"
    mv "$work/lib" "$lib"
    rm -rf "$work"
    echo "$lib"
}

free_ports() { # N -> N distinct free loopback ports, one per line
    "$PYTHON" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks:
    print(s.getsockname()[1])
PY
}

configure() {
    local dir=$1; shift
    local nodes=1
    while (($#)); do
        case $1 in
        --nodes) nodes=$2; shift 2 ;;
        --version) VERSION=$2; shift 2 ;;
        *) die "configure: unknown argument $1" ;;
        esac
    done
    [[ $nodes == 1 || $nodes == 3 ]] || die "--nodes takes 1 or 3, not $nodes"
    local lib ports voters="" bootstrap="" k
    lib=$(install "$VERSION")
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    mapfile -t ports < <(free_ports $((2 * nodes)))
    for ((k = 1; k <= nodes; k++)); do
        voters+="${voters:+,}$k@127.0.0.1:${ports[2 * k - 1]}"
        bootstrap+="${bootstrap:+,}127.0.0.1:${ports[2 * k - 2]}"
    done
    local rf=1 isr=1
    if ((nodes == 3)); then rf=3; isr=2; fi
    local cluster_id
    # 16 random bytes, URL-safe base64 without padding, never starting with '-'
    # (the storage tool would read such an id as an option, as Kafka's own
    # Uuid.randomUuid avoids for the same reason: one start in 64 failed).
    cluster_id=$("$PYTHON" -c '
import base64, os
while True:
    i = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not i.startswith("-"):
        print(i)
        break
')
    for ((k = 1; k <= nodes; k++)); do
        local nd=$dir/node-$k
        mkdir -p "$nd/data"
        cat >"$nd/server.properties" <<EOF
# node $k of $nodes (kafka-blocking test bed, Apache Kafka $VERSION)
process.roles=broker,controller
node.id=$k
broker.rack=rack-$k
listeners=PLAINTEXT://127.0.0.1:${ports[2 * k - 2]},CONTROLLER://127.0.0.1:${ports[2 * k - 1]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[2 * k - 2]}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.voters=$voters
log.dirs=$nd/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
log.segment.bytes=8388608
log.retention.check.interval.ms=60000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
replica.lag.time.max.ms=10000
controlled.shutdown.enable=true
auto.create.topics.enable=true
delete.topic.enable=true
unstable.api.versions.enable=false
EOF
        if [[ -n ${KAFKA_BLOCKING_KAFKA_EXTRA:-} ]]; then
            printf '%s\n' "$KAFKA_BLOCKING_KAFKA_EXTRA" >>"$nd/server.properties"
        fi
        echo "${ports[2 * k - 2]}" >"$nd/port"
        # shellcheck disable=SC2086
        "$JAVA" $JVM_OPTS -cp "$lib/*" kafka.tools.StorageTool format --cluster-id="$cluster_id" \
            -c "$nd/server.properties" >"$nd/format.log" 2>&1 \
            || { cat "$nd/format.log" >&2; die "formatting node $k failed"; }
    done
    echo "$VERSION" >"$dir/version"
    echo "$nodes" >"$dir/nodes"
    echo "$bootstrap" >"$dir/bootstrap"
}

run() { # DIR K: exec node K (its output goes wherever ours goes)
    local dir=$1 k=$2 lib
    [[ -f $dir/node-$k/server.properties ]] || die "no node $k in $dir (run configure first)"
    lib=$(install "$(cat "$dir/version")")
    # shellcheck disable=SC2086
    exec "$JAVA" $JVM_OPTS -Dkafka.logs.dir="$dir/node-$k" \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dorg.slf4j.simpleLogger.showDateTime=true \
        -Dorg.slf4j.simpleLogger.log.kafka.request.logger=warn \
        -Dorg.slf4j.simpleLogger.log.org.apache.kafka.controller=warn \
        -Dorg.slf4j.simpleLogger.log.org.apache.kafka.raft=warn \
        -Dorg.slf4j.simpleLogger.log.kafka.log=warn \
        -Dorg.slf4j.simpleLogger.log.org.apache.kafka.storage=warn \
        -cp "$lib/*" kafka.Kafka "$dir/node-$k/server.properties"
}

wait_ready() { # DIR TIMEOUT_S: every node logged "Kafka Server started"
    local dir=$1 timeout=$2 nodes k start=$SECONDS
    nodes=$(cat "$dir/nodes")
    for ((k = 1; k <= nodes; k++)); do
        until grep -q "Kafka Server started" "$dir/node-$k/server.log" 2>/dev/null; do
            if [[ -f $dir/node-$k/pid ]] && ! kill -0 "$(cat "$dir/node-$k/pid")" 2>/dev/null; then
                tail -40 "$dir/node-$k/server.log" >&2
                die "node $k exited during start-up (log: $dir/node-$k/server.log)"
            fi
            ((SECONDS - start < timeout)) || die "node $k not started after ${timeout}s (log: $dir/node-$k/server.log)"
            sleep 0.2
        done
    done
}

start() {
    local nodes=1 dir=""
    while (($#)); do
        case $1 in
        --nodes) nodes=$2; shift 2 ;;
        --version) VERSION=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        *) die "start: unknown argument $1" ;;
        esac
    done
    [[ -n $dir ]] || dir=$(mktemp -d "${TMPDIR:-/tmp}/kafka-blocking-kafka-XXXXXX")
    configure "$dir" --nodes "$nodes" --version "$VERSION"
    dir=$(cd "$dir" && pwd)
    local k
    for ((k = 1; k <= nodes; k++)); do
        # setsid: the node outlives this script and its terminal; `stop` ends it.
        setsid bash "$here/scripts/kafka.sh" run "$dir" "$k" </dev/null >"$dir/node-$k/server.log" 2>&1 &
        echo $! >"$dir/node-$k/pid"
    done
    wait_ready "$dir" 120
    echo "BOOTSTRAP=$(cat "$dir/bootstrap")"
    echo "DIR=$dir"
}

stop() {
    local dir=$1 keep=${2:-} f pid
    [[ -d $dir ]] || return 0
    for f in "$dir"/node-*/pid; do
        [[ -f $f ]] || continue
        pid=$(cat "$f")
        kill -9 "$pid" 2>/dev/null || true
    done
    for f in "$dir"/node-*/pid; do
        [[ -f $f ]] || continue
        pid=$(cat "$f")
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
        rm -f "$f"
    done
    [[ $keep == --keep ]] || rm -rf "$dir"
}

cmd=${1:-}
shift || true
case $cmd in
install) install "${1:-$VERSION}" ;;
classpath) echo "$(install "${1:-$VERSION}")/*" ;;
configure) [[ $# -ge 1 ]] || die "usage: configure DIR [--nodes N]"; configure "$@" ;;
run) [[ $# -eq 2 ]] || die "usage: run DIR K"; run "$@" ;;
start) start "$@" ;;
stop) [[ $# -ge 1 ]] || die "usage: stop DIR [--keep]"; stop "$@" ;;
*) sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; [[ -z $cmd ]] || exit 2 ;;
esac
