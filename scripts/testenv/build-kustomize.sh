#!/usr/bin/env bash
# Build (or reuse) kustomize for the deploy-manifest tests (tests/live/test_deploy_manifests.py).
#
# Why from Go modules: like the test control plane (build-control-plane.sh), no package registry
# we use ships a kustomize binary, and the tests must render deploy/ with the real kustomize,
# not an imitation. sigs.k8s.io/kustomize/kustomize/v5 is an ordinary Go module without replace
# directives, so `go install pkg@version` works. The binary is a build output, cached by version
# outside the repository and never committed.
#
# v5.8.2: the newest release whose go directive (1.26.0) the local Go 1.26 accepts; v5.8.3
# requires go >= 1.27.
#
# A pre-built binary wins: KFOPS_TEST_KUSTOMIZE.
# Prints one line, "kustomize=PATH", on stdout.
set -euo pipefail
shopt -s inherit_errexit

KUSTOMIZE_VERSION="${KFOPS_TEST_KUSTOMIZE_VERSION:-v5.8.2}"
CACHE="${KFOPS_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kfops-testenv}"
export GOTOOLCHAIN=local CGO_ENABLED=0

log() { printf '[kustomize] %s\n' "$*" >&2; }

build_kustomize() {
  local gobin="$CACHE/kustomize-$KUSTOMIZE_VERSION"
  local out="$gobin/kustomize"
  if [ -x "$out" ]; then echo "$out"; return; fi
  command -v go >/dev/null || { log "ERROR: Go >= 1.26 is needed to build kustomize (or set KFOPS_TEST_KUSTOMIZE)."; exit 1; }
  mkdir -p "$CACHE"
  log "building kustomize $KUSTOMIZE_VERSION into $gobin"
  local start=$SECONDS
  # Install into a temporary GOBIN, then move: an interrupted build never leaves a half binary
  # at the cached path.
  local tmp="$gobin.tmp"
  rm -rf "$tmp"
  GOBIN="$tmp" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
  [ -x "$tmp/kustomize" ] || { log "ERROR: go install produced no kustomize binary in $tmp"; exit 1; }
  "$tmp/kustomize" version >/dev/null || { log "ERROR: the built kustomize does not run"; exit 1; }
  rm -rf "$gobin"
  mv "$tmp" "$gobin"
  log "kustomize $KUSTOMIZE_VERSION built in $((SECONDS - start)) s"
  echo "$out"
}

# One build at a time per cache (CI may build in the background while the tests run this too).
lock_cache() {
  command -v flock >/dev/null || return 0
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.kustomize.lock"
  if ! flock -n 9; then
    log "another build holds $CACHE/.kustomize.lock; waiting for it"
    flock 9
  fi
}

kustomize="${KFOPS_TEST_KUSTOMIZE:-}"
if [ -z "$kustomize" ]; then
  lock_cache
  kustomize=$(build_kustomize)
fi
[ -x "$kustomize" ] || { log "ERROR: kustomize not executable: $kustomize"; exit 1; }
echo "kustomize=$kustomize"
