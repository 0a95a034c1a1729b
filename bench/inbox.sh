#!/usr/bin/env bash
# The web inbox (issue 16) against the Sink, in one run: smtp-source's load on the built command
# as `-c Sink`, then as `-c Inbox` (each message parsed and stored, the API idle), and the time
# the API takes to list 500 messages. The server is pinned to core 1, smtp-source to core 0, as
# in bench/ab.sh; the server's user + system time is read from /proc around the load, after a
# warm-up of 30,000 messages (bench/load.sh).
#
#   bench/inbox.sh [SESSIONS [MESSAGES [BUNDLE]]]        default 16 20000 dist/effect-smtpd.js
#
# Needs Postfix's smtp-source (npm run test:tools), taskset and curl; run `npm run build` first.
# Run it two or three times: one run is within the noise of the next.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node="$here/../node_modules/.bin/node"
sessions=${1:-16} messages=${2:-20000} bundle=${3:-$here/../dist/effect-smtpd.js}
port=2793 web=2794
. "$here/load.sh"

run "Sink" -c Sink --size 0 "127.0.0.1:$port"
sink=$rate
stop

run "Inbox" -c Inbox --web "127.0.0.1:$web" "127.0.0.1:$port"
inbox=$rate
# the API listing 500 messages (the inbox keeps 500): the best and the median of 20
times=$(for _ in $(seq 20); do curl -s -o /dev/null -w "%{time_total}\n" "http://127.0.0.1:$web/api/v1/messages?limit=500"; done | sort -n)
echo "GET /api/v1/messages?limit=500: best $(echo "$times" | head -1) s, median $(echo "$times" | sed -n 10p) s"
stop
awk -v q="$inbox" -v s="$sink" 'BEGIN { printf "ratio Inbox / Sink: %.0f %%\n", q / s * 100 }'
