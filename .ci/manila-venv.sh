#!/usr/bin/env bash
# Install Manila (OpenStack Shared File Systems, 2025.1 "Epoxy" = manila 20, Keystone 27's
# release) into a venv once, and print its path. The Manila pollster test runs its API from it
# (PostgreSQL, Keystone auth; tests/manila_support). The pins keep the libraries at what Epoxy
# was released with, as for Cinder (.ci/cinder-venv.sh).
# Idempotent and safe to run concurrently (flock). CEILO_MANILA_VENV overrides where it lives.
set -euo pipefail
venv=${CEILO_MANILA_VENV:-/opt/manila-venv}
ready() { "$venv/bin/python" -c 'import manila.wsgi.wsgi, werkzeug, psycopg2' 2>/dev/null; }
if ! ready; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! ready; then
    echo "installing Manila into $venv" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'manila>=20,<21' 'oslo.utils<9' 'SQLAlchemy<2.1' werkzeug psycopg2-binary >&2
  fi
fi
echo "$venv"
