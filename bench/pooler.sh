#!/usr/bin/env bash
# The cost of DB_POOLER=transaction (issue: operations): the main kit's read and append
# scenarios three times on one data set, the service
#   1. straight to PostgreSQL (DB_POOLER=none, the default),
#   2. straight to PostgreSQL with DB_POOLER=transaction (the mode's own cost: a
#      transaction and an unnamed statement per statement),
#   3. through Debian's PgBouncer in transaction mode (its pool as large as the
#      service's) with DB_POOLER=transaction.
# Each run's pgbench half talks to PostgreSQL directly, as the same baseline.
# Settings: MESSAGES=100000 DURATION=10 PGURL=... (as bench/run.sh); needs pgbouncer.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MESSAGES=${MESSAGES:-100000}
DURATION=${DURATION:-10}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
OUT=${OUT:-$ROOT/bench/results/pooler-$(date +%Y%m%d-%H%M%S)}
PGB_PORT=${PGB_PORT:-16432}
POOL=${POOL:-8}
DB=bench_chat_$MESSAGES
mkdir -p "$OUT"
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || { echo "pgbouncer is needed (apt-get install pgbouncer)" >&2; exit 1; }
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

work=$(mktemp -d); chmod 755 "$work"
pgb_pid=
cleanup() { [[ -z $pgb_pid ]] || kill "$pgb_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
printf '"postgres" ""\n' >"$work/users.txt"
cat >"$work/pgbouncer.ini" <<INI
[databases]
$DB = host=127.0.0.1 port=5432 dbname=$DB user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $work/users.txt
pool_mode = transaction
default_pool_size = $POOL
max_client_conn = 200
ignore_startup_parameters = extra_float_digits
INI
chmod 644 "$work"/*
as_user=(); [[ $(id -u) == 0 ]] && as_user=(-u nobody)
"$PGBOUNCER" "${as_user[@]}" "$work/pgbouncer.ini" >/dev/null 2>&1 &
pgb_pid=$!

common=(MESSAGES="$MESSAGES" DURATION="$DURATION" SCENARIOS="read append" LATENCY_SIZES="" KEEP_DB=1)
env "${common[@]}" SKIP_BUILD=${SKIP_BUILD:-0} RESULTS="$OUT/1-none" SERVICE_ENV="DB_MAX_CONNECTIONS=$POOL" bash bench/run.sh
env "${common[@]}" SKIP_BUILD=1 RESULTS="$OUT/2-transaction-direct" \
  SERVICE_ENV="DB_MAX_CONNECTIONS=$POOL DB_POOLER=transaction" bash bench/run.sh
env "${common[@]}" SKIP_BUILD=1 RESULTS="$OUT/3-transaction-pgbouncer" \
  SERVICE_ENV="DB_MAX_CONNECTIONS=$POOL DB_POOLER=transaction DATABASE_URL=postgres://postgres@127.0.0.1:$PGB_PORT/$DB" \
  bash bench/run.sh
for r in "$OUT"/*/; do echo "== $(basename "$r")"; sed -n '/^| scenario/,/^$/p' "$r/report.md"; done
echo "results in $OUT (data set $DB kept: KEEP_DB=1)" >&2
