# Shared by the bench scripts (sourced, not run). Uses PGURL, BIN,
# PORT, KEEP_DB, SERVICE_LOG, SERVICE_ENV and, when set, SESSION_TTL.

log() { printf '\n== %s\n' "$*" >&2; }

kit_defaults() { # kit_defaults NAME: the settings the small kits (trees.sh, streams.sh)
  # share, their RESULTS directory, and the release build unless SKIP_BUILD=1
  PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
  PORT=${PORT:-18080}
  KEEP_DB=${KEEP_DB:-0}
  SKIP_BUILD=${SKIP_BUILD:-0}
  SERVICE_ENV=${SERVICE_ENV:-}
  SERVICE_LOG=${SERVICE_LOG:-info}
  TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
  BIN=${BIN:-$TARGET/release/chat-history}
  RESULTS=${RESULTS:-$ROOT/bench/results/$1-$(date +%Y%m%d-%H%M%S)}
  export JWT_HS256_SECRET=${JWT_HS256_SECRET:-bench-jwt-secret-0123456789abcdef0123456789}
  mkdir -p "$RESULTS"
  if [[ $SKIP_BUILD != 1 ]]; then
    log "cargo build --release"
    cargo build --release --bin chat-history
  fi
}

# --- databases ---------------------------------------------------------------------------
CREATED_DBS=()

new_database() { # new_database DB: (re)creates DB, migrated by the binary; dropped at exit
  psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $1" >/dev/null
  psql "$PGURL/postgres" -qc "CREATE DATABASE $1" >/dev/null
  CREATED_DBS+=("$1")
  DATABASE_URL="$PGURL/$1" "$BIN" migrate >/dev/null
}

created_this_run() { # created_this_run DB: seeded earlier in this run (reuse it)
  [[ " ${CREATED_DBS[*]} " == *" $1 "* ]]
}

cleanup_dbs() {
  [[ $KEEP_DB == 1 ]] && return
  for db in "${CREATED_DBS[@]}"; do
    psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  done
}

# --- the service -------------------------------------------------------------------------
SERVICE_PID=
start_service() { # start_service DB
  stop_service
  # shellcheck disable=SC2086
  env DATABASE_URL="$PGURL/$1" LISTEN_ADDR="127.0.0.1:$PORT" MIGRATE_ON_START=false \
      RATE_LIMIT_PER_MINUTE=0 ${SESSION_TTL:+SESSION_CACHE_TTL_SECS="$SESSION_TTL"} \
      LOG_FORMAT=json RUST_LOG="$SERVICE_LOG" $SERVICE_ENV \
      $LOAD_PREFIX "$BIN" serve 2>/dev/null >/dev/null &
  SERVICE_PID=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return
    kill -0 "$SERVICE_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "the service did not start (is port $PORT free?)" >&2; exit 1
}

stop_service() {
  if [[ -n $SERVICE_PID ]]; then
    kill "$SERVICE_PID" 2>/dev/null || true
    wait "$SERVICE_PID" 2>/dev/null || true
    SERVICE_PID=
  fi
}
# --- CPU pinning (PIN=1) -----------------------------------------------------------------
LOAD_PREFIX=
PG_AFFINITY=
pin_postgres() { # PostgreSQL (every process; new backends inherit the postmaster's) on core 0,
  # what LOAD_PREFIX starts (the service, wrk, pgbench) on core 1
  local pids
  pids=$(pgrep -x postgres || true)
  [[ -n $pids ]] || { echo "PIN=1: no postgres process found" >&2; exit 1; }
  PG_AFFINITY=$(taskset -pc "$(pgrep -o -x postgres)" | sed -E 's/.*: //')
  for p in $pids; do taskset -pc 0 "$p" >/dev/null; done
  LOAD_PREFIX="taskset -c 1"
  log "pinned PostgreSQL to core 0 (was $PG_AFFINITY), the service and the load to core 1"
}
unpin_postgres() {
  [[ -n $PG_AFFINITY ]] || return 0
  for p in $(pgrep -x postgres || true); do taskset -pc "$PG_AFFINITY" "$p" >/dev/null 2>&1 || true; done
  PG_AFFINITY=
}
trap 'stop_service; unpin_postgres; cleanup_dbs' EXIT
