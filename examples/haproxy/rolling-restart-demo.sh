#!/usr/bin/env bash
# A rolling restart under load, with haproxy.cfg as it is: two instances
# (9001/9101, 9002/9102), HAProxy on 8000/8001/8404, `ringloop load
# --reconnect` through it while each instance in turn is stopped (SIGTERM)
# and started again, the next only once HAProxy has the restarted one UP.
# Prints the load report (zero errors expected). Run from the repository
# root after `npm ci`; needs haproxy and curl. Usage: rolling-restart-demo.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-8}
cfg=examples/haproxy/haproxy.cfg
ringloop=bin/ringloop.js
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# node itself in the background (not a shell function), so that $! is the server's pid.
serve() { node "$ringloop" serve --port "900$1" --tcp-port "910$1" --log-level warn >/dev/null & pid[$1]=$!; pids+=("$!"); }
healthy() { until curl -sf "127.0.0.1:900$1/healthz" >/dev/null; do sleep 0.1; done; }
up_in_haproxy() { until curl -s '127.0.0.1:8404/stats;csv' | grep -q "^ringloop_ws,r$1,.*,UP,"; do sleep 0.1; done; }

declare -a pid
serve 1; serve 2; healthy 1; healthy 2
haproxy -f "$cfg" -db >/dev/null 2>&1 & pids+=("$!")
up_in_haproxy 1; up_in_haproxy 2

node "$ringloop" load --url ws://127.0.0.1:8000 --reconnect --connections 8 --duration "$duration" --quiet & load=$!
sleep 1.5
for i in 1 2; do
  echo "restarting r$i" >&2
  kill -TERM "${pid[$i]}"; wait "${pid[$i]}" || true
  serve "$i"; healthy "$i"; up_in_haproxy "$i"
done
wait "$load"
