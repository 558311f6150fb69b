#!/usr/bin/env bash
# Install Gnocchi 4.7 (PostgreSQL indexer, file storage, Keystone auth) into a venv once, and print its path.
# Idempotent and safe to run concurrently (flock): the tests call it before starting a Gnocchi,
# `.ci/run` calls it up front. CEILO_GNOCCHI_VENV overrides where the venv lives.
set -euo pipefail
venv=${CEILO_GNOCCHI_VENV:-/opt/gnocchi-venv}
# keystonemiddleware (the `keystone` extra) serves `[api] auth_mode = keystone`; a venv made
# before it was added gets it on the next run.
ready() { [ -x "$venv/bin/gnocchi-upgrade" ] && [ -d "$venv/lib/python3"*/site-packages/keystonemiddleware ]; }
if ! ready; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! ready; then
    echo "installing Gnocchi into $venv" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    # gnocchi 4.7 has no `file` extra: the file driver needs nothing beyond the base install.
    "$venv/bin/pip" install -q 'gnocchi[postgresql,keystone]>=4.7,<4.8' >&2
  fi
fi
echo "$venv"
