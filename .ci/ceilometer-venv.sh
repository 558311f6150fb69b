#!/usr/bin/env bash
# Install Ceilometer 27 (and the redis client its tooz coordination needs) into a venv once, and
# print its path. Idempotent and safe to run concurrently (flock): the coordination tests call it
# before starting a ceilometer-polling, `.ci/run` calls it up front. CEILOMETER_VENV overrides
# where the venv lives.
set -euo pipefail
venv=${CEILOMETER_VENV:-/opt/ceilometer27-venv}
if [ ! -x "$venv/bin/ceilometer-polling" ] || [ ! -d "$venv/lib" ] || ! "$venv/bin/python" -c 'import redis, tooz' 2>/dev/null; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if [ ! -x "$venv/bin/ceilometer-polling" ] || ! "$venv/bin/python" -c 'import redis, tooz' 2>/dev/null; then
    echo "installing Ceilometer 27 into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'ceilometer==27.0.0' redis >&2
  fi
fi
echo "$venv"
