#!/usr/bin/env bash
# benches/ceilometer-agent.sh URL — run Ceilometer 27's notification agent against the broker URL
# (amqp:// or rabbit://), with the default meter and event definitions and both pipelines
# publishing to notifier:// (exchange ceilometer, metering.sample / event.sample).
#
# Usable as loadgen's agent:  loadgen preload --agent-cmd 'benches/ceilometer-agent.sh {url}'
# Environment: CEILOMETER_VENV (default /opt/ceilometer-venv; create it with
#   python3 -m venv /opt/ceilometer-venv && /opt/ceilometer-venv/bin/pip install 'ceilometer==27.0.0')
#   CEILOMETER_CONFIG_DIR: where to write the config (default: a new temp dir)
set -euo pipefail
url="${1:?usage: $0 amqp://user:pass@127.0.0.1:5672/vhost}"
venv="${CEILOMETER_VENV:-/opt/ceilometer-venv}"
dir="${CEILOMETER_CONFIG_DIR:-$(mktemp -d /tmp/ceilometer-agent.XXXXXX)}"
mkdir -p "$dir"
cat > "$dir/ceilometer.conf" <<CONF
[DEFAULT]
transport_url = ${url/#amqp:/rabbit:}
use_stderr = true
[notification]
workers = 1
[publisher]
telemetry_secret = loadgen
CONF
for kind in meter event; do
    if [[ $kind == meter ]]; then file=pipeline.yaml; what=meters; else file=event_pipeline.yaml; what=events; fi
    cat > "$dir/$file" <<YAML
---
sources:
    - name: ${kind}_source
      $what:
          - "*"
      sinks:
          - ${kind}_sink
sinks:
    - name: ${kind}_sink
      publishers:
          - notifier://
YAML
done
exec "$venv/bin/ceilometer-agent-notification" --config-file "$dir/ceilometer.conf" --config-dir "$dir"
