#!/usr/bin/env bash
# Streaming-replies benchmark (issue: AI SDK messages): STREAMS replies saved as they grow,
# each PUT every INTERVAL_MS (100 x 100 ms = 1,000 PUT/s), through the service's HTTP API
# on PostgreSQL, open loop (latency from each save's due time). Then the same PUT load's
# SQL, as pgbench runs it, is not comparable (a PUT is a read and a write transaction), so
# the figure is latency at a rate, reported with the CPU each side used.
# See bench/README.md ("Streaming replies"); results go to docs/benchmarks.md.
#
# Settings (environment):
#   STREAMS=100  INTERVAL_MS=100  DURATION=30
#   PGURL=postgres://postgres@127.0.0.1:5432   PORT=18080   KEEP_DB=0   SKIP_BUILD=0
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
STREAMS=${STREAMS:-100}
INTERVAL_MS=${INTERVAL_MS:-100}
DURATION=${DURATION:-30}
source bench/lib.sh
kit_defaults streams
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
DB=bench_streams
new_database "$DB"
start_service "$DB"
log "$STREAMS streams, a save every $INTERVAL_MS ms each, for $DURATION s"
python3 bench/tools/bench.py sample "$RESULTS/cpu.json" "$SERVICE_PID" &
SAMPLER=$!
python3 bench/tools/streams.py "http://127.0.0.1:$PORT" "$JWT_HS256_SECRET" "$STREAMS" \
  "$INTERVAL_MS" "$DURATION" "$RESULTS/streams.json" >/dev/null
kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null || true
python3 - "$RESULTS" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, sys
d = sys.argv[1]
r = json.load(open(f"{d}/streams.json"))
cpu = json.load(open(f"{d}/cpu.json"))
r["cpu"], r["load_before"], r["load_after"] = cpu, sys.argv[2], sys.argv[3]
json.dump(r, open(f"{d}/streams.json", "w"), indent=1)
print(f"{r['streams']} streams x every {r['interval_ms']:.0f} ms: {r['saves_per_s']:.0f} saves/s "
      f"(target {r['target_per_s']:.0f}); latency p50 {r['p50_ms']:.1f} / p90 {r['p90_ms']:.1f} / "
      f"p99 {r['p99_ms']:.1f} / max {r['max_ms']:.1f} ms; errors {r['errors'] or 'none'}; "
      f"CPU s {cpu['cpu_s']} of {cpu['elapsed_s']} s x {cpu['cores']} cores; "
      f"service peak RSS {cpu['service_peak_rss_kib'] // 1024} MiB; "
      f"load {r['load_before']} -> {r['load_after']}")
PY
echo "results in $RESULTS" >&2
