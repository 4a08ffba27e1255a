#!/usr/bin/env bash
# The benchmark kit: seed, run the service and pgbench side by side, report.
# See bench/README.md. Everything runs on loopback and is bounded in time.
#
# Settings (environment):
#   MESSAGES=1000000      size of the main data set (10000000 for 10M)
#   DURATION=20           seconds per measured run (after WARMUP seconds of warm-up)
#   WARMUP=3
#   CONNECTIONS=32        wrk connections = pgbench clients
#   PGBENCH_CLIENTS=$CONNECTIONS   pgbench clients, when they should differ (e.g. the
#                         service's pool size: the database connections the service uses)
#   SCENARIOS="read read_session threads search append"
#                         (add search_scaling to run bench/search-scaling.sh at the end,
#                         with its own settings: OTHERS, BIG, SMALL, REQUESTS, ...)
#   LATENCY_SIZES="10000 $MESSAGES"   data sets of the read-latency comparison
#   PGURL=postgres://postgres@127.0.0.1:5432   server (trust auth); databases are bench_*
#   PORT=18080            where the service listens (127.0.0.1)
#   KEEP_DB=0             1 keeps (and reuses) the seeded databases
#   PREWARM=1             0 skips pg_prewarm of each data set before it is measured
#   SKIP_BUILD=0          1 uses the existing release binary
#   SERVICE_ENV="..."     extra environment for the service (e.g. "DB_MAX_CONNECTIONS=8")
#   PIN=0                 1 pins PostgreSQL to core 0 and the service, wrk and pgbench to
#                         core 1 while measuring (PostgreSQL's affinity is restored at the
#                         end): PostgreSQL gets the same CPU in both runs of a scenario,
#                         and the service's own CPU is not taken from it (as on separate
#                         machines); needs root and 2 or more cores
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
MESSAGES=${MESSAGES:-1000000}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-32}
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-$CONNECTIONS}
SCENARIOS=${SCENARIOS:-"read read_session threads search append"}
LATENCY_SIZES=${LATENCY_SIZES-"10000 $MESSAGES"}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18080}
KEEP_DB=${KEEP_DB:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
SERVICE_ENV=${SERVICE_ENV:-}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${BIN:-$TARGET/release/chat-history}
RESULTS=${RESULTS:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)}
export JWT_HS256_SECRET=${JWT_HS256_SECRET:-bench-jwt-secret-0123456789abcdef0123456789}
export BETTER_AUTH_SECRET=${BETTER_AUTH_SECRET:-bench-better-auth-secret-0123456789abcdef}
SESSION_TTL=${SESSION_CACHE_TTL_SECS:-5}
SERVICE_LOG=${SERVICE_LOG:-info}
PIN=${PIN:-0}

mkdir -p "$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
source bench/lib.sh

# --- tools -------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v pgbench >/dev/null || need_apt+=(postgresql-contrib)
command -v psql >/dev/null || need_apt+=(postgresql-client)
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]}"
  apt-get install -y "${need_apt[@]}" || { apt-get update && apt-get install -y "${need_apt[@]}"; }
fi
command -v python3 >/dev/null || { echo "python3 is needed (report and token minting)" >&2; exit 1; }

if [[ $SKIP_BUILD != 1 ]]; then
  log "cargo build --release"
  cargo build --release --bin chat-history
fi
[[ -x $BIN ]] || { echo "no binary at $BIN (set BIN or CARGO_TARGET_DIR)" >&2; exit 1; }

# --- data sets ---------------------------------------------------------------------------
users_for() { echo $(( ($1 + 999) / 1000 )); }   # 20 threads x 50 messages per user
db_for() { echo "bench_chat_$1"; }

seed() { # seed MESSAGES -> creates and seeds bench_chat_MESSAGES unless it is there already
  local messages=$1 db users
  db=$(db_for "$messages"); users=$(users_for "$messages")
  if created_this_run "$db" || { [[ $KEEP_DB == 1 ]] &&
       psql "$PGURL/$db" -Atqc "select 1 from chat_threads limit 1" >/dev/null 2>&1; }; then
    log "reusing $db"
    return
  fi
  new_database "$db"
  log "seeding $db: $users users, ~$messages messages"
  local t0=$SECONDS
  psql "$PGURL/$db" -v users="$users" -f bench/seed.sql
  echo "seeded in $((SECONDS - t0)) s" >&2
}

prewarm() { # prewarm DB: read its tables and indexes into the OS page cache (PREWARM=1)
  [[ ${PREWARM:-1} == 1 ]] || return 0
  # Reads every page of the tables and their indexes once, so that the whole data set is
  # in the OS page cache (shared_buffers is far smaller): the figures then show what the
  # queries cost, not which pages happened to be on disk (seeding another data set, for
  # one, evicts this one).
  # The full-text GIN index is left out (reads never touch it; at 10M messages the data
  # set is larger than this machine's memory with it), and TOAST goes first so that the
  # tables and B-tree indexes the reads use are the most recently read.
  log "prewarming $1 (pg_prewarm 'read')"
  psql "$PGURL/$1" -qAt -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" \
    -c "SELECT sum(pg_prewarm(oid, 'read')) FROM (
          SELECT c.oid::regclass AS oid FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_am am ON am.oid = c.relam
          WHERE c.relkind IN ('r', 'i', 't') AND coalesce(am.amname, '') <> 'gin'
            AND (n.nspname = 'pg_toast' OR (n.nspname = 'public' AND c.relname LIKE 'chat_%'))
          ORDER BY n.nspname = 'pg_toast' DESC, c.relkind) AS r" >/dev/null
}


# --- runners -----------------------------------------------------------------------------
SAMPLER_PID=
sampler_start() { python3 bench/tools/bench.py sample "$1" "${SERVICE_PID:-0}" & SAMPLER_PID=$!; }
sampler_stop() { kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; }

run_wrk() { # run_wrk SCENARIO TOKENS CONNECTIONS DURATION OUT.json [threads] [CPU.json]
  local scenario=$1 tokens=$2 conns=$3 duration=$4 out=$5 threads=${6:-2} cpu=${7:-}
  local kind=${scenario%_session}
  SCENARIO=$kind USERS=$USERS TOKENS=$tokens WRK_JSON=/dev/null \
    $LOAD_PREFIX wrk -t"$threads" -c"$conns" -d"${WARMUP}s" -s bench/wrk/scenario.lua "http://127.0.0.1:$PORT" >/dev/null
  [[ -z $cpu ]] || sampler_start "$cpu"
  SCENARIO=$kind USERS=$USERS TOKENS=$tokens WRK_JSON=$out \
    $LOAD_PREFIX wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 10s -s bench/wrk/scenario.lua "http://127.0.0.1:$PORT" >&2
  [[ -z $cpu ]] || sampler_stop
}

pgbench_script() { # the SQL of one scenario as a pgbench script
  case $1 in
    read_session) cat bench/pgbench/session.sql; grep -v '^\\set u ' bench/pgbench/read.sql ;;
    *) cat "bench/pgbench/$1.sql" ;;
  esac
}

run_pgbench() { # run_pgbench SCENARIO DB CLIENTS DURATION OUT.json [CPU.json]
  local scenario=$1 db=$2 clients=$3 duration=$4 out=$5 cpu=${6:-} script logdir
  script=$RESULTS/pgbench-$scenario.sql
  pgbench_script "$scenario" >"$script"
  logdir=$(mktemp -d)
  local jobs=$(( clients < 2 ? 1 : 2 ))
  $LOAD_PREFIX pgbench -n -M prepared -c "$clients" -j "$jobs" -T "$WARMUP" -D users="$USERS" -f "$script" "$PGURL/$db" >/dev/null 2>&1
  [[ -z $cpu ]] || sampler_start "$cpu"
  (cd "$logdir" && $LOAD_PREFIX pgbench -n -M prepared -c "$clients" -j "$jobs" -T "$duration" -D users="$USERS" \
      -l --log-prefix=pgb -f "$script" "$PGURL/$db") >"$logdir/out.txt" 2>&1 || { [[ -z $cpu ]] || sampler_stop; cat "$logdir/out.txt" >&2; return 1; }
  [[ -z $cpu ]] || sampler_stop
  local tps failed
  tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$logdir/out.txt" | head -1)
  failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' "$logdir/out.txt" | head -1)
  python3 bench/tools/bench.py pglog "$logdir/pgb" |
    python3 -c "import json,sys; d=json.load(sys.stdin); d.update(tps=float('$tps'), failed=int('${failed:-0}')); json.dump(d, sys.stdout)" >"$out"
  echo "pgbench $scenario: $(cat "$out")" >&2
  rm -rf "$logdir"
}

search_available() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(head -1 "$RESULTS/jwt.txt")" \
    "http://127.0.0.1:$PORT/api/v1/search?q=postgres")
  [[ $code == 200 ]]
}

# --- main data set: every scenario ---------------------------------------------------------
USERS=$(users_for "$MESSAGES")
MAIN_DB=$(db_for "$MESSAGES")
seed "$MESSAGES"
python3 bench/tools/bench.py tokens "$USERS" "$RESULTS"
# A reused data set has grown by earlier append runs: vacuum and analyze it now, so that
# autovacuum does not run (and count as PostgreSQL's CPU) in the middle of a measurement.
log "VACUUM ANALYZE $MAIN_DB"
psql "$PGURL/$MAIN_DB" -qc "VACUUM ANALYZE"
prewarm "$MAIN_DB"
if [[ $PIN == 1 ]]; then pin_postgres; fi
start_service "$MAIN_DB"
POOL=$(curl -s "http://127.0.0.1:$PORT/metrics" | sed -nE 's/^chat_history_db_pool_connections\{state="max"\} ([0-9]+).*/\1/p')

ran=()
for scenario in $SCENARIOS; do
  [[ $scenario == search_scaling ]] && continue   # its own data sets: below
  tokens=$RESULTS/jwt.txt
  [[ $scenario == *_session ]] && tokens=$RESULTS/session.txt
  if [[ $scenario == search ]] && ! search_available; then
    log "search: GET /api/v1/search is not available in this build; skipped"
    ran+=("$scenario")
    continue
  fi
  log "$scenario: service (wrk -c$CONNECTIONS, ${DURATION}s)"
  run_wrk "$scenario" "$tokens" "$CONNECTIONS" "$DURATION" "$RESULTS/wrk-$scenario.json" 2 "$RESULTS/cpu-wrk-$scenario.json"
  log "$scenario: pgbench (-c$PGBENCH_CLIENTS, ${DURATION}s)"
  run_pgbench "$scenario" "$MAIN_DB" "$PGBENCH_CLIENTS" "$DURATION" "$RESULTS/pgbench-$scenario.json" "$RESULTS/cpu-pgbench-$scenario.json" || true
  ran+=("$scenario")
done

DB_SIZE=$(psql "$PGURL/$MAIN_DB" -Atc "select pg_size_pretty(pg_database_size(current_database()))")
THREADS=$(psql "$PGURL/$MAIN_DB" -Atc "select count(*) from chat_threads")

# --- read latency by database size ----------------------------------------------------------
LAT_SECONDS=${LAT_SECONDS:-10}
echo "[" >"$RESULTS/latency.json.tmp"
first=1
for size in $LATENCY_SIZES; do
  seed "$size"
  USERS=$(users_for "$size")
  db=$(db_for "$size")
  mkdir -p "$RESULTS/lat-$size"
  python3 bench/tools/bench.py tokens "$USERS" "$RESULTS/lat-$size"
  prewarm "$db"
  start_service "$db"
  log "read latency on $size messages"
  run_wrk read "$RESULTS/lat-$size/jwt.txt" 1 "$LAT_SECONDS" "$RESULTS/lat-$size-c1.json" 1
  run_wrk read "$RESULTS/lat-$size/jwt.txt" "$CONNECTIONS" "$LAT_SECONDS" "$RESULTS/lat-$size-cN.json"
  run_pgbench read "$db" 1 "$LAT_SECONDS" "$RESULTS/lat-$size-pg.json"
  [[ $first == 1 ]] || echo "," >>"$RESULTS/latency.json.tmp"
  first=0
  python3 - "$RESULTS" "$size" >>"$RESULTS/latency.json.tmp" <<'PY'
import json, sys
r, size = sys.argv[1], sys.argv[2]
c1 = json.load(open(f"{r}/lat-{size}-c1.json")); cn = json.load(open(f"{r}/lat-{size}-cN.json"))
pg = json.load(open(f"{r}/lat-{size}-pg.json"))
json.dump({"messages": int(size), "c1_p50": c1["p50_ms"], "c1_p99": c1["p99_ms"], "cN_p50": cn["p50_ms"],
           "cN_p99": cn["p99_ms"], "cN_rps": cn["rps"], "pg_p50": pg["p50_ms"], "pg_p99": pg["p99_ms"]}, sys.stdout)
PY
done
echo "]" >>"$RESULTS/latency.json.tmp"
mv "$RESULTS/latency.json.tmp" "$RESULTS/latency.json"
stop_service

# --- search scaling (bench/search-scaling.sh), when SCENARIOS names it ---------------------
if [[ " $SCENARIOS " == *" search_scaling "* ]]; then
  log "search scaling (bench/search-scaling.sh)"
  RESULTS=$RESULTS/search-scaling SKIP_BUILD=1 BIN=$BIN CHAT_HISTORY_BIN=$BIN PGURL=$PGURL \
    KEEP_DB=$KEEP_DB PREWARM=${PREWARM:-1} SERVICE_ENV=$SERVICE_ENV SERVICE_LOG=$SERVICE_LOG \
    bash bench/search-scaling.sh >/dev/null || log "search scaling failed"
fi

# --- report -------------------------------------------------------------------------------
python3 - "$RESULTS" <<PY
import json, os, subprocess, sys, time
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
json.dump({"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu, "cores": os.cpu_count(),
           "mem": f"{int(mem) / 1048576:.0f} GiB", "load_before": "$LOAD_BEFORE", "load_after": "$(cut -d' ' -f1-3 /proc/loadavg)",
           "messages": $MESSAGES, "users": $(users_for "$MESSAGES"), "threads": int("${THREADS:-0}"),
           "db_size": "$DB_SIZE", "duration": $DURATION, "connections": $CONNECTIONS, "pgbench_clients": $PGBENCH_CLIENTS, "pool": "${POOL:-?}",
           "session_ttl": "$SESSION_TTL", "prewarm": "${PREWARM:-1}", "log": "RUST_LOG=$SERVICE_LOG json to /dev/null",
           "pinned": "$PIN" == "1",
           "scenarios": "${ran[*]}".split()}, open(sys.argv[1] + "/meta.json", "w"))
PY
python3 bench/tools/bench.py report "$RESULTS"
echo "results in $RESULTS" >&2
