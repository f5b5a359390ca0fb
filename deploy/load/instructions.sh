#!/usr/bin/env bash
# Instructions Redis spends per inbound script call, under Valgrind's
# Callgrind (deploy/load/instructions/main.go says what is measured): the
# same from run to run, so two versions of the scripts compare exactly.
# Needs valgrind (Debian's package) and a Redis port of its own (7399).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "instructions: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
dir=$(mktemp -d)
valgrind --tool=callgrind --callgrind-out-file="$dir/out" "${REDIS:-redis-server}" --port 7399 --bind 127.0.0.1 \
  --save "" --appendonly no --dir "$dir" >"$dir/log" 2>&1 &
vg=$!
trap 'redis-cli -p 7399 shutdown nosave >/dev/null 2>&1 || kill $vg; wait $vg 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do redis-cli -p 7399 ping >/dev/null 2>&1 && break; sleep 0.2; done
echo "== $(redis-server --version | cut -d' ' -f3) under callgrind, 1,000 users queued, nobody online"
go run ./deploy/load/instructions --redis 127.0.0.1:7399 --pid "$vg" --out "$dir/out"
