#!/usr/bin/env bash
# A Ray cluster of N nodes on this machine, with token authentication, for trying --address.
#   deploy/local-cluster.sh start [NODES] [CPUS_PER_NODE]   prints the address and the token file
#   deploy/local-cluster.sh stop                            stops exactly the processes it started
# It never runs `ray stop` (which would kill every Ray process on the machine).
set -euo pipefail
state="${ADMF_CLUSTER_DIR:-/tmp/admf-cluster}"
case "${1:-}" in
  start)
    nodes="${2:-2}"; cpus="${3:-1}"; port="${ADMF_CLUSTER_PORT:-6390}"
    mkdir -p "$state"
    [ -f "$state/token" ] || python -c "import secrets; print(secrets.token_hex(16))" > "$state/token"
    export RAY_AUTH_MODE=token RAY_AUTH_TOKEN="$(cat "$state/token")"
    setsid ray start --head --block --port "$port" --num-cpus "$cpus" --include-dashboard=false --temp-dir "$state/ray" \
      --disable-usage-stats > "$state/head.log" 2>&1 & echo $! > "$state/head.pid"
    for _ in $(seq 60); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 1; done
    for i in $(seq 2 "$nodes"); do
      setsid ray start --block --address "127.0.0.1:$port" --num-cpus "$cpus" --disable-usage-stats \
        > "$state/node$i.log" 2>&1 & echo $! > "$state/node$i.pid"
    done
    echo "address: 127.0.0.1:$port"
    echo "run: RAY_AUTH_TOKEN=\$(cat $state/token) admf run examples/sweep.yaml --address 127.0.0.1:$port"
    ;;
  stop)
    for pidfile in "$state"/node*.pid "$state"/head.pid; do
      [ -f "$pidfile" ] || continue
      pid="$(cat "$pidfile")"
      kill -TERM -- "-$pid" 2>/dev/null || true
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      rm -f "$pidfile"
    done
    ;;
  *) echo "usage: $0 start [NODES] [CPUS_PER_NODE] | stop" >&2; exit 2 ;;
esac
