#!/usr/bin/env bash
# Make `promtool` (rule checks and rule unit tests, tests/rules/) and `prometheus` (the live
# rule test) available.
#
# - Both already on PATH: nothing is installed.
# - Otherwise: Debian's `prometheus` package, non-interactively, without recommends. It ships
#   both binaries.
# - Any failure exits non-zero with a message saying what failed. CI must fail loudly: the rule
#   tests never skip for a missing promtool.
#
# The package's maintainer scripts try to start the `prometheus` service. In a container without
# systemd, invoke-rc.d would fall back to /etc/init.d and really start a daemon on :9090. On a
# developer machine with systemd it would start the unit. A policy-rc.d that answers 101
# ("action forbidden") stops both. If one already exists it is left as it is. Otherwise one is
# put in place only for the duration of the install and removed afterwards.
#
# On a machine that runs systemd, the package still enables the unit for the next boot: run
# `systemctl disable prometheus` if that is unwanted. Nothing here stops a prometheus that was
# already running.
#
# Prints "promtool=PATH" and "prometheus=PATH" on stdout. Progress goes to stderr.
set -euo pipefail

log() { printf '[install-prometheus] %s\n' "$*" >&2; }
fail() {
  log "ERROR: $*"
  log "promtool and prometheus are required by tests/rules (make test). Install Debian's 'prometheus' package, or put both binaries on PATH, then re-run."
  exit 1
}

prometheus_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = prometheus ] && echo "${p#/proc/}"
  done
  return 0
}

report() {
  local promtool_path prometheus_path
  promtool_path=$(command -v promtool) || fail "promtool is still not on PATH"
  prometheus_path=$(command -v prometheus) || fail "prometheus is still not on PATH"
  # A binary that is on PATH but does not run is as good as missing.
  "$promtool_path" --version >/dev/null 2>&1 || fail "'$promtool_path --version' failed"
  "$prometheus_path" --version >/dev/null 2>&1 || fail "'$prometheus_path --version' failed"
  log "$("$promtool_path" --version 2>&1 | head -n1)"
  echo "promtool=$promtool_path"
  echo "prometheus=$prometheus_path"
}

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  log "promtool and prometheus already on PATH: nothing to install"
  report
  exit 0
fi

command -v apt-get >/dev/null 2>&1 \
  || fail "promtool/prometheus not on PATH and apt-get is not available (not a Debian-based machine)"

# shellcheck source=apt-guard.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt-guard.sh"

before_pids=$(prometheus_pids)
log "apt-get update"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
  || fail "apt-get update failed"
log "apt-get install -y --no-install-recommends prometheus"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold prometheus >&2 \
  || fail "apt-get install prometheus failed (exit $?)"

# The package must not have started a server (it would hold :9090 and skew the live tests).
started=$(comm -13 <(printf '%s\n' $before_pids | sort) <(printf '%s\n' $(prometheus_pids) | sort) | tr '\n' ' ')
if [ -n "${started// /}" ]; then
  log "WARNING: the package started a prometheus server (pid $started). Stop it with" \
    "'systemctl stop prometheus' or '/etc/init.d/prometheus stop'."
fi

report
