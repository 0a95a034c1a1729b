# Sourced by bench/queue.sh and bench/inbox.sh: one server of the built command under
# smtp-source's load, pinned to core 1 (smtp-source to core 0, as in bench/ab.sh); its user +
# system time read from /proc around the load, after a warm-up of 30,000 messages
# (WARMUP=N to change it): V8 still optimizes the inbox's code until ~30,000, the Sink's until
# ~20,000 (docs/performance/inbox.md, "Steady state, and the prune without a lookup").
# Needs: node, bundle, port, sessions, messages.
hz=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2 && exit 1
}

# starts `$bundle -n ARGS`, loads it: a line with its CPU per message and msg/s, the rate in
# $rate, the server's pid in $pid (still running)
run() { # name args...
  local name=$1
  shift
  taskset -c 1 "$node" "$bundle" -n "$@" >/dev/null 2>&1 &
  pid=$!
  wait_port "$port"
  taskset -c 0 smtp-source -s 16 -m "${WARMUP:-30000}" -l 4096 "127.0.0.1:$port"
  local before start end after
  before=$(cpu_ticks "$pid")
  start=$(date +%s.%N)
  taskset -c 0 smtp-source -s "$sessions" -m "$messages" -l 4096 "127.0.0.1:$port"
  end=$(date +%s.%N)
  after=$(cpu_ticks "$pid")
  awk -v name="$name" -v ticks=$((after - before)) -v hz="$hz" -v n="$messages" -v secs="$(echo "$end - $start" | bc)" \
    'BEGIN { printf "%-28s %7.1f us CPU/msg %8.0f msg/s\n", name, ticks / hz / n * 1e6, n / secs }'
  rate=$(echo "$messages / ($end - $start)" | bc -l)
}

stop() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  sleep 0.5
}
