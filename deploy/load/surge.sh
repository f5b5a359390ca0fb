#!/usr/bin/env bash
# The surge (README, "Performance"): USERS new users (default 100,000) write
# MESSAGES callbacks (default 2 each, every user once before anyone twice)
# as fast as the intake takes them, with no agent online, into REPLICAS full
# kfgate replicas (default 1; each gets half the load with 2) on one Redis,
# with the simulated WeChat for the outbox's sends. Every 10 s it prints the
# engine's rate, its lag, the queue, Redis's and kfgate's CPU and the
# outbox's sends; at the end the time the engine took to drain.
#   make build && deploy/load/surge.sh            # one replica
#   REPLICAS=2 deploy/load/surge.sh               # two
#   DRAIN=1 deploy/load/surge.sh                  # the engine alone
# With DRAIN=1 the replicas taking the callbacks are intake-only
# (engine.intake_only); once every callback is in, one full replica starts
# and works off the backlog with the machine to itself: the engine's own
# rate, without the callbacks competing for the cores. ENGINE_DEBUG (an
# address) gives that replica a debug listener (pprof) for a profile.
# Keys under kfgate-surge: are deleted before and after.
set -euo pipefail
command -v bc >/dev/null || { echo "surge: needs bc (apt-get install bc)" >&2; exit 1; }
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin/kfgate}
CONFIG=deploy/load/kfgate.surge.yaml
USERS=${USERS:-100000}
MESSAGES=${MESSAGES:-$((USERS * 2))}
REPLICAS=${REPLICAS:-1}
CONNECTIONS=${CONNECTIONS:-64}
EVERY=${EVERY:-10}
DRAIN=${DRAIN:-0}
# After the engine drained, how long to go on watching the outbox (s).
OUTBOX_WATCH=${OUTBOX_WATCH:-30}
P=kfgate-surge:
APPID=wxsurge000000001
API=http://127.0.0.1:19190
R="redis-cli -h 127.0.0.1"

clean() { $R --scan --pattern "$P*" | xargs -r -n 500 $R del >/dev/null; }
clean
"$BIN" sim api --config "$CONFIG" --listen 127.0.0.1:19190 2>/dev/null &
pids=($!)
ports=()
intake_only=false
[ "$DRAIN" = 1 ] && intake_only=true
for r in $(seq 1 "$REPLICAS"); do
  port=$((18180 + r - 1))
  KFGATE_LISTEN=127.0.0.1:$port KFGATE_ENGINE_INTAKE_ONLY=$intake_only "$BIN" serve --config "$CONFIG" &
  pids+=($!)
  ports+=("$port")
done
trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; clean' EXIT
for port in "${ports[@]}"; do
  for _ in $(seq 1 100); do
    KFGATE_LISTEN=127.0.0.1:$port "$BIN" healthcheck --config "$CONFIG" 2>/dev/null && break
    sleep 0.1
  done
done

# field NAME of XINFO GROUPS STREAM for group GROUP
group() { $R xinfo groups "$P$1" 2>/dev/null | awk -v g="$2" -v f="$3" '
  $0 == "name" {getline; cur = $0} $0 == f && cur == g {getline; print; exit}'; }
redis_cpu() { $R info cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.2f", s}'; }
kfgate_cpu() { # seconds of CPU of the kfgate replicas
  local t=0
  for pid in "${pids[@]:1}"; do
    t=$(awk -v t="$t" '{print t + ($14 + $15) / 100}' "/proc/$pid/stat")
  done
  echo "$t"
}
sent() { curl -s "$API/sim/stats" | grep -o '"sends":{[^}]*}' | grep -o '"0":[0-9]*' | cut -d: -f2 || true; }

echo "== kfgate $("$BIN" version), $(nproc) cores, Redis $($R info server | grep redis_version | tr -d '\r'), $REPLICAS replica(s)"
echo "== opening $USERS users' windows at the simulated WeChat"
"$BIN" sim load --config "$CONFIG" --url "http://127.0.0.1:${ports[0]}" --api "$API" --users "$USERS" --messages 1 >/dev/null
clean_counts=$($R xlen "${P}intake")
echo "== surge: $MESSAGES callbacks from $USERS users, no agent online"
start=$(date +%s.%N)
gens=()
per=$((MESSAGES / REPLICAS))
for port in "${ports[@]}"; do
  "$BIN" sim load --config "$CONFIG" --url "http://127.0.0.1:$port" --users "$USERS" --messages "$per" \
    --connections $((CONNECTIONS / REPLICAS)) > "/tmp/kfgate-surge-load-$port.txt" &
  gens+=($!)
done

printf '%6s %9s %9s %9s %9s %8s %8s %8s\n' t_s callbacks engine/s lag queue redis% kfgate% sends/s
prev_done=0; prev_t=$start; prev_rc=$(redis_cpu); prev_kc=$(kfgate_cpu); prev_sent=$(sent); prev_sent=${prev_sent:-0}
drained=""; loading=1; watch_until=""
while :; do
  sleep "$EVERY"
  now=$(date +%s.%N)
  added=$($R xinfo stream "${P}intake" | awk '$0 == "entries-added" {getline; print; exit}')
  read=$(group intake engine entries-read); pending=$(group intake engine pending)
  done_=$(( ${read:-0} - ${pending:-0} - clean_counts ))
  lag=$(( added - clean_counts - done_ ))
  queue=$($R hget "${P}counts" "queue:$APPID:"); queue=${queue:-0}
  rc=$(redis_cpu); kc=$(kfgate_cpu); s=$(sent); s=${s:-0}
  dt=$(echo "$now - $prev_t" | bc -l)
  printf '%6.0f %9d %9.0f %9d %9d %7.0f%% %7.0f%% %8.0f\n' "$(echo "$now - $start" | bc -l)" $((added - clean_counts)) \
    "$(echo "($done_ - $prev_done) / $dt" | bc -l)" "$lag" "$queue" \
    "$(echo "100 * ($rc - $prev_rc) / $dt" | bc -l)" "$(echo "100 * ($kc - $prev_kc) / $dt" | bc -l)" \
    "$(echo "($s - $prev_sent) / $dt" | bc -l)"
  prev_done=$done_; prev_t=$now; prev_rc=$rc; prev_kc=$kc; prev_sent=$s
  if [ "$loading" = 1 ] && ! kill -0 "${gens[@]}" 2>/dev/null; then
    wait "${gens[@]}" || true
    loading=0
    if [ "$DRAIN" = 1 ]; then
      echo "== every callback is in: the engine starts alone"
      KFGATE_LISTEN=127.0.0.1:18190 KFGATE_DEBUG_LISTEN=${ENGINE_DEBUG:-} "$BIN" serve --config "$CONFIG" &
      pids+=($!)
      engine_start=$(date +%s.%N)
    fi
  fi
  if [ "$loading" = 0 ] && [ -z "$drained" ] && [ "$lag" -le 0 ]; then
    drained=$(echo "$now - $start" | bc -l)
    now_drained=$now
    watch_until=$(echo "$now + $OUTBOX_WATCH" | bc -l)
  fi
  if [ -n "$drained" ] && [ "$(echo "$now >= $watch_until" | bc -l)" = 1 ]; then break; fi
done
for port in "${ports[@]}"; do echo "== load into :$port: $(cat "/tmp/kfgate-surge-load-$port.txt")"; rm -f "/tmp/kfgate-surge-load-$port.txt"; done
printf '== the engine drained %d callbacks %.0f s after the surge began (at most %d s late: sampled every %d s)\n' \
  "$((added - clean_counts))" "$drained" "$EVERY" "$EVERY"
if [ "$DRAIN" = 1 ]; then
  printf '== alone, it took %.0f s from its start (at most %d s late)\n' "$(echo "$now_drained - $engine_start" | bc -l)" "$EVERY"
fi
echo "== outbox: $(sent) sent, $($R xinfo stream "${P}outbox" | awk '$0 == "length" {getline; print; exit}') in its stream"
