#!/usr/bin/env bash
# Case figures (issue 5) on the generated 1M-event log: ingest time and peak RSS against
# jq's single pass over the same file, case size on disk, and p50/p95 of typical queries
# and a user facet (kubesleuth search --bench N runs a query N times in one process).
# Then the cardinality runs: ingest of 300,000 events from 300,000 distinct users, source
# IPs, user agents or object names (generate --unique), against the same 300,000 events
# from the cluster's few identities. BENCH_CASE_PARTS selects "case", "cardinality" or both.
set -euo pipefail
BIN=${BIN:-bin/kubesleuth}
BENCH_DIR=${BENCH_DIR:-$HOME/.cache/kubesleuth-bench}
EVENTS=${EVENTS:-1000000}
DEFAULT_FLAGS=${DEFAULT_FLAGS:---seed 1 --attacks}
CARD_EVENTS=${CARD_EVENTS:-300000}
BENCH_CASE_PARTS=${BENCH_CASE_PARTS:-case cardinality}
mkdir -p "$BENCH_DIR"
. "$(dirname "$0")/bench-lib.sh"
secs() { awk '{print $1}' "$1"; }

if [[ " $BENCH_CASE_PARTS " == *" case "* ]]; then
# shellcheck disable=SC2086 # the flags are words
LOG=$(bench_log "$EVENTS" $DEFAULT_FLAGS)
CASE="$BENCH_DIR/case-$EVENTS"
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
fi

if [[ " $BENCH_CASE_PARTS " == *" cardinality "* ]]; then
# Cardinality: without RequestReceived nearly every request is one line, so --unique gives
# about as many distinct values as events. The memory per distinct identity is what these
# runs show; the targets are those of the fix (peak RSS <= 600 MB, time <= 2x the few
# identities' run). CARD_TIMEOUT bounds each run (seconds).
CARD_TIMEOUT=${CARD_TIMEOUT:-1800}
CARD_FLAGS="--seed 1 --attacks --omit-stages RequestReceived"
echo
echo "cardinality: ingest of $CARD_EVENTS events ($CARD_FLAGS), each case made anew"
card() { # label, then the extra generate flags
  local label=$1; shift
  # shellcheck disable=SC2086
  local log; log=$(bench_log "$CARD_EVENTS" $CARD_FLAGS "$@")
  local case="$BENCH_DIR/case-card"
  local fresh; fresh=$(grep -o 'fresh values for [0-9]* requests' "$log.summary" | grep -o '[0-9]*' || echo 0)
  rm -rf "$case"
  local st=0
  /usr/bin/time -o /tmp/ks-card.time -f '%e %M' timeout "$CARD_TIMEOUT" "$BIN" ingest -q --case "$case" "$log" 2>/tmp/ks-card.err || st=$?
  rm -rf "$case"
  if [ "$st" -ne 0 ]; then
    printf '%-28s failed (exit %d%s):\n' "$label" "$st" "$([ "$st" -eq 124 ] && echo ", over ${CARD_TIMEOUT}s")"
    tail -3 /tmp/ks-card.err
    return
  fi
  local findings; findings=$(grep -o '[0-9]* findings' /tmp/ks-card.err || echo "? findings")
  read -r t rss < /tmp/ks-card.time
  local vs=""
  if [ -n "${CARD_BASE:-}" ]; then
    vs=$(awk -v a="$t" -v b="$CARD_BASE" -v r="$rss" 'BEGIN{printf "  %.2fx few identities'"'"' time%s", a/b, (a/b <= 2 && r/1024 <= 600) ? "" : "  (target: <= 2x, <= 600 MB)"}')
  else
    CARD_BASE=$t
  fi
  printf '%-28s %8.2f s  peak RSS %6d MB  %7d fresh values  %s%s\n' "$label" "$t" "$((rss / 1024))" "$fresh" "$findings" "$vs"
}
CARD_BASE=
card "few identities (baseline)"
card "distinct users" --unique user
card "distinct source IPs" --unique source-ip
card "distinct user agents" --unique user-agent
card "distinct object names" --unique name
fi
