#!/usr/bin/env bash
# Build (or reuse) kube-apiserver and etcd for the live test suite.
#
# Why from Go modules: no package registry ships a kube-apiserver binary, and the
# test suite must run against a real API server (docs/testing.md). The binaries are
# build outputs, cached by version outside the repository and never committed.
#
# Pre-built binaries win: KFOPS_TEST_KUBE_APISERVER / KFOPS_TEST_ETCD.
# Prints two lines, "kube-apiserver=PATH" and "etcd=PATH", on stdout.
set -euo pipefail
# The builders run inside $(...), where bash otherwise switches errexit off: a failed
# `go get` would fall through to `go build` and a misleading "built" message.
shopt -s inherit_errexit

K8S_VERSION="${KFOPS_TEST_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${KFOPS_TEST_ETCD_VERSION:-v3.6.16}"
CACHE="${KFOPS_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kfops-testenv}"
BIN="$CACHE/bin"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

log() { printf '[control-plane] %s\n' "$*" >&2; }
need_go() {
  command -v go >/dev/null || { log "ERROR: Go >= 1.26 is needed to build the test control plane (or set KFOPS_TEST_KUBE_APISERVER and KFOPS_TEST_ETCD)."; exit 1; }
}

build_kube_apiserver() {
  local out="$BIN/kube-apiserver-$K8S_VERSION"
  if [ -x "$out" ]; then echo "$out"; return; fi
  need_go
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local staging="v0.${K8S_VERSION#v1.}"
  local src="$CACHE/build/kube-apiserver-$K8S_VERSION"
  mkdir -p "$src" "$BIN"
  log "building kube-apiserver $K8S_VERSION in $src (cold: several minutes)"
  local start=$SECONDS
  (
    cd "$src"
    [ -f go.mod ] || go mod init local.invalid/kube-apiserver-build >&2
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    # One replace per staging module: every k8s.io/* requirement pinned at v0.0.0.
    go mod edit -json "$gomod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Require") or []:
    if r["Path"].startswith("k8s.io/") and r["Version"] == "v0.0.0":
        print(r["Path"])' | while read -r m; do go mod edit -replace="$m=$m@$staging"; done
    go mod edit -go="$(go mod edit -json "$gomod" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Go"])')"
    go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" >&2
    go build -trimpath -tags selinux,notest -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
      -X k8s.io/component-base/version.gitMajor=1 \
      -X k8s.io/component-base/version.gitMinor=$minor \
      -X k8s.io/component-base/version.gitTreeState=clean \
      -X k8s.io/component-base/version.gitCommit=0000000000000000000000000000000000000000 \
      -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z" \
      -o "$out.tmp" k8s.io/kubernetes/cmd/kube-apiserver
    # /version must report the real tag (tools parse it); catch a broken -X early.
    local reported; reported=$("$out.tmp" --version)
    [ "$reported" = "Kubernetes $K8S_VERSION" ] || { log "ERROR: built binary reports '$reported'"; exit 1; }
    mv "$out.tmp" "$out"
  )
  log "kube-apiserver $K8S_VERSION built in $((SECONDS - start)) s"
  echo "$out"
}

build_etcd() {
  local out="$BIN/etcd-$ETCD_VERSION"
  if [ -x "$out" ]; then echo "$out"; return; fi
  need_go
  local src="$CACHE/build/etcd-$ETCD_VERSION"
  mkdir -p "$src" "$BIN"
  log "building etcd $ETCD_VERSION in $src"
  local start=$SECONDS
  (
    cd "$src"
    [ -f go.mod ] || go mod init local.invalid/etcd-build >&2
    go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
    go build -trimpath -ldflags "-s -w" -o "$out.tmp" go.etcd.io/etcd/server/v3
    mv "$out.tmp" "$out"
  )
  log "etcd $ETCD_VERSION built in $((SECONDS - start)) s"
  echo "$out"
}

# One build at a time per cache: CI may start a build in the background while the
# test session (tests/live/conftest.py) runs this script too. The second caller
# waits, then finds the binaries cached.
lock_cache() {
  command -v flock >/dev/null || return 0
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.build.lock"
  if ! flock -n 9; then
    log "another build holds $CACHE/.build.lock; waiting for it"
    flock 9
  fi
}

apiserver="${KFOPS_TEST_KUBE_APISERVER:-}"
etcd="${KFOPS_TEST_ETCD:-}"
if [ -z "$apiserver" ] || [ -z "$etcd" ]; then lock_cache; fi
[ -n "$etcd" ] || etcd=$(build_etcd)
[ -n "$apiserver" ] || apiserver=$(build_kube_apiserver)
[ -x "$apiserver" ] || { log "ERROR: kube-apiserver not executable: $apiserver"; exit 1; }
[ -x "$etcd" ] || { log "ERROR: etcd not executable: $etcd"; exit 1; }
echo "kube-apiserver=$apiserver"
echo "etcd=$etcd"
