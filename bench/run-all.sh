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
#   bench/run-all.sh fanout-cluster  # one post to followers over 3 nodes on one PostgreSQL
#   bench/run-all.sh relay-pg        # the relay scenario, one node on a throwaway PostgreSQL
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

# fanout-cluster (issue 20 item 2): a throwaway PostgreSQL (initdb/pg_ctl
# in $PG_BIN), three nodes on it sharing one data directory, followers
# spread over the three, the publisher on the first. Appends the bench's
# JSON line and one line with each node's cluster_posts_read_total (each
# node must read each post once, however many followers it holds).
# PostgreSQL's tools: where the real initdb lives (it has psql next to it).
PG_BIN=${PG_BIN:-$(dirname "$(readlink -f "$(command -v initdb || echo /usr/local/bin/initdb)")")}
run_fanout_cluster() {
    if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
        echo "SKIPPED: fanout-cluster needs PostgreSQL (initdb and pg_ctl in PG_BIN=$PG_BIN)" >&2
        return 0
    fi
    local root pgport db as=() pids=() urls=() mports=() i
    root=$(mktemp -d /tmp/stadtbote-bench-pg.XXXXXX)
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$root"
        as=(runuser -u postgres --)
    fi
    pgport=$((PORT + 100))
    # Stops the nodes and PostgreSQL however the scenario ends.
    cleanup_cluster() {
        local p
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
        "${as[@]}" "$PG_BIN/pg_ctl" -D "$root/pg" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$root"
    }
    trap 'cleanup_cluster; stop_server' EXIT
    "${as[@]}" "$PG_BIN/initdb" -D "$root/pg" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
    "${as[@]}" "$PG_BIN/pg_ctl" -D "$root/pg" -l "$root/pg.log" -w start \
        -o "-k $root -p $pgport -c listen_addresses='' -c max_connections=200" >/dev/null
    "${as[@]}" "$PG_BIN/psql" -h "$root" -p "$pgport" -U postgres -d postgres -qc "CREATE DATABASE bench"
    db="host=$root port=$pgport user=postgres dbname=bench"
    mkdir -p "$root/shared"
    for i in 0 1 2; do
        urls+=("ws://127.0.0.1:$((PORT + i))/v1/ws")
        mports+=($((PORT + 20 + i)))
        STADTBOTE_LISTEN=127.0.0.1:$((PORT + i)) STADTBOTE_METRICS_LISTEN=127.0.0.1:$((PORT + 20 + i)) \
            STADTBOTE_LOG=warn STADTBOTE_STORE=postgres STADTBOTE_DATABASE_URL="$db" \
            STADTBOTE_PG_POOL_SIZE=${PG_POOL:-8} \
            "${SERVER_PIN[@]}" "$SERVER_BIN" --config deploy/bench.toml --data-dir "$root/shared/data" \
            >"$root/node$i.log" 2>&1 &
        pids+=($!)
        # One after another: the first applies the schema.
        for _ in $(seq 200); do
            curl -fs "http://127.0.0.1:$((PORT + i))/healthz" >/dev/null 2>&1 && break
            sleep 0.1
        done
    done
    local servers
    servers=$(IFS=,; echo "${urls[*]}")
    echo "+ 3 nodes on PostgreSQL; ${GEN_PIN[*]} $BIN/stadtbote-bench --server ${urls[0]} fanout --servers $servers (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "${GEN_PIN[@]}" "$BIN/stadtbote-bench" --server "${urls[0]}" --json fanout \
        --followers "${FOLLOWERS:-10000}" --posts "${POSTS:-1}" \
        --admin-code-file "$root/shared/data/admin-claim.code" --server-pid "${pids[0]}" \
        --servers "$servers" | tee /dev/stderr | tail -n 1 >>"$OUT"
    local reads=()
    for i in 0 1 2; do
        reads+=("$(curl -fs "http://127.0.0.1:${mports[$i]}/metrics" |
            sed -n 's/^stadtbote_cluster_posts_read_total //p')")
    done
    echo "{\"scenario\":\"fanout-cluster-reads\",\"posts\":${POSTS:-1},\"posts_read_per_node\":[${reads[0]:-null},${reads[1]:-null},${reads[2]:-null}],\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" |
        tee /dev/stderr >>"$OUT"
    cleanup_cluster
    trap stop_server EXIT
}

# relay-pg (issue 19, benchmarks): the relay scenario against one node on a
# throwaway PostgreSQL (initdb/pg_ctl in $PG_BIN, Unix socket, fsync on, a
# fresh database), pool size $PG_POOL (default 16). Appends the bench's JSON
# line, then one line with PostgreSQL's WAL and transaction counters
# (pg_stat_wal, pg_stat_database) taken right after the run.
run_relay_pg() {
    if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
        echo "SKIPPED: relay-pg needs PostgreSQL (initdb and pg_ctl in PG_BIN=$PG_BIN)" >&2
        return 0
    fi
    local pgport db
    RPG_AS=()
    RPG_PID=
    RPG_ROOT=$(mktemp -d /tmp/stadtbote-bench-pg.XXXXXX)
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$RPG_ROOT"
        RPG_AS=(runuser -u postgres --)
    fi
    pgport=$((PORT + 101))
    cleanup_relay_pg() {
        if [ -n "${RPG_PID:-}" ]; then kill "$RPG_PID" 2>/dev/null || true; wait "$RPG_PID" 2>/dev/null || true; fi
        "${RPG_AS[@]}" "$PG_BIN/pg_ctl" -D "$RPG_ROOT/pg" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$RPG_ROOT"
    }
    trap 'cleanup_relay_pg; stop_server' EXIT
    "${RPG_AS[@]}" "$PG_BIN/initdb" -D "$RPG_ROOT/pg" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
    "${RPG_AS[@]}" "$PG_BIN/pg_ctl" -D "$RPG_ROOT/pg" -l "$RPG_ROOT/pg.log" -w start \
        -o "-k $RPG_ROOT -p $pgport -c listen_addresses='' -c max_connections=200" >/dev/null
    "${RPG_AS[@]}" "$PG_BIN/psql" -h "$RPG_ROOT" -p "$pgport" -U postgres -d postgres -qc "CREATE DATABASE bench"
    db="host=$RPG_ROOT port=$pgport user=postgres dbname=bench"
    mkdir -p "$RPG_ROOT/node"
    STADTBOTE_LISTEN=127.0.0.1:$PORT STADTBOTE_METRICS_LISTEN= STADTBOTE_LOG=warn \
        STADTBOTE_STORE=postgres STADTBOTE_DATABASE_URL="$db" STADTBOTE_PG_POOL_SIZE=${PG_POOL:-16} \
        "${SERVER_PIN[@]}" "$SERVER_BIN" --config deploy/bench.toml --data-dir "$RPG_ROOT/node/data" \
        >"$RPG_ROOT/node.log" 2>&1 &
    RPG_PID=$!
    for _ in $(seq 200); do
        curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    echo "+ 1 node on PostgreSQL; ${GEN_PIN[*]} $BIN/stadtbote-bench --server $URL relay (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "${GEN_PIN[@]}" "$BIN/stadtbote-bench" --server "$URL" --json relay --pairs "${PAIRS:-250}" \
        --duration "${DURATION:-10}" --size 1024 --window "${WINDOW:-4}" --server-pid "$RPG_PID" \
        ${PREPARE:+--prepare "$PREPARE"} |
        tee -a /dev/stderr | tail -n 1 >>"$OUT"
    local stats
    stats=$("${RPG_AS[@]}" "$PG_BIN/psql" -h "$RPG_ROOT" -p "$pgport" -U postgres -d bench -Atc \
        "SELECT w.wal_sync, d.xact_commit, (SELECT count(*) FROM messages) FROM pg_stat_wal w, pg_stat_database d WHERE d.datname = 'bench'" || true)
    echo "{\"scenario\":\"relay-pg-stats\",\"wal_sync_xact_commit_messages_left\":\"$stats\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" |
        tee -a /dev/stderr >>"$OUT"
    cleanup_relay_pg
    trap stop_server EXIT
}

want() { [ $# -eq 0 ] || [[ " $* " == *" $SCENARIO "* ]]; }
ARGS=("$@")
for SCENARIO in idle relay relay-half relay-pg offline fanout fanout-cluster upload client-io; do
    want "${ARGS[@]}" || continue
    case $SCENARIO in
    idle) run idle idle --connections "${IDLE_CONNS:-15000}" --server-pid '$PID' ;;
    relay) run relay relay --pairs "${PAIRS:-250}" --duration "${DURATION:-10}" --size 1024 --window "${WINDOW:-4}" --server-pid '$PID' ;;
    relay-half) run relay relay --pairs "${PAIRS:-250}" --duration "${DURATION:-10}" --size 1024 --rate "${HALF_RATE:-10000}" --server-pid '$PID' ;;
    offline) run offline offline --messages "${OFFLINE_MSGS:-10000}" --server-pid '$PID' ;;
    fanout-cluster) run_fanout_cluster ;;
    relay-pg) run_relay_pg ;;
    fanout) run fanout fanout --followers "${FOLLOWERS:-10000}" --posts "${POSTS:-1}" --admin-code-file '$CODE' --server-pid '$PID' ;;
    upload) run upload upload --size 20 --held "${HELD:-8}" --server-pid '$PID' ;;
    # CLIENT_DIR must be on a disk (write_bytes is 0 on tmpfs).
    client-io) run client-io client-io --history "${CLIENT_HISTORY:-1000}" --runs "${CLIENT_RUNS:-20}" \
        --stadtbote "$BIN/stadtbote" --dir "${CLIENT_DIR:-${TMPDIR:-/tmp}}" ${CLIENT_STRACE:+--strace} ;;
    esac
done
