#!/usr/bin/env bash
# Install Neutron (OpenStack Networking, 2025.1 "Epoxy" = neutron 26, Keystone 27's release) into
# a venv once, with its VPNaaS and FWaaS v2 plugins (neutron-vpnaas 26, neutron-fwaas 22), and
# print its path. The floating IP and network services pollster tests run its API from it
# (MariaDB, Keystone auth; tests/neutron_support). The pins keep the libraries at what Epoxy
# was released with: neutron-lib 3.19 dropped `constants.ACCESS_READONLY`, which neutron 26
# imports.
# Idempotent and safe to run concurrently (flock). CEILO_NEUTRON_VENV overrides where it lives.
set -euo pipefail
venv=${CEILO_NEUTRON_VENV:-/opt/neutron-venv}
ready() {
  "$venv/bin/python" -c 'import neutron.db.external_net_db, neutron_vpnaas, neutron_fwaas, werkzeug, pymysql' \
    2>/dev/null
}
if ! ready; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! ready; then
    echo "installing Neutron into $venv" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'neutron>=26,<27' 'neutron-lib>=3.18,<3.19' 'oslo.utils<9' 'oslo.db<18' \
      'SQLAlchemy<2.1' 'neutron-vpnaas>=26,<27' 'neutron-fwaas>=22,<23' werkzeug PyMySQL >&2
  fi
fi
echo "$venv"
