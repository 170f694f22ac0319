# Sourced by the install scripts before they run apt-get: root (or sudo), and a temporary
# policy-rc.d so a package's maintainer scripts start no service (no systemd in containers/CI).
# Expects log and fail to be defined; sets SUDO (an array) and removes the policy on exit.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail "installing needs root (or sudo); running as uid $(id -u)"
  SUDO=(sudo)
fi

POLICY=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
  if [ "$created_policy" -eq 1 ]; then
    "${SUDO[@]}" rm -f "$POLICY" || log "WARNING: could not remove the temporary $POLICY"
  fi
}
trap cleanup EXIT

if [ ! -e "$POLICY" ]; then
  log "installing a temporary $POLICY so the packages start no service"
  printf '#!/bin/sh\n# temporary, from kfops scripts/testenv\nexit 101\n' \
    | "${SUDO[@]}" tee "$POLICY" >/dev/null || fail "could not write $POLICY"
  "${SUDO[@]}" chmod 0755 "$POLICY" || fail "could not chmod $POLICY"
  created_policy=1
fi
