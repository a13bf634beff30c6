#!/usr/bin/env bash
# Runs every stadtbote-bench scenario against its own fresh release server
# started with deploy/bench.toml, and appends each scenario's JSON line to
# $OUT (default target/bench-results.jsonl). The figures in docs/BENCHMARKS.md come
# from this script; the numbers below are the issue's target sizes.
#
#   cargo build --release -p stadtbote-server -p stadtbote-bench -p stadtbote-cli
#   bench/run-all.sh            # all scenarios
#   bench/run-all.sh relay      # one scenario
#   bench/run-all.sh client-io  # the client: send and inbox with a long history
#   PIN=1 bench/run-all.sh fanout        # server on core 0, generator on core 1
#   PIN=1 POSTS=20 bench/run-all.sh fanout  # a burst of 20 posts
#
# PIN=1 pins the server to core $SERVER_CPU (default 0) and the generator to
# core $GEN_CPU (default 1) with taskset, so that each has one core of its
# own (issue 20's "per core" figures). SERVER_BIN runs another server binary
# (e.g. an older build for a before/after comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
SERVER_BIN=${SERVER_BIN:-$BIN/stadtbote-server}
SERVER_PIN=()
GEN_PIN=()
if [ "${PIN:-0}" = 1 ]; then
    SERVER_PIN=(taskset -c "${SERVER_CPU:-0}")
    GEN_PIN=(taskset -c "${GEN_CPU:-1}")
fi
OUT=${OUT:-target/bench-results.jsonl}
PORT=${PORT:-18570}
URL="ws://127.0.0.1:$PORT/v1/ws"
# Both processes need more than the usual 1024 descriptors.
ulimit -n "$(ulimit -Hn)"

SERVER_PID=
DATA=
start_server() {
    DATA=$(mktemp -d /tmp/stadtbote-bench.XXXXXX)
    STADTBOTE_LISTEN=127.0.0.1:$PORT STADTBOTE_METRICS_LISTEN= STADTBOTE_LOG=warn \
        "${SERVER_PIN[@]}" "$SERVER_BIN" --config deploy/bench.toml --data-dir "$DATA/data" \
        >"$DATA/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        [ -f "$DATA/data/admin-claim.code" ] && return 0
        sleep 0.1
    done
    echo "server did not start; see $DATA/server.log" >&2
    exit 1
}
stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    rm -rf "$DATA"
}
trap stop_server EXIT

run() {
    local name=$1
    shift
    start_server
    # '$PID' and '$CODE' stand for the fresh server's pid and claim code file.
    local args=() a
    for a in "$@"; do
        case $a in
        '$PID') args+=("$SERVER_PID") ;;
        '$CODE') args+=("$DATA/data/admin-claim.code") ;;
        *) args+=("$a") ;;
        esac
    done
    echo "+ ${GEN_PIN[*]} $BIN/stadtbote-bench --server $URL --json ${args[*]} (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "${GEN_PIN[@]}" "$BIN/stadtbote-bench" --server "$URL" --json "${args[@]}" | tee /dev/stderr | tail -n 1 >>"$OUT"
    stop_server
}

want() { [ $# -eq 0 ] || [[ " $* " == *" $SCENARIO "* ]]; }
ARGS=("$@")
for SCENARIO in idle relay relay-half offline fanout upload client-io; do
    want "${ARGS[@]}" || continue
    case $SCENARIO in
    idle) run idle idle --connections "${IDLE_CONNS:-15000}" --server-pid '$PID' ;;
    relay) run relay relay --pairs "${PAIRS:-250}" --duration "${DURATION:-10}" --size 1024 --window "${WINDOW:-4}" --server-pid '$PID' ;;
    relay-half) run relay relay --pairs "${PAIRS:-250}" --duration "${DURATION:-10}" --size 1024 --rate "${HALF_RATE:-10000}" --server-pid '$PID' ;;
    offline) run offline offline --messages "${OFFLINE_MSGS:-10000}" --server-pid '$PID' ;;
    fanout) run fanout fanout --followers "${FOLLOWERS:-10000}" --posts "${POSTS:-1}" --admin-code-file '$CODE' --server-pid '$PID' ;;
    upload) run upload upload --size 20 --held "${HELD:-8}" --server-pid '$PID' ;;
    # CLIENT_DIR must be on a disk (write_bytes is 0 on tmpfs).
    client-io) run client-io client-io --history "${CLIENT_HISTORY:-1000}" --runs "${CLIENT_RUNS:-20}" \
        --stadtbote "$BIN/stadtbote" --dir "${CLIENT_DIR:-${TMPDIR:-/tmp}}" ${CLIENT_STRACE:+--strace} ;;
    esac
done
