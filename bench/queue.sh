#!/usr/bin/env bash
# Accepting into the mail queue (issue 15) against the Sink, in one run: smtp-source's load on
# the built command as `-c Sink`, then as `-c PureProxy --relay-mode queue` on a fresh SQLite
# queue, its upstream down (each message stored, tried once, deferred) and, with `sink`, up
# (Postfix's smtp-sink: each message stored, then delivered). The server is pinned to core 1,
# smtp-source and smtp-sink to core 0, as in bench/ab.sh; the server's user + system time is
# read from /proc around the load, after a warm-up of 30,000 messages (bench/load.sh). With the
# upstream up, a second line counts the time and CPU until the queue is empty (delivery lags the
# acceptance).
#
#   bench/queue.sh [SESSIONS [MESSAGES [BUNDLE]]]        default 16 20000 dist/effect-smtpd.js
#   QUEUE=/tmp/x.db bench/queue.sh                        where the queue goes (removed first)
#
# Needs Postfix's smtp-source and smtp-sink (npm run test:tools) and taskset; run `npm run build`
# first. Run it two or three times: one run is within the noise of the next.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node="$here/../node_modules/.bin/node"
sessions=${1:-16} messages=${2:-20000} bundle=${3:-$here/../dist/effect-smtpd.js}
queue=${QUEUE:-/tmp/effect-smtpd-bench-queue.db}
port=2791 sinkport=2792
sink_user=()
[ "$(id -u)" = 0 ] && sink_user=(-u nobody)

# messages in the queue, read with node:sqlite beside the server (WAL: readers do not block it)
queued() {
  "$node" --no-warnings -e 'const { DatabaseSync } = require("node:sqlite")
    const db = new DatabaseSync(process.argv[1], { readOnly: true })
    console.log(db.prepare("SELECT COUNT(*) AS n FROM smtpd_queue").get().n)' "$queue"
}
fresh_queue() { rm -f "$queue" "$queue-wal" "$queue-shm"; }
. "$here/load.sh"

run "Sink" -c Sink --size 0 "127.0.0.1:$port"
sink=$rate
stop

fresh_queue
run "queue, upstream down" -c PureProxy --relay-mode queue --queue "$queue" --retry-min 3600 \
  "127.0.0.1:$port" "127.0.0.1:$sinkport"
down=$rate
echo "  still queued: $(queued)"
stop

if [ "${SINK:-1}" = 1 ]; then
  taskset -c 0 smtp-sink "${sink_user[@]}" -h sink.test "127.0.0.1:$sinkport" 64 &
  sinkpid=$!
  wait_port "$sinkport"
  fresh_queue
  run "queue, smtp-sink up" -c PureProxy --relay-mode queue --queue "$queue" --retry-min 1 \
    "127.0.0.1:$port" "127.0.0.1:$sinkport"
  up=$rate
  drain_start=$(date +%s.%N)
  ticks=$(cpu_ticks "$pid")
  while [ "$(queued)" != 0 ]; do sleep 0.2; done
  drain_end=$(date +%s.%N)
  echo "  queue empty $(echo "$drain_end - $drain_start" | bc) s after the load," \
    "$(awk -v t=$(($(cpu_ticks "$pid") - ticks)) -v hz="$hz" -v n="$messages" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }') us CPU/msg more"
  stop
  kill "$sinkpid"
  wait "$sinkpid" 2>/dev/null || true
  awk -v q="$up" -v s="$sink" 'BEGIN { printf "ratio queue (upstream up) / Sink: %.0f %%\n", q / s * 100 }'
fi
awk -v q="$down" -v s="$sink" 'BEGIN { printf "ratio queue (upstream down) / Sink: %.0f %%\n", q / s * 100 }'
fresh_queue
