#!/bin/bash
# The issue-15 table from outside, on one database: a release server, N customers registered
# over recordEvents, 10 customer actions of mixed triggers and 5 active campaigns with event
# anchors, then E productViewed events of random customers in batches of 500 from 8 threads
# (ingest events/s, processor events/s end to end, drain after ingest); then wrk (apt-get
# install wrk), 2 threads and 32 connections for 10 s each, against recommendations(first: 6) +
# banners of a random customer, { viewer { scope } } and /healthz; then the server's RSS.
#
#     cargo build --release
#     benches/outside/table/run.sh [sqlite|postgres] [N] [E]     # sqlite 1000000 200000
#
# PostgreSQL: a fresh database nudge_bench on 127.0.0.1:5432 (user postgres, trust auth). With
# NUDGE_BENCH_VACUUM=1 the database is vacuumed and analysed between the registrations and
# the views, as autovacuum would (a host that runs PostgreSQL with autovacuum off leaves
# every processed event's entry in the index of waiting events, and every table unanalysed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${NUDGE_BENCH_BINARY:-$here/../../../target/release/nudge}
db=${1:-sqlite}
n=${2:-1000000}
e=${3:-200000}
command -v wrk > /dev/null || apt-get install -y wrk > /dev/null
dir=$(mktemp -d)
port=$((18100 + RANDOM % 800))
case $db in
  sqlite) url="sqlite://$dir/n.db?mode=rwc" ;;
  postgres)
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS nudge_bench" -c "CREATE DATABASE nudge_bench"
    url="postgres://postgres@127.0.0.1:5432/nudge_bench" ;;
  *) echo "sqlite or postgres" >&2; exit 2 ;;
esac
NUDGE_DATABASE_URL=$url NUDGE_LISTEN=127.0.0.1:$port NUDGE_METRICS_LISTEN=127.0.0.1:$((port + 1)) \
  NUDGE_BOOTSTRAP_KEY_FILE=$dir/key NUDGE_LOG=warn "$bin" > "$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
until curl -s "127.0.0.1:$port/healthz" > /dev/null; do sleep 0.1; done
echo "== $db, $n customers, $e events ($(nproc) cores)"
vacuum=""
[ "$db" = postgres ] && [ -n "${NUDGE_BENCH_VACUUM:-}" ] && vacuum=$url
VACUUM=$vacuum METRICS=http://127.0.0.1:$((port + 1))/metrics python3 "$here/drive.py" "http://127.0.0.1:$port" "$dir/key" "$n" "$e"
grep -E "VmRSS|VmHWM" "/proc/$pid/status"
read_lua=$here/../storefront/read.lua
viewer_lua=$here/../storefront/viewer.lua
echo "-- recommendations(first: 6) + banners, every customer once in turn (first reads)"
KEY=$(cat "$dir/key.sf") N=$n ONCE=1 wrk -t2 -c32 -d$((n / 4000 + 5))s --latency -s "$read_lua" \
  "http://127.0.0.1:$port/graphql" | grep -E "Requests/sec|^ +(50|99)%"
curl -s "127.0.0.1:$((port + 1))/metrics" | grep "^nudge_storefront_cache_total" || true
grep -E "VmRSS|VmHWM" "/proc/$pid/status"
echo "-- recommendations(first: 6) + banners, random customer"
KEY=$(cat "$dir/key.sf") N=$n wrk -t2 -c32 -d10s --latency -s "$read_lua" \
  "http://127.0.0.1:$port/graphql" | grep -E "Requests/sec|^ +(50|99)%"
echo "-- the same at about 1,000 requests/s"
KEY=$(cat "$dir/key.sf") N=$n PACE_MS=32 wrk -t2 -c32 -d20s --latency -s "$read_lua" \
  "http://127.0.0.1:$port/graphql" | grep -E "Requests/sec|^ +(50|99)%"
echo "-- { viewer { scope } } (floor)"
KEY=$(cat "$dir/key.sf") wrk -t2 -c32 -d10s --latency -s "$viewer_lua" \
  "http://127.0.0.1:$port/graphql" | grep -E "Requests/sec|^ +(50|99)%"
echo "-- /healthz"
wrk -t2 -c32 -d10s --latency "http://127.0.0.1:$port/healthz" | grep -E "Requests/sec|^ +(50|99)%"
curl -s "127.0.0.1:$((port + 1))/metrics" | grep "^nudge_storefront_cache_total" || true
grep -E "VmRSS|VmHWM" "/proc/$pid/status"
