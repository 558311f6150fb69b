#!/usr/bin/env bash
# Install Zaqar (OpenStack Messaging, the service Ceilometer's zaqar:// publisher posts to) into
# a venv once, and print its path. The publisher test runs `zaqar-server` from it on Redis and
# Keystone auth (tests/zaqar_support).
# Idempotent and safe to run concurrently (flock). CEILO_ZAQAR_VENV overrides where it lives.
set -euo pipefail
venv=${CEILO_ZAQAR_VENV:-/opt/zaqar-venv}
ready() { "$venv/bin/python" -c 'import zaqar.storage.redis, redis, keystonemiddleware' 2>/dev/null; }
if ! ready; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! ready; then
    echo "installing Zaqar into $venv" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'zaqar==23.*' redis >&2
  fi
fi
echo "$venv"
