#!/usr/bin/env bash
# Two builds of the command side by side: the server's CPU per message under smtp-source load,
# its throughput and its peak RSS, one build after the other. The server is pinned to core 1
# and smtp-source to core 0, as in ../shared/bench/run; the server's user + system time is read
# from /proc around the load, after a warm-up of 3,000 messages.
#
#   bench/ab.sh churn|persist SESSIONS MESSAGES BUNDLE...
#   bench/ab.sh churn 16 20000 /tmp/v3.js dist/effect-smtpd.js
#
# Needs Postfix's smtp-source (npm run test:tools) and taskset. Run it as a loop of pairs: one
# pair is within the noise of the next.
set -euo pipefail
node="$(dirname "$0")/../node_modules/.bin/node"
source=/usr/sbin/smtp-source
command -v smtp-source >/dev/null 2>&1 && source="$(command -v smtp-source)"
mode=$1 sessions=$2 messages=$3
shift 3
port=2790
persist=()
[ "$mode" = persist ] && persist=(-d)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for bundle in "$@"; do
  taskset -c 1 "$node" "$bundle" -n -c Sink --size 0 "127.0.0.1:$port" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  taskset -c 0 "$source" -s 16 -m 3000 -l 4096 "${persist[@]}" "127.0.0.1:$port"
  before=$(cpu_ticks "$pid")
  start=$(date +%s.%N)
  taskset -c 0 "$source" -s "$sessions" -m "$messages" -l 4096 "${persist[@]}" "127.0.0.1:$port"
  end=$(date +%s.%N)
  after=$(cpu_ticks "$pid")
  peak=$(awk '/VmHWM/{print int($2 / 1024)}' "/proc/$pid/status")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  awk -v name="$(basename "$bundle")" -v mode="$mode/$sessions" -v ticks=$((after - before)) \
    -v hz="$(getconf CLK_TCK)" -v n="$messages" -v start="$start" -v end="$end" -v peak="$peak" \
    'BEGIN { printf "%-24s %-12s %7.1f us CPU/msg %8.0f msg/s  peak %d MiB\n", name, mode, ticks / hz / n * 1e6, n / (end - start), peak }'
  sleep 0.5
done
