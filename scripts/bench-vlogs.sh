#!/usr/bin/env bash
# VictoriaLogs figures (issue 18) beside the case folder's: ingest of the generated 1M-event
# log (the one bench-case.sh uses) into a 3-process VictoriaLogs cluster on this machine
# (two storage nodes behind an insert/select node, internal/vlogstest/vlcluster), in events
# per second, with the store's disk use; then p50/p95 of the typical queries against it
# (kubesleuth search --bench N: the same queries as bench-case.sh's).
# Needs `make victorialogs`; skipped with a note when it is not built.
set -euo pipefail
BIN=${BIN:-bin/kubesleuth}
GO=${GO:-go}
BENCH_DIR=${BENCH_DIR:-$HOME/.cache/kubesleuth-bench}
EVENTS=${EVENTS:-1000000}
DEFAULT_FLAGS=${DEFAULT_FLAGS:---seed 1 --attacks}
VLOGS_BIN=${KUBESLEUTH_VLOGS_BIN:-$HOME/.cache/kubesleuth/victorialogs-v1.52.2}
mkdir -p "$BENCH_DIR"
. "$(dirname "$0")/bench-lib.sh"
if [ ! -x "$VLOGS_BIN/victoria-logs" ]; then
  echo "VictoriaLogs figures skipped: run make victorialogs first"
  exit 0
fi
# shellcheck disable=SC2086 # the flags are words
LOG=$(bench_log "$EVENTS" $DEFAULT_FLAGS)
work=$(mktemp -d)
"$GO" build -o "$work/vlcluster" ./internal/vlogstest/vlcluster
"$work/vlcluster" -cluster -dir "$work/vl" -url-file "$work/url" &
pid=$!
# stop the cluster (by the harness's PID: it stops each process by its own) and clean up
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do [ -s "$work/url" ] && break; sleep 0.1; done
[ -s "$work/url" ] || { echo "the VictoriaLogs cluster did not start"; exit 1; }
store="victorialogs://$(sed 's#^http://##' "$work/url")"
CASE="$work/case"
# CPU seconds of the VictoriaLogs processes (the harness's children): on a shared machine
# the wall time depends on the load, the CPU spent does not
vlcpu() { local s=0 p; for p in $(pgrep -P "$pid"); do s=$((s + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$s"; }
c0=$(vlcpu)
/usr/bin/time -o "$work/ingest.time" -f '%e %M %U %S' "$BIN" ingest -q --case "$CASE" --store "$store" "$LOG"
c1=$(vlcpu)
read -r t rss u s < "$work/ingest.time"
echo "kubesleuth ingest --store (3-process VictoriaLogs cluster, same machine) $EVENTS events  $t s  $(awk -v n="$EVENTS" -v t="$t" 'BEGIN{printf "%d", n/t}') events/s  kubesleuth peak RSS $((rss / 1024)) MB"
echo "  CPU: kubesleuth $(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.1f", u+s}') s, VictoriaLogs $(awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", c/hz}') s; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "store size on disk: $(du -sh "$work/vl" | cut -f1) (storage-1 $(du -sh "$work/vl/storage-1/data" | cut -f1), storage-2 $(du -sh "$work/vl/storage-2/data" | cut -f1)); case folder $(du -sh "$CASE" | cut -f1)"
q() { "$BIN" search --case "$CASE" --bench 20 "$@"; }
q --newest --limit 50 '*'                       # the TUI's first screen: newest 50
q --limit 50 'user:alice@example.com'           # pivot on a user
q --limit 50 -- 'resource:secrets -verb:watch'  # who touched secrets
q --limit 50 'verb:delete'
q --limit 50 'code:>=400'
q --limit 0 --facet user '*'                    # a user facet over the whole case
q --limit 0 --histogram 10m 'verb:delete'       # a histogram of a filter
