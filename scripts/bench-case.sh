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

secs() { awk '{print $1}' "$1"; }
/usr/bin/time -o /tmp/ks-jq.time -f '%e' jq -c 'select(.objectRef.resource=="secrets")' "$LOG" >/dev/null
echo "jq one query over the file              $(secs /tmp/ks-jq.time) s"
rm -rf "$CASE"
/usr/bin/time -o /tmp/ks-ingest.time -f '%e %M' "$BIN" ingest -q --case "$CASE" "$LOG"
read -r t rss < /tmp/ks-ingest.time
echo "kubesleuth ingest $EVENTS events         $t s  peak RSS $((rss / 1024)) MB  ($(awk -v a="$t" -v b="$(secs /tmp/ks-jq.time)" 'BEGIN{printf "%.2f", a/b}')x jq's time; target <= 3x, <= 90 s, <= 600 MB)"
echo "case size on disk: $(du -sh "$CASE" | cut -f1) (rows and groups events.db $(du -sh "$CASE/events.db" | cut -f1), events events.zst $(du -sh "$CASE/events.zst" | cut -f1), bleve $(du -sh "$CASE/bleve" | cut -f1))"
/usr/bin/time -o /tmp/ks-ingest.time -f '%e %M' "$BIN" ingest -q --case "$CASE" "$LOG"
read -r t rss < /tmp/ks-ingest.time
echo "re-ingest of the same file (recognised by SHA-256, not read)  $t s  peak RSS $((rss / 1024)) MB"
# the same events in another file (a grown log: one more blank line): read, every event looked up
GROWN="$BENCH_DIR/audit-$EVENTS-grown.jsonl"
{ cat "$LOG"; echo; } > "$GROWN"
/usr/bin/time -o /tmp/ks-ingest.time -f '%e %M' "$BIN" ingest -q --case "$CASE" "$GROWN"
rm -f "$GROWN"
read -r t rss < /tmp/ks-ingest.time
echo "re-ingest of the same events in another file (each looked up, adds nothing)  $t s  peak RSS $((rss / 1024)) MB"

q() { "$BIN" search --case "$CASE" --bench 20 "$@"; }
q --newest --limit 50 '*'                       # the TUI's first screen: newest 50
q --limit 50 'user:alice@example.com'           # pivot on a user
q --limit 50 -- 'resource:secrets -verb:watch'  # who touched secrets
q --limit 50 'verb:delete'
q --limit 50 'code:>=400'
q --limit 0 --facet user '*'                    # a user facet over the whole case
