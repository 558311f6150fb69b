#!/usr/bin/env bash
# Install Designate (OpenStack DNS, 2025.1 "Epoxy" = designate 20, Keystone 27's release) into a
# venv once, and print its path. The DNS zone pollster test runs its central service and API
# from it (MariaDB, Keystone auth; tests/designate_support). The pins keep the libraries at what
# Epoxy was released with, as for Cinder (.ci/cinder-venv.sh).
# Idempotent and safe to run concurrently (flock). CEILO_DESIGNATE_VENV overrides where it lives.
set -euo pipefail
venv=${CEILO_DESIGNATE_VENV:-/opt/designate-venv}
ready() { "$venv/bin/python" -c 'import designate.api.wsgi, designate.cmd.central, werkzeug, pymysql' 2>/dev/null; }
if ! ready; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! ready; then
    echo "installing Designate into $venv" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'designate>=20,<21' 'oslo.utils<9' 'SQLAlchemy<2.1' werkzeug PyMySQL >&2
  fi
fi
echo "$venv"
