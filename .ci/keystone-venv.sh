#!/usr/bin/env bash
# Install Keystone (OpenStack Identity, 2025.1 "Epoxy" = keystone 27) into a venv once, and print
# its path. The gnocchi:// Keystone tests run a real Keystone from it (PostgreSQL, fernet tokens).
# Idempotent and safe to run concurrently (flock). CEILO_KEYSTONE_VENV overrides where it lives.
set -euo pipefail
venv=${CEILO_KEYSTONE_VENV:-/opt/keystone-venv}
if [ ! -d "$venv/lib/python3"*/site-packages/psycopg2 ]; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if [ ! -d "$venv/lib/python3"*/site-packages/psycopg2 ]; then
    echo "installing Keystone into $venv" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'keystone>=27,<28' psycopg2-binary >&2
  fi
fi
echo "$venv"
