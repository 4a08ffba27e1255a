#!/usr/bin/env bash
# The service's own instructions per request, counted by valgrind (callgrind): the same
# figure for the same binary, inputs and data whatever else the machine is doing, so two
# builds can be compared on a noisy shared VM where req/s and CPU time move by tens of
# percent between runs. It counts user-space instructions only: the kernel's part (the
# sends and receives of HTTP and PostgreSQL) is not in it, and neither is the time spent
# waiting. See bench/README.md.
#
# For each binary: start it under callgrind on the kit's data set, warm it up with wrk,
# zero the counters, load it for DURATION seconds at CONNECTIONS connections, dump the
# counters, and divide the instructions by the requests wrk completed. Runs ~50x slower
# than natively: a few hundred to a few thousand requests are measured.
#
# Settings (environment):
#   BINS="target/release/chat-history"   binaries to measure, in turn (space-separated)
#   SCENARIO=threads      read | threads | append | search | me (bench/wrk/scenario.lua)
#   MESSAGES=1000000      the kit's data set bench_chat_<MESSAGES>: seeded by
#                         `KEEP_DB=1 bash bench/run.sh` (this script does not seed)
#   DURATION=15           measured seconds (after WARMUP=5)
#   CONNECTIONS=4         wrk connections (a few keep the service busy under valgrind)
#   PGURL=postgres://postgres@127.0.0.1:5432   PORT=18080   SERVICE_LOG=info
#   RESULTS=bench/results/<date>-instructions   (callgrind's files, for callgrind_annotate)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BINS=${BINS:-$TARGET/release/chat-history}
SCENARIO=${SCENARIO:-threads}
MESSAGES=${MESSAGES:-1000000}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-5}
CONNECTIONS=${CONNECTIONS:-4}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18080}
SERVICE_LOG=${SERVICE_LOG:-info}
RESULTS=${RESULTS:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)-instructions}
export JWT_HS256_SECRET=${JWT_HS256_SECRET:-bench-jwt-secret-0123456789abcdef0123456789}
export BETTER_AUTH_SECRET=${BETTER_AUTH_SECRET:-bench-better-auth-secret-0123456789abcdef}

need_apt=()
command -v valgrind >/dev/null || need_apt+=(valgrind)
command -v wrk >/dev/null || need_apt+=(wrk)
if ((${#need_apt[@]})); then
  apt-get install -y "${need_apt[@]}" || { apt-get update && apt-get install -y "${need_apt[@]}"; }
fi

DB=bench_chat_$MESSAGES
USERS=$(( (MESSAGES + 999) / 1000 ))
psql "$PGURL/$DB" -Atqc "select 1 from chat_threads limit 1" >/dev/null 2>&1 || {
  echo "no data set $DB: seed it first with KEEP_DB=1 MESSAGES=$MESSAGES bash bench/run.sh" >&2
  exit 1
}
mkdir -p "$RESULTS"
python3 bench/tools/bench.py tokens "$USERS" "$RESULTS" >/dev/null

load() { # load SECONDS WRK_JSON
  SCENARIO=$SCENARIO USERS=$USERS TOKENS=$RESULTS/jwt.txt WRK_JSON=$2 \
    wrk -t1 -c"$CONNECTIONS" -d"$1s" --timeout 30s -s bench/wrk/scenario.lua "http://127.0.0.1:$PORT" >/dev/null
}

SERVICE_PID=
trap '[[ -z $SERVICE_PID ]] || kill "$SERVICE_PID" 2>/dev/null || true' EXIT

n=0
for bin in $BINS; do
  n=$((n + 1))
  out=$RESULTS/$n
  mkdir -p "$out"
  env DATABASE_URL="$PGURL/$DB" LISTEN_ADDR="127.0.0.1:$PORT" MIGRATE_ON_START=false \
      RATE_LIMIT_PER_MINUTE=0 LOG_FORMAT=json RUST_LOG="$SERVICE_LOG" \
      valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" "$bin" serve \
      >/dev/null 2>"$out/valgrind.log" &
  SERVICE_PID=$!
  for _ in $(seq 120); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVICE_PID" 2>/dev/null || { echo "$bin did not start: $out/valgrind.log" >&2; exit 1; }
    sleep 0.5
  done
  load "$WARMUP" /dev/null
  callgrind_control -z "$SERVICE_PID" >/dev/null
  load "$DURATION" "$out/wrk.json"
  callgrind_control -d "$SERVICE_PID" >/dev/null
  kill "$SERVICE_PID"; wait "$SERVICE_PID" 2>/dev/null || true
  SERVICE_PID=
  # The dump after zeroing is the file with the highest part number.
  dump=$(ls -v "$out"/callgrind.out.* | tail -1)
  python3 - "$bin" "$dump" "$out/wrk.json" <<'PY'
import json, sys
binary, dump, wrk = sys.argv[1:4]
total = next(int(l.split()[1]) for l in open(dump) if l.startswith(("summary:", "totals:")))
w = json.load(open(wrk))
n = max(w["requests"], 1)
print(f"{binary}: {w['requests']} requests, {w['errors']} errors, {total // n:,} instructions per request ({dump})")
PY
done
