#!/usr/bin/env bash
# End-to-end figures on 1,000,000 generated events, each against jq over the same file in
# the same run (the baseline a responder would otherwise reach for). The generated file
# is cached outside git in $BENCH_DIR and made once.
set -euo pipefail
BIN=${BIN:-bin/kubesleuth}
BENCH_DIR=${BENCH_DIR:-$HOME/.cache/kubesleuth-bench}
EVENTS=${EVENTS:-1000000}
mkdir -p "$BENCH_DIR"
LOG="$BENCH_DIR/audit-$EVENTS.jsonl"
if [ ! -s "$LOG" ]; then
  echo "generating $EVENTS events into $LOG (once)..."
  "$BIN" generate --events "$EVENTS" --seed 1 --attacks -o "$LOG.tmp"
  mv "$LOG.tmp" "$LOG"
fi
size=$(stat -c %s "$LOG")
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); file: $LOG, $((size/1048576)) MiB, $EVENTS events"

# measure RUNS LABEL CMD...: the median wall time (and its peak RSS) of RUNS runs of a
# command; the machine is shared, so one run can be an outlier.
measure() {
  local runs=$1 label=$2; shift 2
  local out; out=$(mktemp)
  : > "$out.all"
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>"$out.err" || { echo "$label failed:"; cat "$out.err"; exit 1; }
    cat "$out" >> "$out.all"
  done
  read -r secs rss < <(sort -n "$out.all" | sed -n "$(( (runs + 1) / 2 ))p")
  rm -f "$out" "$out.err" "$out.all"
  printf '%-34s %8.2f s  %10.0f events/s  %8.1f MB/s  peak RSS %6.0f MB  (median of %d)\n' "$label" "$secs" \
    "$(awk "BEGIN{print $EVENTS/$secs}")" "$(awk "BEGIN{print $size/1048576/$secs}")" "$(awk "BEGIN{print $rss/1024}")" "$runs"
  eval "T_${label//[^a-zA-Z0-9]/_}=$secs"
}

measure 1 jq_secrets jq -c 'select(.objectRef.resource=="secrets")' "$LOG"
measure 3 read_decode "$BIN" scan --no-builtin-rules -q -o json "$LOG"
measure 3 scan_catalog "$BIN" scan -q -o json "$LOG"
printf 'ratio read+decode vs jq: %.1fx faster\n' "$(awk "BEGIN{print $T_jq_secrets/$T_read_decode}")"
printf 'ratio scan (catalog) vs jq: %.1fx faster\n' "$(awk "BEGIN{print $T_jq_secrets/$T_scan_catalog}")"

# etcd at rest: a generated snapshot of 100,000 secrets in mixed states (issue 4 target:
# <= 10 s and <= 300 MB peak RSS on 2 cores).
SNAP="$BENCH_DIR/etcd-100000.db"; ENC="$BENCH_DIR/etcd-100000.enc.yaml"
if [ ! -s "$SNAP" ]; then
  "$BIN" generate etcd --secrets 100000 --seed 1 --out "$SNAP.tmp" --encryption-config "$ENC"
  mv "$SNAP.tmp" "$SNAP"
fi
/usr/bin/time -f 'etcd 100k secrets, envelopes only        %e s  peak RSS %M KB' "$BIN" etcd --snapshot "$SNAP" -o json >/dev/null
/usr/bin/time -f 'etcd 100k secrets, decrypting every value %e s  peak RSS %M KB' "$BIN" etcd --snapshot "$SNAP" --encryption-config "$ENC" -o json >/dev/null
