#!/usr/bin/env bash
# Install Swift (OpenStack Object Storage, 2.35, 2025.1 "Epoxy", Keystone 27's release) with
# keystonemiddleware into a venv once, and print its path. Swift's pollster test runs a proxy
# and account, container and object servers from it (Keystone auth; tests/swift_support).
# Idempotent and safe to run concurrently (flock). CEILO_SWIFT_VENV overrides where it lives.
set -euo pipefail
venv=${CEILO_SWIFT_VENV:-/opt/swift-venv}
ready() { "$venv/bin/python" -c 'import swift.proxy.server, keystonemiddleware.auth_token' 2>/dev/null; }
if ! ready; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! ready; then
    echo "installing Swift into $venv" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'swift>=2.35,<2.36' keystonemiddleware >&2
  fi
fi
echo "$venv"
