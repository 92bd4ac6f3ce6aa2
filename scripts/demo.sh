#!/usr/bin/env bash
# make demo: a sample cluster's audit log with injected attacks and an etcd snapshot,
# generated here (no cluster or server needed), then investigated.
set -euo pipefail
BIN=${BIN:-bin/kubesleuth}
DEMO_DIR=${DEMO_DIR:-demo}
mkdir -p "$DEMO_DIR"
chmod 700 "$DEMO_DIR"

echo "==> generating a sample audit log with attacks: $DEMO_DIR/audit.log"
"$BIN" generate --events 200000 --seed 7 --attacks --labels "$DEMO_DIR/labels.jsonl" -o "$DEMO_DIR/audit.log"
echo
echo "==> generating an etcd snapshot with secrets in mixed states: $DEMO_DIR/etcd.db"
"$BIN" generate etcd --secrets 2000 --seed 7 --out "$DEMO_DIR/etcd.db" --encryption-config "$DEMO_DIR/encryption-config.yaml"
echo
# the generated cluster's tuning: its CI deployer reads secrets in every namespace by design
echo "==> kubesleuth scan --allowlist testdata/generated/allowlist.yaml $DEMO_DIR/audit.log"
"$BIN" scan --allowlist testdata/generated/allowlist.yaml "$DEMO_DIR/audit.log"
echo
echo "==> kubesleuth etcd --snapshot $DEMO_DIR/etcd.db --encryption-config $DEMO_DIR/encryption-config.yaml"
"$BIN" etcd --snapshot "$DEMO_DIR/etcd.db" --encryption-config "$DEMO_DIR/encryption-config.yaml" --table-limit 5
