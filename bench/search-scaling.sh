#!/usr/bin/env bash
# Search-scaling scenarios of the benchmark kit: how the latency of one user's search
# depends on the number of its messages and on the messages of others. See bench/README.md.
#
# For each data set (one per value of OTHERS): seed bench/search-scaling.sql into a fresh
# database migrated by `chat-history migrate`, start the service on it, and time
# GET /api/v1/search?q=<word>&limit=LIMIT one request at a time for four cases:
# small/common, big/common, small/rare, big/rare. Report: RESULTS/report.md (and stdout).
#
# Settings (environment):
#   OTHERS="0"            messages of other users, one data set per value (each rounded up
#                         to 1,000-message users), e.g. OTHERS="0 1000000" for both sides of
#                         "no slower with many messages of others than with none"
#   BIG=50000             messages of user "big" (bench-user-1), rounded up to 50
#   SMALL=1000            messages of user "small" (bench-user-2), rounded up to 50
#   REQUESTS=200          measured requests per case, after WARMUP_REQUESTS=20
#   LIMIT=20              page size of the search
#   PGURL=postgres://postgres@127.0.0.1:5432   server (trust auth); databases: see DB_PREFIX
#   PORT=18090            where the service listens (127.0.0.1)
#   KEEP_DB=0             1 keeps (and reuses) the seeded databases
#   DB_PREFIX=bench_search  databases are DB_PREFIX_<big>_<small>_<others> (another prefix
#                         keeps a second copy, e.g. one migrated by an older binary)
#   PREWARM=1             0 skips pg_prewarm (tables, TOAST and every index, GIN included)
#   SKIP_BUILD=0          1 uses an existing binary; else `cargo build --profile $PROFILE`
#   PROFILE=release       cargo profile (`profiling` builds faster)
#   BIN / CHAT_HISTORY_BIN   the binary (default: $CARGO_TARGET_DIR or target, /$PROFILE/chat-history)
#   RESULTS=bench/results/<date>-search-scaling
#   SERVICE_ENV="..."     extra environment for the service (e.g. "DB_MAX_CONNECTIONS=8")
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OTHERS=${OTHERS:-0}
BIG=${BIG:-50000}
SMALL=${SMALL:-1000}
REQUESTS=${REQUESTS:-200}
WARMUP_REQUESTS=${WARMUP_REQUESTS:-20}
LIMIT=${LIMIT:-20}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18090}
KEEP_DB=${KEEP_DB:-0}
DB_PREFIX=${DB_PREFIX:-bench_search}
PREWARM=${PREWARM:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
PROFILE=${PROFILE:-release}
SERVICE_ENV=${SERVICE_ENV:-}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${CHAT_HISTORY_BIN:-${BIN:-$TARGET/$PROFILE/chat-history}}
RESULTS=${RESULTS:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)-search-scaling}
export JWT_HS256_SECRET=${JWT_HS256_SECRET:-bench-jwt-secret-0123456789abcdef0123456789}
export BETTER_AUTH_SECRET=${BETTER_AUTH_SECRET:-bench-better-auth-secret-0123456789abcdef}
SERVICE_LOG=${SERVICE_LOG:-info}

BIG_THREADS=$(( (BIG + 49) / 50 ))
SMALL_THREADS=$(( (SMALL + 49) / 50 ))

mkdir -p "$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
source bench/lib.sh

command -v psql >/dev/null || { apt-get install -y postgresql-client || { apt-get update && apt-get install -y postgresql-client; }; }
command -v python3 >/dev/null || { echo "python3 is needed (tokens, timing, report)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

if [[ $SKIP_BUILD != 1 ]]; then
  log "cargo build --profile $PROFILE"
  cargo build --profile "$PROFILE" --bin chat-history
fi
[[ -x $BIN ]] || { echo "no binary at $BIN (set BIN, CHAT_HISTORY_BIN or CARGO_TARGET_DIR)" >&2; exit 1; }

# --- data sets ---------------------------------------------------------------------------
other_users_for() { echo $(( ($1 + 999) / 1000 )); }
db_for() { echo "${DB_PREFIX}_$((BIG_THREADS * 50))_$((SMALL_THREADS * 50))_$(( $(other_users_for "$1") * 1000 ))"; }

seed() { # seed OTHERS -> creates and seeds the data set unless it is there already (KEEP_DB=1)
  local others=$1 db
  db=$(db_for "$others")
  if [[ $KEEP_DB == 1 ]] && psql "$PGURL/$db" -Atqc "select 1 from chat_messages limit 1" >/dev/null 2>&1; then
    log "reusing $db"
    return
  fi
  new_database "$db"
  log "seeding $db: big $((BIG_THREADS * 50)), small $((SMALL_THREADS * 50)), $(other_users_for "$others") other users x 1000 messages"
  local t0=$SECONDS
  psql "$PGURL/$db" -v big_threads="$BIG_THREADS" -v small_threads="$SMALL_THREADS" \
    -v other_users="$(other_users_for "$others")" -f bench/search-scaling.sql >&2
  echo "seeded in $((SECONDS - t0)) s" >&2
}

prewarm() { # prewarm DB: every page of the chat tables, their TOAST and all their indexes
  [[ $PREWARM == 1 ]] || return 0
  log "prewarming $1 (pg_prewarm 'read', GIN included)"
  psql "$PGURL/$1" -qAt -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" \
    -c "SELECT sum(pg_prewarm(c.oid::regclass, 'read')) FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'i', 't')
            AND (n.nspname = 'pg_toast' OR (n.nspname = 'public' AND c.relname LIKE 'chat_%'))" >/dev/null
}


# --- runs --------------------------------------------------------------------------------
# Line 1 of jwt.txt is bench-user-1 ("big"), line 2 bench-user-2 ("small").
python3 bench/tools/bench.py tokens 2 "$RESULTS"
TOKEN_BIG=$(sed -n 1p "$RESULTS/jwt.txt")
TOKEN_SMALL=$(sed -n 2p "$RESULTS/jwt.txt")
declare -A WORD=([common]=common [rare]=zanzibar)

RUNS_JSON=$RESULTS/runs.json.tmp
echo "[" >"$RUNS_JSON"
first=1
HAS_OWNER=?
for others in $OTHERS; do
  others=$(( $(other_users_for "$others") * 1000 ))
  db=$(db_for "$others")
  seed "$others"
  HAS_OWNER=$(psql "$PGURL/$db" -Atc "SELECT count(*) > 0 FROM information_schema.columns
                WHERE table_name = 'chat_messages' AND column_name = 'user_id'")
  psql "$PGURL/$db" -qc "VACUUM ANALYZE"
  prewarm "$db"
  start_service "$db"
  for case in small/common big/common small/rare big/rare; do
    who=${case%/*} word=${case#*/}
    token=$TOKEN_SMALL
    [[ $who == big ]] && token=$TOKEN_BIG
    out=$RESULTS/others-$others-$who-$word.json
    python3 bench/tools/bench.py latency \
      "http://127.0.0.1:$PORT/api/v1/search?q=${WORD[$word]}&limit=$LIMIT" \
      "$token" "$WARMUP_REQUESTS" "$REQUESTS" >"$out" || { rm -f "$out"; echo "$case failed" >&2; }
    [[ -f $out ]] && echo "others $others, $who/${WORD[$word]}: $(cat "$out")" >&2
  done
  stop_service
  size=$(psql "$PGURL/$db" -Atc "select pg_size_pretty(pg_database_size(current_database()))")
  messages=$(psql "$PGURL/$db" -Atc "select count(*) from chat_messages")
  [[ $first == 1 ]] || echo "," >>"$RUNS_JSON"
  first=0
  printf '{"others": %s, "db": "%s", "db_size": "%s", "messages": %s}\n' \
    "$others" "$db" "$size" "$messages" >>"$RUNS_JSON"
done
echo "]" >>"$RUNS_JSON"

# --- report -------------------------------------------------------------------------------
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
python3 - "$RESULTS" <<PY
import json, os, sys, time
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
runs = json.load(open(sys.argv[1] + "/runs.json.tmp"))
json.dump({"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu, "cores": os.cpu_count(),
           "mem": f"{int(mem) / 1048576:.0f} GiB", "load_before": "$LOAD_BEFORE",
           "load_after": "$(cut -d' ' -f1-3 /proc/loadavg)",
           "bin": "$BIN", "commit": "kit at $COMMIT, binary built " + time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime("$BIN"))),
           "has_owner": "$HAS_OWNER" == "t", "big": $((BIG_THREADS * 50)), "small": $((SMALL_THREADS * 50)),
           "words": {"common": "common", "rare": "zanzibar"}, "limit": $LIMIT,
           "requests": $REQUESTS, "warmup": $WARMUP_REQUESTS, "prewarm": "$PREWARM" == "1",
           "runs": runs}, open(sys.argv[1] + "/meta.json", "w"), indent=1)
PY
rm -f "$RUNS_JSON"
python3 bench/tools/bench.py scaling "$RESULTS"
echo "results in $RESULTS" >&2
