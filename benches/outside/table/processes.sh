#!/bin/bash
# The processor shared on PostgreSQL, from outside: a fresh database nudge_bench, N customers
# (100,000) and the table's rules seeded through one release server, then E productViewed
# events (200,000) sent from 8 threads spread over 1, 2 and 3 servers of that database (events/s
# of ingest and of the processor end to end), then once more over 3 servers with the third
# killed (SIGKILL) half way: how long the backlog took to drain after the kill.
#
#     cargo build --release
#     benches/outside/table/processes.sh [N] [E]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${NUDGE_BENCH_BINARY:-$here/../../../target/release/nudge}
n=${1:-100000}
e=${2:-200000}
dir=$(mktemp -d)
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS nudge_bench" -c "CREATE DATABASE nudge_bench"
url="postgres://postgres@127.0.0.1:5432/nudge_bench"
pids=()
start() {
  local port=$((18100 + RANDOM % 800))
  NUDGE_DATABASE_URL=$url NUDGE_LISTEN=127.0.0.1:$port NUDGE_BOOTSTRAP_KEY_FILE=$dir/key \
    NUDGE_LOG=warn "$bin" >> "$dir/log" 2>&1 &
  pids+=($!)
  until curl -s "127.0.0.1:$port/healthz" > /dev/null; do sleep 0.1; done
  bases="${bases:+$bases,}http://127.0.0.1:$port"
}
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
bases=""
start
echo "== PostgreSQL, $n customers, $e events per run ($(nproc) cores)"
python3 "$here/drive.py" "$bases" "$dir/key" "$n" 0
for k in 1 2 3; do
  [ "$k" -gt 1 ] && start && sleep 3   # partitions spread over the new process
  echo "-- $k process(es)"
  python3 "$here/drive.py" "$bases" "$dir/key" "$n" "$e" views-only
done
echo "-- 3 processes, the third killed half way"
NUDGE_BENCH_KILL_PID=${pids[2]} python3 "$here/drive.py" "$bases" "$dir/key" "$n" "$e" views-only
