#!/usr/bin/env bash
# The load run of the README: the real kfgate binary on the real Redis at
# 127.0.0.1:6379, signed safe-mode callbacks from simulated users.
#   1. throughput: as fast as 64 connections go (closed loop);
#   2. latency: a constant offered rate (open loop, latency counted from
#      when each callback was due, so stalls are not hidden).
# Everything stays on loopback; the runs are bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin/kfgate}
CONFIG=deploy/load/kfgate.load.yaml
DURATION=${DURATION:-20s}
RATE=${RATE:-3000}
CONNECTIONS=${CONNECTIONS:-64}

clean() { redis-cli -h 127.0.0.1 --scan --pattern 'kfgate-load:*' | xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null; }
clean
"$BIN" sim api --config "$CONFIG" --listen 127.0.0.1:19090 2>/dev/null &
simpid=$!
"$BIN" serve --config "$CONFIG" &
pid=$!
trap 'kill "$pid" "$simpid" 2>/dev/null; wait "$pid" "$simpid" 2>/dev/null; clean' EXIT
for _ in $(seq 1 50); do
  "$BIN" healthcheck --config "$CONFIG" 2>/dev/null && break
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null || { echo "load: kfgate did not start" >&2; exit 1; }
"$BIN" healthcheck --config "$CONFIG"

echo "== kfgate $("$BIN" version), $(nproc) cores, Redis $(redis-cli -h 127.0.0.1 info server | grep redis_version | tr -d '\r')"
echo "== throughput: safe mode, $CONNECTIONS connections, $DURATION (kfgate sim load)"
"$BIN" sim load --config "$CONFIG" --connections "$CONNECTIONS" --duration "$DURATION"
clean
if command -v wrk >/dev/null; then
  # wrk spends less CPU than the Go generator, leaving more to kfgate.
  callbacks=$(mktemp)
  "$BIN" sim load --config "$CONFIG" --dump 400000 >"$callbacks"
  echo "== throughput: safe mode, $CONNECTIONS connections, $DURATION (wrk)"
  CALLBACKS=$callbacks THREADS=2 wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s deploy/load/wrk.lua http://127.0.0.1:18080
  rm -f "$callbacks"
  clean
else
  echo "== wrk is not installed (apt-get install wrk): skipping its run"
fi
echo "== latency: safe mode, a constant $RATE callbacks/s, $DURATION"
"$BIN" sim load --config "$CONFIG" --rate "$RATE" --connections "$CONNECTIONS" --duration "$DURATION"
clean
echo "== user to agent: safe mode, a constant 1000 callbacks/s to 4 agents on WebSockets, $DURATION"
"$BIN" sim load --config "$CONFIG" --rate 1000 --agents 4 --users 2000 --connections "$CONNECTIONS" --duration "$DURATION"
