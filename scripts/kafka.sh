#!/usr/bin/env bash
# Apache Kafka for the tests and benchmarks: resolved from Maven Central into a
# cache outside the tree (keyed by version) and started with plain `java -cp` in
# KRaft mode. No tarballs, no Docker.
#
#   scripts/kafka.sh install [VERSION]        resolve the broker, kafka-tools and
#                                             kafka-clients; print the lib folder
#   scripts/kafka.sh configure DIR [--nodes N] [--version V] [--security PKI_DIR]
#                                             write DIR/node-K/server.properties for
#                                             N combined broker+controller nodes on
#                                             free loopback ports, format their logs;
#                                             DIR/bootstrap holds host:port,...
#   scripts/kafka.sh run DIR K                exec node K in the foreground
#   scripts/kafka.sh start [--nodes N] [--version V] [--dir DIR] [--security PKI_DIR]
#                                             configure + run every node in the
#                                             background + wait until all brokers are
#                                             registered; prints BOOTSTRAP=... and DIR=...
#   scripts/kafka.sh pki PKI_DIR              write a test PKI (openssl CLI) for
#                                             --security: see "Security" below
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
# Security (`--security PKI_DIR`, one node only; PKI_DIR is made by `pki` if it is
# not there): PLAINTEXT stays (inter-broker, tools) and these client listeners are
# added, each on its own free port, advertised on 127.0.0.1 and listed as
# NAME=host:port in DIR/listeners (`start` prints them as LISTENER_NAME=...):
#   SSL             TLS, server.pem (IP:127.0.0.1, DNS:localhost) signed by ca.pem
#   MTLS            TLS with ssl.client.auth=required, clients trusted from ca.pem
#   BADHOST         TLS, badhost.pem: signed by ca.pem, valid for DNS:wrong.invalid only
#   SASL_PLAINTEXT  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (unsecured JWS)
#   SASL_SSL        the same mechanisms over TLS (server.pem)
#   REAUTH          as SASL_PLAINTEXT, with connections.max.reauth.ms=3000 (this
#                   listener only: listener.name.reauth.connections.max.reauth.ms);
#                   the node logs re-authentications and expired-session drops
# Users admin, alice, bob with passwords NAME-secret (PLAIN: the JAAS config; SCRAM:
# both SHA-256 and SHA-512 credentials written by the storage tool at format time);
# OAUTHBEARER takes any unsecured token with a sub claim (the broker's default
# validator). StandardAuthorizer with super.users User:ANONYMOUS (PLAINTEXT, the
# controller) and User:admin, allow.everyone.if.no.acl.found=true.
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

# A test PKI in DIR, made with the openssl CLI: EC P-256 keys, certificates valid
# from a day ago for 30 days. Files (keys are PKCS#8 PEM, unencrypted unless said):
#   ca.pem ca.key                the test CA (trusted by the listeners, the clients)
#   other-ca.pem other-ca.key    an unrelated CA (for "unknown issuer")
#   server.pem server.key        CN=localhost, SAN IP:127.0.0.1 DNS:localhost
#   badhost.pem badhost.key      CN=wrong.invalid, SAN DNS:wrong.invalid only
#   client.pem client.key        CN=alice-client (clientAuth), for MTLS
#   client-enc.key               client.key encrypted (PBES2, AES-256-CBC) with the
#                                password in client-key-pass ("client-key-pass")
#   client-chain.pem             client.pem + ca.pem
#   client-keystore.pem          client.key + client.pem + ca.pem (ssl.keystore.location)
#   client-enc-keystore.pem      client-enc.key + client.pem + ca.pem
#   server-keystore.pem, badhost-keystore.pem
#                                the brokers' PEM key stores: key + certificate + ca.pem
#                                (Kafka reads unencrypted PKCS#8 keys when no
#                                ssl.key.password is set; Java 17 cannot decrypt
#                                PBES2 keys through Kafka's PEM loader)
# Idempotent: an existing complete PKI_DIR (marker .complete) is kept.
pki() {
    local out=$1 work start end
    command -v openssl >/dev/null || die "the openssl CLI is needed for the test PKI (apt-get install openssl)"
    if [[ -f $out/.complete ]]; then echo "$out"; return; fi
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    work=$(mktemp -d "$out/.work-XXXXXX")
    start=$(date -u -d '-1 day' +%y%m%d%H%M%SZ)
    end=$(date -u -d '+29 days' +%y%m%d%H%M%SZ)
    cat >"$work/ca.cnf" <<EOF
[ ca ]
default_ca = testca
[ testca ]
dir = $work
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[ policy_any ]
commonName = supplied
[ req ]
distinguished_name = dn
[ dn ]
[ ca_ext ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \$ENV::PKI_SAN
[ client_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    local ssl_log=$work/openssl.log
    newkey() { # FILE
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>>"$ssl_log" \
            || { cat "$ssl_log" >&2; die "openssl genpkey failed"; }
        chmod 600 "$1"
    }
    sign() { # NAME CN EXTENSIONS SAN [ISSUER]: NAME.key/.pem, self-signed without ISSUER
        local name=$1 cn=$2 ext=$3 san=$4 issuer=${5:-} signer
        newkey "$work/$name.key"
        PKI_SAN=DNS:unused.invalid openssl req -new -config "$work/ca.cnf" -key "$work/$name.key" -subj "/CN=$cn" \
            -out "$work/$name.csr" 2>>"$ssl_log" || { cat "$ssl_log" >&2; die "openssl req failed"; }
        if [[ -z $issuer ]]; then
            : >"$work/index.txt"
            echo 01 >"$work/serial"
            signer=(-selfsign -keyfile "$work/$name.key")
        else
            signer=(-cert "$work/$issuer.pem" -keyfile "$work/$issuer.key")
        fi
        PKI_SAN=${san:-DNS:unused.invalid} openssl ca -batch -notext -config "$work/ca.cnf" "${signer[@]}" \
            -extensions "$ext" -startdate "$start" -enddate "$end" \
            -in "$work/$name.csr" -out "$work/$name.pem" >>"$ssl_log" 2>&1 \
            || { cat "$ssl_log" >&2; die "openssl ca failed for $name"; }
    }
    encrypt() { # IN OUT PASSWORD
        openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$1" -out "$2" -passout "pass:$3" 2>>"$ssl_log" \
            || { cat "$ssl_log" >&2; die "openssl pkcs8 failed"; }
        chmod 600 "$2"
    }
    sign other-ca "kafka-blocking other test CA" ca_ext ""
    sign ca "kafka-blocking test CA" ca_ext ""
    sign server localhost server_ext "IP:127.0.0.1,DNS:localhost" ca
    sign badhost wrong.invalid server_ext "DNS:wrong.invalid" ca
    sign client alice-client client_ext "" ca
    printf 'client-key-pass' >"$work/client-key-pass"
    encrypt "$work/client.key" "$work/client-enc.key" client-key-pass
    cat "$work/client.pem" "$work/ca.pem" >"$work/client-chain.pem"
    cat "$work/client.key" "$work/client-chain.pem" >"$work/client-keystore.pem"
    cat "$work/client-enc.key" "$work/client-chain.pem" >"$work/client-enc-keystore.pem"
    local b
    for b in server badhost; do
        cat "$work/$b.key" "$work/$b.pem" "$work/ca.pem" >"$work/$b-keystore.pem"
    done
    chmod 600 "$work"/*keystore.pem
    local f
    for f in ca other-ca server badhost client; do mv -f "$work/$f.key" "$work/$f.pem" "$out/"; done
    mv -f "$work"/client-* "$work/server-keystore.pem" "$work/badhost-keystore.pem" "$out/"
    rm -rf "$work"
    touch "$out/.complete"
    echo "$out"
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

# The client listeners that --security adds, in port order (see the header), and
# their SASL mechanisms and users (password NAME-secret).
SECURED_LISTENERS=(SSL MTLS BADHOST SASL_PLAINTEXT SASL_SSL REAUTH)
SASL_MECHANISMS=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
SASL_USERS=(admin alice bob)
# connections.max.reauth.ms of the REAUTH listener.
REAUTH_MS=3000

listener_protocol() { # NAME -> its security protocol
    case $1 in
    SSL | MTLS | BADHOST) echo SSL ;;
    SASL_PLAINTEXT | REAUTH) echo SASL_PLAINTEXT ;;
    SASL_SSL) echo SASL_SSL ;;
    *) die "unknown secured listener $1" ;;
    esac
}

# The server.properties lines of secured listener NAME (all listener-prefixed).
listener_properties() { # NAME PKI_DIR
    local name=$1 pki=$2 protocol p u plain_users=""
    protocol=$(listener_protocol "$name")
    p=listener.name.${name,,}.
    if [[ $protocol == *SSL ]]; then
        local cert=server
        [[ $name == BADHOST ]] && cert=badhost
        # A PEM key store: the (unencrypted) PKCS#8 key, the certificate and the CA.
        cat <<EOF
${p}ssl.keystore.type=PEM
${p}ssl.keystore.location=$pki/$cert-keystore.pem
${p}ssl.truststore.type=PEM
${p}ssl.truststore.location=$pki/ca.pem
EOF
        [[ $name == MTLS ]] && echo "${p}ssl.client.auth=required"
    fi
    if [[ $protocol == SASL_* ]]; then
        for u in "${SASL_USERS[@]}"; do plain_users+=" user_$u=\"$u-secret\""; done
        cat <<EOF
${p}sasl.enabled.mechanisms=$SASL_MECHANISMS
${p}plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;
${p}scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
${p}scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
${p}oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
EOF
        [[ $name == REAUTH ]] && echo "${p}connections.max.reauth.ms=$REAUTH_MS"
    fi
    return 0
}

configure() {
    local dir=$1; shift
    local nodes=1 pki_dir=""
    while (($#)); do
        case $1 in
        --nodes) nodes=$2; shift 2 ;;
        --version) VERSION=$2; shift 2 ;;
        --security) pki_dir=$2; shift 2 ;;
        *) die "configure: unknown argument $1" ;;
        esac
    done
    [[ $nodes == 1 || $nodes == 3 ]] || die "--nodes takes 1 or 3, not $nodes"
    local lib ports voters="" bootstrap="" k
    if [[ -n $pki_dir ]]; then
        ((nodes == 1)) || die "--security takes one node (--nodes 1)"
        pki_dir=$(pki "$pki_dir")
    fi
    lib=$(install "$VERSION")
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # Two ports per node (PLAINTEXT, CONTROLLER), then the secured listeners'.
    local nports=$((2 * nodes))
    [[ -z $pki_dir ]] || nports=$((nports + ${#SECURED_LISTENERS[@]}))
    mapfile -t ports < <(free_ports "$nports")
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
    # --security: the secured listeners of the (single) node and their settings.
    local extra_listeners="" extra_advertised="" extra_map="" security="" listeners_file="" i name
    local scram=()
    for ((k = 1; k <= nodes; k++)); do
        listeners_file+="PLAINTEXT=127.0.0.1:${ports[2 * k - 2]}"$'\n'
    done
    if [[ -n $pki_dir ]]; then
        for i in "${!SECURED_LISTENERS[@]}"; do
            name=${SECURED_LISTENERS[$i]}
            extra_listeners+=",$name://127.0.0.1:${ports[2 + i]}"
            extra_advertised+=",$name://127.0.0.1:${ports[2 + i]}"
            extra_map+=",$name:$(listener_protocol "$name")"
            listeners_file+="$name=127.0.0.1:${ports[2 + i]}"$'\n'
            security+=$(listener_properties "$name" "$pki_dir")$'\n'
        done
        security="# --security $pki_dir
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:admin
allow.everyone.if.no.acl.found=true
sasl.enabled.mechanisms=$SASL_MECHANISMS
$security"
        local u m
        for u in "${SASL_USERS[@]}"; do
            for m in SCRAM-SHA-256 SCRAM-SHA-512; do
                scram+=(--add-scram "$m=[name=$u,password=$u-secret]")
            done
        done
    fi
    for ((k = 1; k <= nodes; k++)); do
        local nd=$dir/node-$k
        mkdir -p "$nd/data"
        cat >"$nd/server.properties" <<EOF
# node $k of $nodes (kafka-blocking test bed, Apache Kafka $VERSION)
process.roles=broker,controller
node.id=$k
broker.rack=rack-$k
listeners=PLAINTEXT://127.0.0.1:${ports[2 * k - 2]},CONTROLLER://127.0.0.1:${ports[2 * k - 1]}$extra_listeners
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[2 * k - 2]}$extra_advertised
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT$extra_map
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
        [[ -z $security ]] || printf '%s' "$security" >>"$nd/server.properties"
        if [[ -n ${KAFKA_BLOCKING_KAFKA_EXTRA:-} ]]; then
            printf '%s\n' "$KAFKA_BLOCKING_KAFKA_EXTRA" >>"$nd/server.properties"
        fi
        echo "${ports[2 * k - 2]}" >"$nd/port"
        # shellcheck disable=SC2086
        "$JAVA" $JVM_OPTS -cp "$lib/*" kafka.tools.StorageTool format --cluster-id="$cluster_id" \
            -c "$nd/server.properties" ${scram[@]+"${scram[@]}"} >"$nd/format.log" 2>&1 \
            || { cat "$nd/format.log" >&2; die "formatting node $k failed"; }
    done
    echo "$VERSION" >"$dir/version"
    echo "$nodes" >"$dir/nodes"
    echo "$bootstrap" >"$dir/bootstrap"
    printf '%s' "$listeners_file" >"$dir/listeners"
    if [[ -n $pki_dir ]]; then echo "$pki_dir" >"$dir/security"; else rm -f "$dir/security"; fi
}

run() { # DIR K: exec node K (its output goes wherever ours goes)
    local dir=$1 k=$2 lib
    [[ -f $dir/node-$k/server.properties ]] || die "no node $k in $dir (run configure first)"
    lib=$(install "$(cat "$dir/version")")
    # A secured node logs each SASL re-authentication ("Beginning
    # re-authentication") and each connection it drops for an expired session
    # ("Disconnecting expired channel"), for the re-authentication tests.
    local security_logs=()
    [[ ! -f $dir/security ]] || security_logs=(
        -Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.security.authenticator.SaslServerAuthenticator=debug
        -Dorg.slf4j.simpleLogger.log.kafka.network.Processor=debug
    )
    # shellcheck disable=SC2086
    exec "$JAVA" $JVM_OPTS -Dkafka.logs.dir="$dir/node-$k" \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dorg.slf4j.simpleLogger.showDateTime=true \
        -Dorg.slf4j.simpleLogger.log.kafka.request.logger=warn \
        -Dorg.slf4j.simpleLogger.log.org.apache.kafka.controller=warn \
        -Dorg.slf4j.simpleLogger.log.org.apache.kafka.raft=warn \
        -Dorg.slf4j.simpleLogger.log.kafka.log=warn \
        -Dorg.slf4j.simpleLogger.log.org.apache.kafka.storage=warn \
        ${security_logs[@]+"${security_logs[@]}"} \
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
    local nodes=1 dir="" security=()
    while (($#)); do
        case $1 in
        --nodes) nodes=$2; shift 2 ;;
        --version) VERSION=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --security) security=(--security "$2"); shift 2 ;;
        *) die "start: unknown argument $1" ;;
        esac
    done
    [[ -n $dir ]] || dir=$(mktemp -d "${TMPDIR:-/tmp}/kafka-blocking-kafka-XXXXXX")
    configure "$dir" --nodes "$nodes" --version "$VERSION" ${security[@]+"${security[@]}"}
    dir=$(cd "$dir" && pwd)
    local k
    for ((k = 1; k <= nodes; k++)); do
        # setsid: the node outlives this script and its terminal; `stop` ends it.
        setsid bash "$here/scripts/kafka.sh" run "$dir" "$k" </dev/null >"$dir/node-$k/server.log" 2>&1 &
        echo $! >"$dir/node-$k/pid"
    done
    wait_ready "$dir" 120
    echo "BOOTSTRAP=$(cat "$dir/bootstrap")"
    ((${#security[@]} == 0)) || sed 's/^/LISTENER_/' "$dir/listeners"
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
configure) [[ $# -ge 1 ]] || die "usage: configure DIR [--nodes N] [--security PKI_DIR]"; configure "$@" ;;
pki) [[ $# -eq 1 ]] || die "usage: pki PKI_DIR"; pki "$1" ;;
run) [[ $# -eq 2 ]] || die "usage: run DIR K"; run "$@" ;;
start) start "$@" ;;
stop) [[ $# -ge 1 ]] || die "usage: stop DIR [--keep]"; stop "$@" ;;
*) sed -n '2,/^set -euo/{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; [[ -z $cmd ]] || exit 2 ;;
esac
