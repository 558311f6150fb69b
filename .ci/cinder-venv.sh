#!/usr/bin/env bash
# Install Cinder (OpenStack Block Storage, 2025.1 "Epoxy" = cinder 26, Keystone 27's release)
# into a venv once, and print its path. The Cinder pollster tests run its API from it
# (PostgreSQL, Keystone auth; tests/cinder_support). The pins keep the libraries at what Epoxy
# was released with: newer oslo.utils dropped `secretutils.md5`, which cinder 26 imports.
# Idempotent and safe to run concurrently (flock). CEILO_CINDER_VENV overrides where it lives.
set -euo pipefail
venv=${CEILO_CINDER_VENV:-/opt/cinder-venv}
ready() { "$venv/bin/python" -c 'import cinder.wsgi.wsgi, werkzeug, psycopg2' 2>/dev/null; }
if ! ready; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! ready; then
    echo "installing Cinder into $venv" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'cinder>=26,<27' 'oslo.utils<9' 'SQLAlchemy<2.1' werkzeug psycopg2-binary >&2
  fi
fi
echo "$venv"
