#!/usr/bin/env bash
# Install Glance (OpenStack Image, 2025.1 "Epoxy" = glance 30, Keystone 27's release) into a
# venv once, and print its path. The Glance pollster test runs its API from it (SQLite, Keystone
# auth; tests/glance_support). The pins keep the libraries at what Epoxy was released with:
# newer oslo.db dropped `EngineFacade`, which glance 30's migrations use.
# Idempotent and safe to run concurrently (flock). CEILO_GLANCE_VENV overrides where it lives.
set -euo pipefail
venv=${CEILO_GLANCE_VENV:-/opt/glance-venv}
ready() { "$venv/bin/python" -c 'import glance.common.wsgi_app, werkzeug, oslo_db.sqlalchemy.session as s; s.EngineFacade' 2>/dev/null; }
if ! ready; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! ready; then
    echo "installing Glance into $venv" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'glance>=30,<31' 'oslo.utils<9' 'oslo.db<18' 'SQLAlchemy<2.1' werkzeug >&2
  fi
fi
echo "$venv"
