#!/bin/bash
# The storefront read from outside: a release server on a fresh SQLite file, N customers
# registered over recordEvents (an action gives each a role recommending 8 products and a
# banner), then wrk (apt-get install wrk) with 2 threads and 32 connections: a pass reading each
# customer in turn (the first reads), then 10 s against
# `recommendations(first: 6)` + `banners` of a random customer, and against `{ viewer { scope } }`
# on the same server as the floor. Prints requests/s, p50 and p99 of each and the server's RSS.
#
#     cargo build --release
#     benches/outside/storefront/run.sh [BINARY] [N]      # target/release/nudge, 20000
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../../target/release/nudge}
n=${2:-20000}
dir=$(mktemp -d)
port=$((18100 + RANDOM % 800))
NUDGE_DATABASE_URL="sqlite://$dir/n.db?mode=rwc" NUDGE_LISTEN=127.0.0.1:$port \
  NUDGE_BOOTSTRAP_KEY_FILE=$dir/key NUDGE_LOG=warn "$bin" > "$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
until curl -s "127.0.0.1:$port/healthz" > /dev/null; do sleep 0.1; done
python3 "$here/setup.py" "http://127.0.0.1:$port" "$dir/key" "$n"
echo "-- recommendations + banners, every customer once in turn (first reads)"
KEY=$(cat "$dir/key.sf") N=$n ONCE=1 wrk -t2 -c32 -d$((n / 4000 + 3))s --latency -s "$here/read.lua" \
  "http://127.0.0.1:$port/graphql" | grep -E "Requests/sec|50%|99%"
echo "-- recommendations + banners, random customer"
KEY=$(cat "$dir/key.sf") N=$n wrk -t2 -c32 -d10s --latency -s "$here/read.lua" \
  "http://127.0.0.1:$port/graphql" | grep -E "Requests/sec|50%|99%"
echo "-- the same at about 1,000 requests/s"
KEY=$(cat "$dir/key.sf") N=$n PACE_MS=32 wrk -t2 -c32 -d20s --latency -s "$here/read.lua" \
  "http://127.0.0.1:$port/graphql" | grep -E "Requests/sec|50%|99%"
echo "-- viewer (floor)"
KEY=$(cat "$dir/key.sf") wrk -t2 -c32 -d10s --latency -s "$here/viewer.lua" \
  "http://127.0.0.1:$port/graphql" | grep -E "Requests/sec|50%|99%"
grep VmRSS "/proc/$pid/status"
