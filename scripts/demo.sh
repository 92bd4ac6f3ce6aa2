#!/usr/bin/env bash
# make demo: a sample cluster's audit log with injected attacks and an etcd snapshot,
# generated here (no cluster or server needed), then investigated: in a terminal, ingested
# into a case and opened in `kubesleuth investigate`; without one (CI, a pipe), the scan
# and etcd summaries are printed instead.
set -euo pipefail
BIN=${BIN:-bin/kubesleuth}
DEMO_DIR=${DEMO_DIR:-demo}
mkdir -p "$DEMO_DIR"
chmod 700 "$DEMO_DIR"

echo "==> generating a sample audit log with attacks: $DEMO_DIR/audit.log (200,000 events, about 20 s)"
"$BIN" generate --events 200000 --seed 7 --attacks --labels "$DEMO_DIR/labels.jsonl" -o "$DEMO_DIR/audit.log"
echo
echo "==> generating an etcd snapshot with secrets in mixed states: $DEMO_DIR/etcd.db (about 10 s)"
"$BIN" generate etcd --secrets 2000 --seed 7 --out "$DEMO_DIR/etcd.db" --encryption-config "$DEMO_DIR/encryption-config.yaml"
echo

# the generated cluster's tuning: its CI deployer reads secrets in every namespace by design
ALLOWLIST=testdata/generated/allowlist.yaml

if [ -t 0 ] && [ -t 1 ]; then
  # a fresh case each run: the demo's files are regenerated above
  rm -rf "$DEMO_DIR/case"
  echo "==> kubesleuth ingest --case $DEMO_DIR/case --allowlist $ALLOWLIST $DEMO_DIR/audit.log --etcd-snapshot $DEMO_DIR/etcd.db --encryption-config $DEMO_DIR/encryption-config.yaml (about a minute)"
  # on a terminal, ingest prints its progress; its summary is shown again after the TUI
  "$BIN" ingest --case "$DEMO_DIR/case" --allowlist "$ALLOWLIST" "$DEMO_DIR/audit.log" \
    --etcd-snapshot "$DEMO_DIR/etcd.db" --encryption-config "$DEMO_DIR/encryption-config.yaml"
  echo
  echo "==> kubesleuth investigate --case $DEMO_DIR/case   (? for keys, q to quit)"
  status=0
  "$BIN" investigate --case "$DEMO_DIR/case" || status=$?
  echo
  echo "==> kubesleuth case info --case $DEMO_DIR/case   (what was ingested, which the TUI covered)"
  "$BIN" case info --case "$DEMO_DIR/case"
  exit "$status"
fi

echo "==> kubesleuth scan --allowlist $ALLOWLIST $DEMO_DIR/audit.log"
"$BIN" scan --allowlist "$ALLOWLIST" "$DEMO_DIR/audit.log"
echo
echo "==> kubesleuth etcd --snapshot $DEMO_DIR/etcd.db --encryption-config $DEMO_DIR/encryption-config.yaml"
"$BIN" etcd --snapshot "$DEMO_DIR/etcd.db" --encryption-config "$DEMO_DIR/encryption-config.yaml" --table-limit 5
echo
echo "(run make demo in a terminal to investigate the case in kubesleuth investigate)"
