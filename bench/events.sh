#!/usr/bin/env bash
# Live-events benchmark (issue: live events): SUBSCRIBERS open event streams on one process
# (one per user), and the append load of the kit (wrk, bench/wrk/scenario.lua `append`, each
# request a random user's thread, so every append is delivered to one stream) run three
# times at full speed (wrk -c CONNECTIONS): without streams, with them, without again.
# Reports append throughput of each run (the ratio with/without, same run, same data), the
# write-to-delivery latency of every `message.created` (read time minus the message's
# `created_at`) at full speed and at a moderate load (wrk -c LIGHT_CONNECTIONS, streams
# open), the service's peak RSS and the CPU each side used (the stream reader included). See bench/README.md ("Live events"); results go to
# docs/benchmarks.md.
#
# Settings (environment):
#   SUBSCRIBERS=1000  DURATION=20  CONNECTIONS=8  LIGHT_CONNECTIONS=2  WARMUP=3
#   (8 connections saturate the database here: 16 give the same appends/s, with twice
#   the requests queued in the service for a connection, which the latency then counts;
#   docs/benchmarks.md, round 9)
#   RESET=vacuum (before each run: vacuum the outbox, the counters and the threads; or
#   truncate: also empty the outbox; or none)
#   PIN=0 (1: PostgreSQL on core 0; the service, wrk and the stream reader on core 1, so
#   that the benchmark's own clients do not take CPU from the database, as when the
#   subscribers are browsers elsewhere; see bench/run.sh)
#   PGURL=postgres://postgres@127.0.0.1:5432   PORT=18080   KEEP_DB=0   SKIP_BUILD=0
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
SUBSCRIBERS=${SUBSCRIBERS:-1000}
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-8}
LIGHT_CONNECTIONS=${LIGHT_CONNECTIONS:-2}
RESET=${RESET:-vacuum}
WARMUP=${WARMUP:-3}
PIN=${PIN:-0}
source bench/lib.sh
kit_defaults events
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
DB=bench_events
new_database "$DB"
log "seeding $SUBSCRIBERS users x 20 empty threads (ids as bench/seed.sql names them)"
psql "$PGURL/$DB" -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO chat_threads (id, user_id, title, metadata, message_count, created_at, updated_at, version)
SELECT ('01800000-0000-7000-8000-' || lpad(to_hex((u - 1) * 20 + k), 12, '0'))::uuid,
       'bench-user-' || u, 'thread ' || k, '{}', 0, now(), now(), 1
FROM generate_series(1, $SUBSCRIBERS) AS u, generate_series(1, 20) AS k;
SQL
BETTER_AUTH_SECRET=unused python3 bench/tools/bench.py tokens "$SUBSCRIBERS" "$RESULTS"
SERVICE_ENV="EVENTS_MAX_STREAMS_PER_USER=4 $SERVICE_ENV"
if [[ $PIN == 1 ]]; then pin_postgres; fi
start_service "$DB"

append() { # append NAME [CONNECTIONS]: the append load for DURATION s, after WARMUP s
  local conns=${2:-$CONNECTIONS}
  # Each run starts without the previous runs' dead rows (every append updates its
  # thread's row and its user's event counter): without this, each run pays for the
  # previous ones' until autovacuum comes by, and the order of the runs decides more than
  # the streams do (RESET=none shows it: docs/benchmarks.md, round 7). RESET=truncate also
  # empties the outbox.
  case $RESET in
    truncate) psql "$PGURL/$DB" -qc "TRUNCATE chat_events" -c "VACUUM ANALYZE chat_event_seq, chat_threads" >/dev/null ;;
    vacuum) psql "$PGURL/$DB" -qc "VACUUM ANALYZE chat_events, chat_event_seq, chat_threads" >/dev/null ;;
  esac
  SCENARIO=append USERS=$SUBSCRIBERS TOKENS="$RESULTS/jwt.txt" \
    $LOAD_PREFIX wrk -t2 -c"$conns" -d"${WARMUP}s" -s bench/wrk/scenario.lua "http://127.0.0.1:$PORT" >/dev/null
  python3 bench/tools/bench.py sample "$RESULTS/cpu-$1.json" "$SERVICE_PID" &
  local sampler=$! reads_before
  reads_before=$(event_reads)
  SCENARIO=append USERS=$SUBSCRIBERS TOKENS="$RESULTS/jwt.txt" WRK_JSON="$RESULTS/wrk-$1.json" \
    $LOAD_PREFIX wrk -t2 -c"$conns" -d"${DURATION}s" --timeout 10s -s bench/wrk/scenario.lua \
    "http://127.0.0.1:$PORT" >/dev/null
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
  echo $(( $(event_reads) - reads_before )) >"$RESULTS/reads-$1.txt"
}

event_reads() { # the feed's reads of the outbox so far (the service's metric)
  curl -fs "http://127.0.0.1:$PORT/metrics" | awk '/^chat_history_event_reads_total / {print $2}'
}

with_streams() { # with_streams NAME [CONNECTIONS]: the append load with SUBSCRIBERS streams open
  log "opening $SUBSCRIBERS streams"
  coproc SUBS { $LOAD_PREFIX python3 bench/tools/events.py "http://127.0.0.1:$PORT" "$RESULTS/jwt.txt" \
    "$SUBSCRIBERS" "$((DURATION + WARMUP + 2))" "$RESULTS/events-$1.json"; }
  local line
  read -r line <&"${SUBS[0]}"
  [[ $line == ready ]] || { echo "the subscribers did not start: $line" >&2; exit 1; }
  log "append ($1) with $SUBSCRIBERS streams"
  append "$1" "${2:-$CONNECTIONS}"
  wait "$SUBS_PID"
}

log "append without streams (1)"
append without-1
with_streams with
log "append without streams (2)"
append without-2
with_streams light "$LIGHT_CONNECTIONS"

python3 - "$RESULTS" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" "$PIN" <<'PY'
import json, sys
d = sys.argv[1]
runs = {n: json.load(open(f"{d}/wrk-{n}.json")) for n in ("without-1", "with", "without-2", "light")}
cpu = {n: json.load(open(f"{d}/cpu-{n}.json")) for n in runs}
events = {n: json.load(open(f"{d}/events-{n}.json")) for n in ("with", "light")}
for n, ev in events.items():
    ev["outbox_reads"] = int(open(f"{d}/reads-{n}.txt").read())
base = (runs["without-1"]["rps"] + runs["without-2"]["rps"]) / 2
summary = {"runs": runs, "cpu": cpu, "events": events, "ratio_with_to_without": runs["with"]["rps"] / base,
           "load_before": sys.argv[2], "load_after": sys.argv[3], "pinned": sys.argv[4] == "1"}
json.dump(summary, open(f"{d}/summary.json", "w"), indent=1)
for n, r in runs.items():
    c = cpu[n]
    print(f"append {n:10}: {r['rps']:.0f}/s p50 {r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} ms, "
          f"errors {r['errors']}; service peak RSS {c['service_peak_rss_kib'] // 1024} MiB; CPU s {c['cpu_s']}")
print(f"with/without: {summary['ratio_with_to_without']:.3f} (with / mean of without-1 and without-2)")
for n, ev in events.items():
    print(f"{n:6}: {ev['subscribers']} streams ({ev['refused']} refused, {ev['ended_early']} ended early): "
          f"{ev['events']} message.created delivered; latency p50 {ev['p50_ms']:.1f} / p90 {ev['p90_ms']:.1f} / "
          f"p99 {ev['p99_ms']:.1f} / max {ev['max_ms']:.1f} ms; {ev['outbox_reads']} reads of the outbox")
print(f"load {sys.argv[2]} -> {sys.argv[3]}; pinned: {summary['pinned']}")
PY
echo "results in $RESULTS" >&2
