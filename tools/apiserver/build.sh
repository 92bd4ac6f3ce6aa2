#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kube-scheduler v1.37.2 into OUT (default
# $KUBESLEUTH_K8S_BIN or ~/.cache/kubesleuth/k8s-v1.37.2). Does nothing when all three are
# there and were built by this script for this version (the stamp file), so `make apiserver`
# is cheap to call before every test run. Cold: about 5 minutes on 2 cores; the module proxy
# must be reachable then.
#
# A binary is written to NAME.tmp and renamed, so an interrupted build never leaves a
# truncated binary that a later run would take as built.
set -euo pipefail

K8S_VERSION=v1.37.2
out=${1:-${KUBESLEUTH_K8S_BIN:-$HOME/.cache/kubesleuth/k8s-$K8S_VERSION}}
cmds=(kube-apiserver kube-controller-manager kube-scheduler)
stamp="$out/.built-$K8S_VERSION"

have=1
for c in "${cmds[@]}"; do [ -x "$out/$c" ] || have=0; done
if [ "$have" = 1 ] && [ -f "$stamp" ]; then
  echo "k8s $K8S_VERSION binaries already in $out"
  exit 0
fi

cd "$(dirname "$0")"
mkdir -p "$out"
# The version a real release build stamps (hack/lib/version.sh): /version answers it and the
# controllers' user agents carry it ("kube-controller-manager/v1.37.2 (linux/amd64)
# kubernetes/<commit>/..."). The release's commit is not known to the module proxy, so
# gitCommit stays empty and client-go writes "unknown" in its place.
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=37"
  ld+=" -X $p.gitCommit= -X $p.gitTreeState=clean -X $p.buildDate=2026-10-27T12:01:04Z"
done
start=$SECONDS
for c in "${cmds[@]}"; do
  echo "building $c $K8S_VERSION into $out"
  go build -trimpath -ldflags "$ld" -o "$out/$c.tmp" "k8s.io/kubernetes/cmd/$c"
  mv "$out/$c.tmp" "$out/$c"
done
echo "$K8S_VERSION" > "$stamp"
echo "built in $((SECONDS - start)) s"
