#!/usr/bin/env bash
# Live heap per connection after an attachment upload, measured with
# valgrind's massif instead of VmRSS (which also counts memory the allocator
# keeps after frees, and the database cache that the uploads fill): the
# server runs under massif, N connections upload M MB each and stay open,
# and massif snapshots the heap while they are open and again after they
# closed. The difference divided by N is what one connection holds. With
# --control the held connections only register (no upload), for comparison.
#
#   cargo build --release -p stadtbote-server -p stadtbote-bench
#   bench/heap-per-conn.sh                # N=16, M=1
#   HELD=32 SIZE=2 bench/heap-per-conn.sh --control
#
# Needs valgrind (Debian: apt-get install valgrind). Slow: the server runs
# about 20 times slower under massif, so keep N and M small.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
PORT=${PORT:-18575}
HELD=${HELD:-16}
SIZE=${SIZE:-1}
DATA=$(mktemp -d /tmp/stadtbote-heap.XXXXXX)
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
STADTBOTE_LISTEN=127.0.0.1:$PORT STADTBOTE_METRICS_LISTEN= STADTBOTE_LOG=warn \
    valgrind --tool=massif --vgdb=yes --massif-out-file="$DATA/massif.out" \
    "$BIN/stadtbote-server" --config deploy/bench.toml --data-dir "$DATA/data" \
    >"$DATA/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
    [ -f "$DATA/data/admin-claim.code" ] && break
    sleep 0.2
done
heap() { # prints the live heap bytes of a fresh massif snapshot
    vgdb --pid="$SERVER_PID" detailed_snapshot "$DATA/$1" >/dev/null 2>&1
    sed -n 's/^mem_heap_B=//p' "$DATA/$1" | head -n 1
}
"$BIN/stadtbote-bench" --server "ws://127.0.0.1:$PORT/v1/ws" --json upload --size "$SIZE" \
    --held "$HELD" --hold-secs 30 "$@" >"$DATA/bench.out" 2>"$DATA/bench.err" &
BENCH=$!
until grep -q '^holding' "$DATA/bench.err"; do
    kill -0 "$BENCH" 2>/dev/null || { cat "$DATA/bench.err" >&2; exit 1; }
    sleep 0.5
done
sleep 5
open=$(heap open.snapshot)
wait "$BENCH"
sleep 3
closed=$(heap closed.snapshot)
echo "{\"scenario\":\"heap_per_conn\",\"held\":$HELD,\"size_mb\":$SIZE,\"control\":$([ "$*" = --control ] && echo true || echo false),\"heap_open\":$open,\"heap_closed\":$closed,\"heap_bytes_per_conn\":$(( (open - closed) / HELD ))}"
