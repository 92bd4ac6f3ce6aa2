#!/usr/bin/env bash
# TUI figures (issue 6) on make bench's 1M-event case: the first screen, a pivot and the
# model's memory (go test -bench, tui/bench_test.go), then the real binary's peak RSS in a
# tmux terminal after a search, a pivot, the identity timeline and back.
set -euo pipefail
BIN=${BIN:-bin/kubesleuth}
BENCH_DIR=${BENCH_DIR:-$HOME/.cache/kubesleuth-bench}
CASE=${CASE:-$BENCH_DIR/case-1000000}
[ -d "$CASE" ] || { echo "no $CASE: run make bench first (scripts/bench-case.sh builds it)"; exit 1; }

KUBESLEUTH_BENCH_CASE="$CASE" ${GO:-go} test -run '^$' -bench . -benchtime 5x ./tui/ | grep -E '^Benchmark'

command -v tmux >/dev/null || { echo "no tmux: skipping the binary's peak RSS"; exit 0; }
sock="kubesleuth-bench-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true' EXIT
tmux -L "$sock" new-session -d -x 160 -y 48 "$BIN investigate --case '$CASE'"
wait_for() { # text, seconds
  for _ in $(seq 1 $(( $2 * 20 ))); do
    tmux -L "$sock" capture-pane -p | grep -q -- "$1" && return 0
    sleep 0.05
  done
  echo "timed out waiting for: $1"; tmux -L "$sock" capture-pane -p | tail -3; return 1
}
wait_for "events │" 30
tmux -L "$sock" send-keys / 'resource:secrets -verb:watch' Enter
wait_for "verb:watch (newest first) — 1 of" 30 # the rows are in: u has a selection
tmux -L "$sock" send-keys u; wait_for 'query user:' 30
tmux -L "$sock" send-keys I; wait_for 'identity │' 30
tmux -L "$sock" send-keys Escape Escape Escape
sleep 1
pid=$(tmux -L "$sock" list-panes -F '#{pane_pid}')
hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
echo "kubesleuth investigate on $CASE: peak RSS $((hwm / 1024)) MB after a search, a pivot and the identity timeline (target <= 400 MB)"
tmux -L "$sock" send-keys q
