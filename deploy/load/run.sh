#!/usr/bin/env bash
# The load run of the README: the real kfgate binary on the real Redis at
# 127.0.0.1:6379, signed safe-mode callbacks from simulated users.
#   1. latency: a constant offered rate (open loop, latency counted from
#      when each callback was due, so stalls are not hidden);
#   2. user to agent: a constant rate to agents on WebSockets;
#   3. throughput: as fast as 64 connections go (closed loop), last, since
#      it leaves the engine a backlog to work through.
# Everything stays on loopback; the runs are bounded by DURATION. Keys are
# cleaned before and after, not between phases: kfgate is running, and its
# engine may still be working through a phase's messages.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin/kfgate}
CONFIG=deploy/load/kfgate.load.yaml
DURATION=${DURATION:-20s}
RATE=${RATE:-3000}
CONNECTIONS=${CONNECTIONS:-64}

clean() {
  for p in 'kfgate-load:*' 'kfgate-load-intake:*'; do
    redis-cli -h 127.0.0.1 --scan --pattern "$p" | xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null
  done
}
clean
"$BIN" sim api --config "$CONFIG" --listen 127.0.0.1:19090 2>/dev/null &
simpid=$!
"$BIN" serve --config "$CONFIG" &
pid=$!
# An intake-only replica of its own (engine.intake_only, its own keys): the
# callback tier alone, which the intake's goals are about.
KFGATE_LISTEN=127.0.0.1:18081 KFGATE_REDIS_PREFIX=kfgate-load-intake: KFGATE_ENGINE_INTAKE_ONLY=true \
  "$BIN" serve --config "$CONFIG" &
intakepid=$!
INTAKE=http://127.0.0.1:18081
trap 'kill "$pid" "$intakepid" "$simpid" 2>/dev/null; wait "$pid" "$intakepid" "$simpid" 2>/dev/null; clean' EXIT
for _ in $(seq 1 50); do
  "$BIN" healthcheck --config "$CONFIG" 2>/dev/null && KFGATE_LISTEN=127.0.0.1:18081 "$BIN" healthcheck --config "$CONFIG" 2>/dev/null && break
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null || { echo "load: kfgate did not start" >&2; exit 1; }
"$BIN" healthcheck --config "$CONFIG"

echo "== kfgate $("$BIN" version), $(nproc) cores, Redis $(redis-cli -h 127.0.0.1 info server | grep redis_version | tr -d '\r')"
echo "== latency, intake tier: safe mode, a constant $RATE callbacks/s, $DURATION"
"$BIN" sim load --config "$CONFIG" --url "$INTAKE" --rate "$RATE" --connections "$CONNECTIONS" --duration "$DURATION"
echo "== latency, one replica doing everything (engine, outbox, simulated WeChat on the same 2 cores): a constant $RATE callbacks/s, $DURATION"
"$BIN" sim load --config "$CONFIG" --rate "$RATE" --connections "$CONNECTIONS" --duration "$DURATION"
echo "== user to agent: safe mode, a constant 1000 callbacks/s to 4 agents on WebSockets, $DURATION"
"$BIN" sim load --config "$CONFIG" --rate 1000 --agents 4 --users 2000 --connections "$CONNECTIONS" --duration "$DURATION"
echo "== throughput, intake tier: safe mode, $CONNECTIONS connections, $DURATION (kfgate sim load)"
"$BIN" sim load --config "$CONFIG" --url "$INTAKE" --connections "$CONNECTIONS" --duration "$DURATION"
if command -v wrk >/dev/null; then
  # wrk spends less CPU than the Go generator, leaving more to kfgate.
  callbacks=$(mktemp)
  "$BIN" sim load --config "$CONFIG" --url "$INTAKE" --dump 400000 >"$callbacks"
  echo "== throughput, intake tier: safe mode, $CONNECTIONS connections, $DURATION (wrk)"
  CALLBACKS=$callbacks THREADS=2 wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s deploy/load/wrk.lua "$INTAKE"
  rm -f "$callbacks"
else
  echo "== wrk is not installed (apt-get install wrk): skipping its run"
fi
