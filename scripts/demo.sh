#!/usr/bin/env bash
# make demo: a sample cluster's audit log with injected attacks, generated here (no cluster
# or server needed), then scanned.
set -euo pipefail
BIN=${BIN:-bin/kubesleuth}
DEMO_DIR=${DEMO_DIR:-demo}
mkdir -p "$DEMO_DIR"
echo "==> generating a sample audit log with attacks: $DEMO_DIR/audit.log"
"$BIN" generate --events 200000 --seed 7 --attacks --labels "$DEMO_DIR/labels.jsonl" -o "$DEMO_DIR/audit.log"
echo "==> kubesleuth scan $DEMO_DIR/audit.log"
"$BIN" scan "$DEMO_DIR/audit.log"
