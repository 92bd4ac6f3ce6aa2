#!/usr/bin/env bash
# Case figures (issue 5) on the generated 1M-event log: ingest time and peak RSS against
# jq's single pass over the same file, case size on disk, and p50/p95 of typical queries
# and a user facet (kubesleuth search --bench N runs a query N times in one process).
set -euo pipefail
BIN=${BIN:-bin/kubesleuth}
BENCH_DIR=${BENCH_DIR:-$HOME/.cache/kubesleuth-bench}
EVENTS=${EVENTS:-1000000}
LOG="$BENCH_DIR/audit-$EVENTS.jsonl"
CASE="$BENCH_DIR/case-$EVENTS"
[ -s "$LOG" ] || { echo "no $LOG: run scripts/bench.sh first (make bench does)"; exit 1; }

/usr/bin/time -f 'jq one query over the file            %e s  peak RSS %M KB' jq -c 'select(.objectRef.resource=="secrets")' "$LOG" >/dev/null
rm -rf "$CASE"
/usr/bin/time -f "kubesleuth ingest $EVENTS events        %e s  peak RSS %M KB" "$BIN" ingest -q --case "$CASE" "$LOG"
echo "case size on disk: $(du -sh "$CASE" | cut -f1) (events.db $(du -sh "$CASE/events.db" | cut -f1), bleve $(du -sh "$CASE/bleve" | cut -f1))"
/usr/bin/time -f "re-ingest of the same file (adds nothing) %e s  peak RSS %M KB" "$BIN" ingest -q --case "$CASE" "$LOG"

q() { "$BIN" search --case "$CASE" --bench 20 "$@"; }
q --newest --limit 50 '*'                       # the TUI's first screen: newest 50
q --limit 50 'user:alice@example.com'           # pivot on a user
q --limit 50 -- 'resource:secrets -verb:watch'  # who touched secrets
q --limit 50 'verb:delete'
q --limit 50 'code:>=400'
q --limit 0 --facet user '*'                    # a user facet over the whole case
