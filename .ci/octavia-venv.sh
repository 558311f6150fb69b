#!/usr/bin/env bash
# Install Octavia (OpenStack Load Balancing, 2025.1 "Epoxy" = octavia 16, Keystone 27's release)
# into a venv once, and print its path. The load balancer pollster test runs its API from it
# (MariaDB, Keystone auth, the no-op provider and network drivers; tests/octavia_support). The
# pins keep the libraries at what Epoxy was released with.
# Idempotent and safe to run concurrently (flock). CEILO_OCTAVIA_VENV overrides where it lives.
set -euo pipefail
venv=${CEILO_OCTAVIA_VENV:-/opt/octavia-venv}
ready() { "$venv/bin/python" -c 'import octavia.api.app, werkzeug, pymysql' 2>/dev/null; }
if ! ready; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! ready; then
    echo "installing Octavia into $venv" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'octavia>=16,<17' 'oslo.utils<9' 'oslo.db<18' 'SQLAlchemy<2.1' werkzeug PyMySQL >&2
  fi
fi
echo "$venv"
