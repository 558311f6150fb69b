#!/usr/bin/env bash
# Install Nova (OpenStack Compute, 2025.1 "Epoxy" = nova 31, Keystone 27's release) into a venv
# once, and print its path. The flavor-id test runs its API from it (SQLite, Keystone auth;
# tests/nova_support). The pins keep the libraries at what Epoxy was released with.
# Idempotent and safe to run concurrently (flock). CEILO_NOVA_VENV overrides where it lives.
set -euo pipefail
venv=${CEILO_NOVA_VENV:-/opt/nova-venv}
ready() { "$venv/bin/python" -c 'import nova.api.openstack.compute.wsgi, werkzeug' 2>/dev/null; }
if ! ready; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! ready; then
    echo "installing Nova into $venv" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'nova>=31,<32' 'oslo.utils<9' 'oslo.db<18' 'SQLAlchemy<2.1' werkzeug >&2
  fi
fi
echo "$venv"
