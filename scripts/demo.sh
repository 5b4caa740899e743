#!/usr/bin/env bash
# Starts three demo backends and ringlb with configs/demo.ini; Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "demo: stopping"
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

for i in 1 2 3; do
  python3 tests/backend.py "app$i" "900$i" &
  pids+=($!)
done
build/ringlb -c configs/demo.ini &
pids+=($!)

for _ in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', 8080), 0.1).close()" 2>/dev/null && break
  sleep 0.1
done
cat <<'MSG'

ringlb demo is up: balancer on http://127.0.0.1:8080 in front of app1 (weight 2), app2, app3.
Try:
  curl -i http://127.0.0.1:8080/                   # X-Server shows which backend answered
  for i in $(seq 8); do curl -s http://127.0.0.1:8080/; done
  curl -s 'http://127.0.0.1:8080/bytes?n=1000000' | wc -c
  curl -s http://127.0.0.1:8080/headers            # what the backend received
Stop app2 (kill its python process) and requests keep succeeding: connect
failures are retried on another server, and its health check marks it down.
  curl -s http://127.0.0.1:9900/backends           # each server's state, weight, last check
  curl -s -X POST http://127.0.0.1:9900/backends/app/servers/app1/drain
  curl -s -X POST http://127.0.0.1:9900/backends/app/servers/app1/enable
  scripts/failover-drill                           # a scripted failover rehearsal (own servers)
Ctrl-C stops the demo.
MSG
wait
