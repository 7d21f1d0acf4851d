#!/bin/bash
# A soak of mixed traffic from outside: a release server on a fresh SQLite file (or the
# PostgreSQL database given, which must be empty), a counting SMTP server, then soak.py for
# DURATION seconds (1,800): every second 20 registrations (each emailed by a campaign), 400
# product views in batches of 100, 200 storefront reads and three admin lists, while the
# server's ticks run. Prints the server's RSS each minute and its start, peak and end.
#
#     cargo build --release
#     benches/outside/soak/run.sh [DURATION] [DATABASE_URL]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${NUDGE_BIN:-$here/../../../target/release/nudge}
duration=${1:-1800}
dir=$(mktemp -d)
db=${2:-sqlite://$dir/n.db?mode=rwc}
port=$((18900 + RANDOM % 50))
smtp=$((2600 + RANDOM % 50))
WORK=$dir python3 "$here/../smtp_count.py" "$smtp" &
sink=$!
NUDGE_DATABASE_URL="$db" NUDGE_LISTEN=127.0.0.1:$port NUDGE_SMTP_URL=smtp://127.0.0.1:$smtp \
  NUDGE_BOOTSTRAP_KEY_FILE=$dir/key NUDGE_LOG=warn NUDGE_QUIET_HOURS=off "$bin" > "$dir/log" 2>&1 &
pid=$!
trap 'kill $pid $sink 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
until curl -s "127.0.0.1:$port/healthz" > /dev/null; do sleep 0.1; done
WORK=$dir python3 "$here/soak.py" "http://127.0.0.1:$port" "$dir/key" "$pid" "$duration"
