# Sourced by scripts/bench.sh and scripts/bench-case.sh: generated logs cached in $BENCH_DIR,
# keyed by their generate flags.
#
# bench_log EVENTS FLAGS... prints the path of a log of EVENTS events made by
# `$BIN generate --events EVENTS FLAGS...`, making it once. The file is named after the
# flags; beside it, .key holds the flags and the SHA-256 of the same flags' first 2,000
# events, so that a cached file made by another generator (whose output changed) is made
# anew instead of measured; .summary holds generate's summary (its stderr).
bench_log() {
  local events=$1; shift
  local name; name=$(printf '%s' "$*" | sed -e 's/--//g' -e 's/ /-/g' -e 's/[^a-zA-Z0-9.,=_-]//g')
  local log="$BENCH_DIR/audit-$events${name:+-$name}.jsonl"
  local key; key="$* $("$BIN" generate --events 2000 "$@" 2>/dev/null | sha256sum | cut -c1-16)"
  if [ ! -s "$log" ] || [ "$(cat "$log.key" 2>/dev/null)" != "$key" ]; then
    echo "generating $events events ($*) into $log (once)..." >&2
    "$BIN" generate --events "$events" "$@" -o "$log.tmp" 2> "$log.summary"
    mv "$log.tmp" "$log"
    printf '%s' "$key" > "$log.key"
  fi
  printf '%s\n' "$log"
}
