#!/usr/bin/env bash
# Make a MariaDB server, the Galera 4 provider and rsync available for tests/galera (a real
# 3-node Galera cluster on loopback, state transfer by rsync).
#
# - All present (mariadbd or mysqld, mariadb-install-db or mysql_install_db, libgalera_smm.so,
#   rsync and the server's wsrep_sst_rsync script): nothing is installed.
# - Otherwise: Debian's `mariadb-server`, `galera-4` and `rsync` packages, non-interactively,
#   without recommends, after one `apt-get update`.
# - Any failure exits non-zero with a message saying what failed. CI must fail loudly: the
#   Galera tests never skip for a missing server.
#
# The package's maintainer scripts try to start the `mariadb` service. In a container without
# systemd, invoke-rc.d would fall back to /etc/init.d and really start a server on :3306; on a
# developer machine with systemd it would start the unit. A policy-rc.d that answers 101
# ("action forbidden") stops both. If one already exists it is left as it is; otherwise one is
# put in place only for the duration of the install and removed afterwards. The tests start
# their own servers, as the `mysql` user the package creates, with their own datadirs.
#
# Prints "mariadbd=PATH", "install_db=PATH", "galera=PATH" and "rsync=PATH" on stdout.
# Progress goes to stderr.
set -euo pipefail

log() { printf '[install-galera] %s\n' "$*" >&2; }
fail() {
  log "ERROR: $*"
  log "tests/galera needs mariadb-server, galera-4 and rsync (make test). Install those Debian packages, then re-run."
  exit 1
}

# Where Debian (and a few other distributions) put the provider. KFOPS_TEST_GALERA_PROVIDER wins.
PROVIDER_CANDIDATES=(
  /usr/lib/galera/libgalera_smm.so
  /usr/lib/libgalera_smm.so
  /usr/lib64/galera-4/libgalera_smm.so
  /usr/lib64/galera/libgalera_smm.so
  /usr/lib/x86_64-linux-gnu/galera/libgalera_smm.so
  /usr/lib/aarch64-linux-gnu/galera/libgalera_smm.so
)

find_server() {
  local name
  for name in mariadbd mysqld; do
    command -v "$name" 2>/dev/null && return 0
    [ -x "/usr/sbin/$name" ] && { echo "/usr/sbin/$name"; return 0; }
  done
  return 1
}

find_install_db() {
  local name
  for name in mariadb-install-db mysql_install_db; do
    command -v "$name" 2>/dev/null && return 0
    [ -x "/usr/bin/$name" ] && { echo "/usr/bin/$name"; return 0; }
  done
  return 1
}

find_provider() {
  local path
  if [ -n "${KFOPS_TEST_GALERA_PROVIDER:-}" ]; then
    [ -f "$KFOPS_TEST_GALERA_PROVIDER" ] && { echo "$KFOPS_TEST_GALERA_PROVIDER"; return 0; }
    return 1
  fi
  for path in "${PROVIDER_CANDIDATES[@]}"; do
    [ -f "$path" ] && { echo "$path"; return 0; }
  done
  return 1
}

all_present() {
  find_server >/dev/null && find_install_db >/dev/null && find_provider >/dev/null \
    && command -v rsync >/dev/null 2>&1 && command -v wsrep_sst_rsync >/dev/null 2>&1
}

report() {
  local server install_db provider rsync_path
  server=$(find_server) || fail "mariadbd/mysqld is still not on PATH or in /usr/sbin"
  install_db=$(find_install_db) || fail "mariadb-install-db/mysql_install_db is still not on PATH"
  provider=$(find_provider) || fail "libgalera_smm.so not found (looked in ${KFOPS_TEST_GALERA_PROVIDER:-${PROVIDER_CANDIDATES[*]}})"
  rsync_path=$(command -v rsync) || fail "rsync is still not on PATH"
  command -v wsrep_sst_rsync >/dev/null 2>&1 \
    || fail "wsrep_sst_rsync (the server's rsync state-transfer script) is not on PATH"
  # A binary that is on disk but does not run is as good as missing.
  "$server" --version >/dev/null 2>&1 || fail "'$server --version' failed"
  "$rsync_path" --version >/dev/null 2>&1 || fail "'$rsync_path --version' failed"
  id mysql >/dev/null 2>&1 || fail "there is no 'mysql' user: the servers must run as mysql (rsync SST refuses root)"
  log "$("$server" --version 2>&1 | head -n1)"
  echo "mariadbd=$server"
  echo "install_db=$install_db"
  echo "galera=$provider"
  echo "rsync=$rsync_path"
}

if all_present; then
  log "mariadbd, galera provider and rsync already present: nothing to install"
  report
  exit 0
fi

command -v apt-get >/dev/null 2>&1 \
  || fail "mariadbd/galera/rsync missing and apt-get is not available (not a Debian-based machine)"

# shellcheck source=apt-guard.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt-guard.sh"

server_pids() {
  local p
  for p in /proc/[0-9]*; do
    case "$(cat "$p/comm" 2>/dev/null)" in mariadbd | mysqld) echo "${p#/proc/}" ;; esac
  done
  return 0
}

before_pids=$(server_pids)
began=$(date +%s)
log "apt-get update"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
  || fail "apt-get update failed"
log "apt-get install -y --no-install-recommends mariadb-server galera-4 rsync"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  mariadb-server galera-4 rsync >&2 \
  || fail "apt-get install mariadb-server galera-4 rsync failed"
log "installed in $(($(date +%s) - began)) s"

# The package must not have started a server (it would hold :3306 and a datadir in /var/lib/mysql).
started=$(comm -13 <(printf '%s\n' $before_pids | sort) <(printf '%s\n' $(server_pids) | sort) | tr '\n' ' ')
if [ -n "${started// /}" ]; then
  log "WARNING: the package started a MariaDB server (pid $started). Stop it with" \
    "'systemctl stop mariadb' or '/etc/init.d/mariadb stop'."
fi

report
