#!/usr/bin/env bash
# Install Aodh 23 (OpenStack Alarming, the release whose API serves the evaluation-result
# counters `/v2/metrics` that Ceilometer 27's alarm.evaluation_result pollster reads) into a venv
# once, and print its path. The pollster test runs its API from it (PostgreSQL, Keystone auth;
# tests/aodh_support).
# Idempotent and safe to run concurrently (flock). CEILO_AODH_VENV overrides where it lives.
set -euo pipefail
venv=${CEILO_AODH_VENV:-/opt/aodh-venv}
ready() { "$venv/bin/python" -c 'import aodh.api.controllers.v2.metrics, werkzeug, psycopg' 2>/dev/null; }
if ! ready; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! ready; then
    echo "installing Aodh into $venv" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'aodh==23.*' werkzeug 'psycopg[binary]' >&2
  fi
fi
echo "$venv"
