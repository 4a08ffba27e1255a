#!/usr/bin/env bash
# Bulk history benchmark (issue #16): the export of a user with 1M messages
# (GET /api/v1/me/export, NDJSON) and the import of a 100k-message ChatGPT export
# (POST /api/v1/me/import?format=chatgpt, and `chat-history import`), each timed while the
# process's RSS is sampled every 100 ms, next to what COPY of the same rows achieves on the
# same machine and database. Goal: peak RSS under 64 MiB each, throughput at least a third
# of COPY's. See bench/README.md ("Bulk history").
#
#   bash bench/history.sh                          # 2,000 x 500 messages out, 1,000 x 100 in
#   SCENARIOS=import bash bench/history.sh         # one half only (export | import)
#   THREADS=200 CONVERSATIONS=100 SKIP_BUILD=1 bash bench/history.sh   # a quick run
#
# Settings (environment):
#   THREADS=2000 PER_THREAD=500          the exported user's history (PER_THREAD <= 1023)
#   CONVERSATIONS=1000 CONV_MESSAGES=100 BRANCHES=3
#                                        the ChatGPT file: CONV_MESSAGES messages per
#                                        conversation, BRANCHES of them regenerated replies
#   SCENARIOS="export import"            PGURL=postgres://postgres@127.0.0.1:5432
#   PORT=18096  KEEP_DB=0  KEEP_FILES=0  SKIP_BUILD=0  BIN=...  SERVICE_ENV="..."
#   MAX_IMPORT_BYTES=1073741824          the service's import limit (the file is ~130 MB)
#   CARGO_TARGET_DIR=$HOME/.cache/chat-history/target
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
THREADS=${THREADS:-2000}
PER_THREAD=${PER_THREAD:-500}
CONVERSATIONS=${CONVERSATIONS:-1000}
CONV_MESSAGES=${CONV_MESSAGES:-100}
BRANCHES=${BRANCHES:-3}
SCENARIOS=${SCENARIOS:-"export import"}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18096}
KEEP_DB=${KEEP_DB:-0}
KEEP_FILES=${KEEP_FILES:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
SERVICE_LOG=${SERVICE_LOG:-info}
MAX_IMPORT_BYTES=${MAX_IMPORT_BYTES:-1073741824}
SERVICE_ENV="MAX_IMPORT_BYTES=$MAX_IMPORT_BYTES ${SERVICE_ENV:-}"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/chat-history/target}
BIN=${BIN:-$CARGO_TARGET_DIR/release/chat-history}
RESULTS=${RESULTS:-$ROOT/bench/results/history-$(date +%Y%m%d-%H%M%S)}
export JWT_HS256_SECRET=${JWT_HS256_SECRET:-bench-jwt-secret-0123456789abcdef0123456789}
BENCH_USER=bench-user-1
H=bench/tools/history.py

mkdir -p "$RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-history.XXXXXX")
source bench/lib.sh

SAMPLER_PID=
sampler_start() { python3 "$H" sample "$1" "$SERVICE_PID" "$2" & SAMPLER_PID=$!; }
sampler_stop() {
  [[ -n $SAMPLER_PID ]] || return 0
  kill "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=
}
CLEANED=
cleanup() {
  [[ -z $CLEANED ]] || return 0
  CLEANED=1
  sampler_stop
  stop_service
  unpin_postgres
  cleanup_dbs
  if [[ $KEEP_FILES == 1 ]]; then echo "files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

loads=()
note_load() { loads+=("$1: $(cut -d' ' -f1-3 /proc/loadavg)"); log "$1 (load $(cut -d' ' -f1-3 /proc/loadavg))"; }
note_load start

for tool in psql curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
if [[ $SKIP_BUILD != 1 ]]; then
  log "cargo build --release -p chat-history (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  cargo build --release -p chat-history
fi
[[ -x $BIN ]] || { echo "no binary at $BIN (set BIN or CARGO_TARGET_DIR)" >&2; exit 1; }
TOKEN=$("$BIN" dev-token "$BENCH_USER")   # the server checks it with the same JWT_HS256_SECRET
AUTH="Authorization: Bearer $TOKEN"
URL="http://127.0.0.1:$PORT/api/v1/me"
EXPORT_MESSAGES=$((THREADS * PER_THREAD))
IMPORT_MESSAGES=$((CONVERSATIONS * CONV_MESSAGES))
EXPORT_BYTES=
IMPORT_FILE_BYTES=
status=0

count() { psql "$PGURL/$1" -XAtc "SELECT (SELECT count(*) FROM chat_threads) || ' threads, ' || (SELECT count(*) FROM chat_messages) || ' messages'"; }

# Columns a COPY writes: all but generated ones (search_vector).
columns() { # columns DB TABLE
  psql "$PGURL/$1" -XAtc "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
    WHERE attrelid = '$2'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
}

# --- export --------------------------------------------------------------------------------
if [[ " $SCENARIOS " == *" export "* ]]; then
  DB=bench_history_export
  new_database "$DB"
  note_load "seeding $DB: $BENCH_USER, $THREADS threads x $PER_THREAD messages"
  t0=$SECONDS
  psql "$PGURL/$DB" -X -v threads="$THREADS" -v per_thread="$PER_THREAD" -v user="$BENCH_USER" -f bench/history.sql
  psql "$PGURL/$DB" -Xqc "VACUUM ANALYZE"
  echo "seeded in $((SECONDS - t0)) s" >&2

  start_service "$DB"
  note_load "export: GET /me/export to /dev/null ($EXPORT_MESSAGES messages)"
  sampler_start "$RESULTS/export-rss.json" "$DB"
  python3 "$H" run "$RESULTS/export-http.json" "$DB" -- \
    curl -sS -o /dev/null -H "$AUTH" -w '%{http_code} %{size_download} %{time_starttransfer} %{time_total}\n' \
    "$URL/export" >"$RESULTS/export-curl.txt" || status=1
  sampler_stop
  read -r code EXPORT_BYTES ttfb total <"$RESULTS/export-curl.txt" || true
  echo "export: HTTP $code, $EXPORT_BYTES bytes, first byte after $ttfb s, $total s" >&2
  [[ $code == 200 ]] || { echo "export: HTTP $code" >&2; status=1; }

  note_load "export: checking a second download"
  if curl -sS -H "$AUTH" "$URL/export" | python3 "$H" check-export "$THREADS" "$PER_THREAD" >"$RESULTS/export-check.json"; then
    echo "export complete: $(cat "$RESULTS/export-check.json")" >&2
  else
    echo "EXPORT INCOMPLETE: $(cat "$RESULTS/export-check.json")" >&2; status=1
  fi
  stop_service

  # The same rows as the export: every message of the user's live threads joined to its
  # thread, in the export's order (threads by id, messages by created_at, id).
  THREAD_COLS=$(columns "$DB" chat_threads | sed -E 's/(^|, )/\1t./g')
  MESSAGE_COLS=$(columns "$DB" chat_messages | sed -E 's/(^|, )/\1m./g')
  live="t.user_id = '$BENCH_USER' AND (t.expires_at IS NULL OR t.expires_at > now())"
  note_load "export baseline: COPY TO STDOUT, plain columns"
  python3 "$H" run "$RESULTS/copy-to-text.json" "$DB" -- \
    psql "$PGURL/$DB" -X -v ON_ERROR_STOP=1 -c "COPY (SELECT $THREAD_COLS, $MESSAGE_COLS
      FROM chat_threads t JOIN chat_messages m ON m.thread_id = t.id
      WHERE $live ORDER BY t.id, m.created_at, m.id) TO STDOUT" >/dev/null || status=1
  note_load "export baseline: COPY TO STDOUT, one JSON line per thread"
  python3 "$H" run "$RESULTS/copy-to-json.json" "$DB" -- \
    psql "$PGURL/$DB" -X -v ON_ERROR_STOP=1 -c "COPY (SELECT json_build_object(
        'thread', to_jsonb(t) - 'user_id',
        'messages', (SELECT json_agg(to_jsonb(m) - 'search_vector' - 'user_id' ORDER BY m.created_at, m.id)
                     FROM chat_messages m WHERE m.thread_id = t.id))
      FROM chat_threads t WHERE $live ORDER BY t.id) TO STDOUT" >/dev/null || status=1
  [[ $KEEP_DB == 1 ]] || { psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null; }
fi

# --- import --------------------------------------------------------------------------------
if [[ " $SCENARIOS " == *" import "* ]]; then
  FILE=$WORK/conversations.json
  note_load "writing a ChatGPT export: $CONVERSATIONS conversations x $CONV_MESSAGES messages"
  python3 "$H" chatgpt "$FILE" "$CONVERSATIONS" "$CONV_MESSAGES" "$BRANCHES" | tee "$RESULTS/chatgpt-file.json" >&2
  IMPORT_FILE_BYTES=$(stat -c %s "$FILE")

  expect_import() { # expect_import DB WHAT: the database holds the whole file
    local got; got=$(count "$1")
    if [[ $got == "$CONVERSATIONS threads, $IMPORT_MESSAGES messages" ]]; then
      echo "$2: $got stored" >&2
    else
      echo "$2: INCOMPLETE: $got stored, expected $CONVERSATIONS threads, $IMPORT_MESSAGES messages" >&2
      status=1
    fi
  }

  DB=bench_history_import
  new_database "$DB"
  start_service "$DB"
  note_load "import: POST /me/import?format=chatgpt ($IMPORT_FILE_BYTES bytes)"
  sampler_start "$RESULTS/import-rss.json" "$DB"
  python3 "$H" run "$RESULTS/import-http.json" "$DB" -- \
    curl -sS -o "$RESULTS/import-response.json" -H "$AUTH" -H 'Content-Type: application/json' \
    -w '%{http_code} %{time_total}\n' --data-binary "@$FILE" "$URL/import?format=chatgpt" \
    >"$RESULTS/import-curl.txt" || status=1
  sampler_stop
  stop_service
  read -r code total <"$RESULTS/import-curl.txt" || true
  echo "import: HTTP $code in $total s: $(head -c 400 "$RESULTS/import-response.json")" >&2
  [[ $code == 200 ]] || status=1
  expect_import "$DB" "import (HTTP)"

  # The baseline's rows: exactly what the import stored (same ids, columns and values),
  # dumped, then COPY'd into a fresh migrated database (indexes, the search tsvector,
  # foreign keys and event triggers included, as for the service's own inserts).
  THREAD_COLS=$(columns "$DB" chat_threads)
  MESSAGE_COLS=$(columns "$DB" chat_messages)
  psql "$PGURL/$DB" -Xqc "\\copy (SELECT $THREAD_COLS FROM chat_threads ORDER BY id) TO '$WORK/threads.copy'"
  psql "$PGURL/$DB" -Xqc "\\copy (SELECT $MESSAGE_COLS FROM chat_messages ORDER BY thread_id, created_at, id) TO '$WORK/messages.copy'"
  [[ $KEEP_DB == 1 ]] || { psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null; }

  DB=bench_history_cli
  new_database "$DB"
  note_load "import: chat-history import --format chatgpt"
  # shellcheck disable=SC2086
  python3 "$H" run "$RESULTS/import-cli.json" "$DB" -- \
    env DATABASE_URL="$PGURL/$DB" LOG_FORMAT=json RUST_LOG="$SERVICE_LOG" $SERVICE_ENV \
    "$BIN" import --user "$BENCH_USER" --format chatgpt "$FILE" \
    >"$RESULTS/import-cli.txt" 2>"$RESULTS/import-cli.err" || status=1
  echo "import (CLI): $(tail -c 400 "$RESULTS/import-cli.txt")" >&2
  expect_import "$DB" "import (CLI)"
  [[ $KEEP_DB == 1 ]] || { psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null; }

  DB=bench_history_copy
  new_database "$DB"
  note_load "import baseline: COPY FROM STDIN of the same rows"
  python3 "$H" run "$RESULTS/copy-from.json" "$DB" -- \
    psql "$PGURL/$DB" -X -q -v ON_ERROR_STOP=1 \
    -c "\\copy chat_threads ($THREAD_COLS) FROM '$WORK/threads.copy'" \
    -c "\\copy chat_messages ($MESSAGE_COLS) FROM '$WORK/messages.copy'" || status=1
  expect_import "$DB" "COPY FROM"
  [[ $KEEP_DB == 1 ]] || { psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null; }

  # For reading the figures only (not the ratio): the same COPY with the foreign-key and
  # live-event triggers off, i.e. what the indexes and the search tsvector alone cost.
  DB=bench_history_copy_bare
  new_database "$DB"
  note_load "import reference: COPY FROM STDIN, session_replication_role = replica"
  PGOPTIONS="-c session_replication_role=replica" python3 "$H" run "$RESULTS/copy-from-bare.json" "$DB" -- \
    psql "$PGURL/$DB" -X -q -v ON_ERROR_STOP=1 \
    -c "\\copy chat_threads ($THREAD_COLS) FROM '$WORK/threads.copy'" \
    -c "\\copy chat_messages ($MESSAGE_COLS) FROM '$WORK/messages.copy'" || status=1
  expect_import "$DB" "COPY FROM (triggers off)"
fi

note_load end
# The code measured: the checkout as it was when the binary was built (others may be
# editing it; the dirty files are listed).
REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo '?') on $(git branch --show-current 2>/dev/null || echo '?'), $(git status --porcelain 2>/dev/null | grep -c . || true) files changed"
python3 - "$RESULTS/meta.json" "$EXPORT_MESSAGES" "$IMPORT_MESSAGES" "${EXPORT_BYTES:-0}" "${IMPORT_FILE_BYTES:-0}" "$REVISION" "${loads[@]}" <<'PY'
import json, os, sys
out, em, im, eb, ib, rev, *loads = sys.argv[1:]
json.dump({"export_messages": int(em), "import_messages": int(im), "export_bytes": int(eb),
           "import_file_bytes": int(ib), "revision": rev, "load_during": loads,
           "cores": os.cpu_count()}, open(out, "w"), indent=1)
PY
git status --porcelain >"$RESULTS/git-status.txt" 2>/dev/null || true
python3 "$H" table "$RESULTS" | tee "$RESULTS/table.md"
echo "results in $RESULTS" >&2
exit $status
