#!/usr/bin/env bash
# Tree paging benchmark (issue: conversations as trees): a page of 50 of the active path of
# a MESSAGES-message thread with BRANCHES branches against the same page of a linear thread
# of the same length, through the service's HTTP API, one request at a time.
# See bench/README.md ("Tree paging"); results go to docs/benchmarks.md.
#
# Settings (environment):
#   MESSAGES=10000  BRANCHES=50  REQUESTS=500   (per kind of page and thread)
#   PGURL=postgres://postgres@127.0.0.1:5432   PORT=18080   KEEP_DB=0   SKIP_BUILD=0
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
MESSAGES=${MESSAGES:-10000}
BRANCHES=${BRANCHES:-50}
REQUESTS=${REQUESTS:-500}
source bench/lib.sh
kit_defaults trees
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
DB=bench_trees
new_database "$DB"
start_service "$DB"
log "building two threads of $MESSAGES messages (one with $BRANCHES branches) and timing pages"
python3 bench/tools/trees.py "http://127.0.0.1:$PORT" "$JWT_HS256_SECRET" "$MESSAGES" "$BRANCHES" \
  "$REQUESTS" "$RESULTS/trees.json" "psql -q $PGURL/$DB -c 'VACUUM ANALYZE'"
python3 - "$RESULTS/trees.json" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["load_before"], r["load_after"] = sys.argv[2], sys.argv[3]
json.dump(r, open(sys.argv[1], "w"), indent=1)
print(f"path lengths {r['path_length']}, {r['requests']} requests per kind and thread, "
      f"load {r['load_before']} -> {r['load_after']}")
print("| page of 50 | linear p50 / p90 / p99 (ms) | branched p50 / p90 / p99 (ms) | branched / linear (p50) |")
print("|---|---|---|---|")
for kind, s in r["kinds"].items():
    f = lambda x: f"{x['p50_ms']:.2f} / {x['p90_ms']:.2f} / {x['p99_ms']:.2f}"
    print(f"| {kind} | {f(s['linear'])} | {f(s['branched'])} | {s['ratio_p50']:.2f} |")
PY
echo "results in $RESULTS" >&2
