#!/usr/bin/env bash
# Builds VictoriaLogs v1.52.2 (single node; the same binary is a cluster's vlinsert, vlselect
# and vlstorage) into OUT (default $KUBESLEUTH_VLOGS_BIN or ~/.cache/kubesleuth/victorialogs-v1.52.2)
# for internal/vlogstest. Does nothing when the binary is there and was built by this script
# for this version (the stamp file), so `make victorialogs` is cheap before every test run.
# Cold: about 2 minutes on 2 cores; the module proxy must be reachable then.
#
# CGO_ENABLED=0: VictoriaLogs' zstd falls back to its pure-Go implementation, so the build
# needs no C toolchain and the binary no libc of a particular version.
# The binary is written to NAME.tmp and renamed, so an interrupted build never leaves a
# truncated binary that a later run would take as built.
set -euo pipefail

VL_VERSION=v1.52.2
out=${1:-${KUBESLEUTH_VLOGS_BIN:-$HOME/.cache/kubesleuth/victorialogs-$VL_VERSION}}
stamp="$out/.built-$VL_VERSION"
if [ -x "$out/victoria-logs" ] && [ -f "$stamp" ]; then
  echo "victoria-logs $VL_VERSION already in $out"
  exit 0
fi

cd "$(dirname "$0")"
mkdir -p "$out"
start=$SECONDS
echo "building victoria-logs $VL_VERSION into $out"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/victoria-logs.tmp" \
  github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs
mv "$out/victoria-logs.tmp" "$out/victoria-logs"
echo "$VL_VERSION" > "$stamp"
echo "built in $((SECONDS - start)) s"
