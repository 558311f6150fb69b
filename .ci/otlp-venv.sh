#!/usr/bin/env bash
# Install the OpenTelemetry protobuf definitions (opentelemetry-proto, with protobuf) into a
# venv once, and print its path: tests/otlp_receiver.py decodes what the opentelemetryhttp://
# publisher sends with them. Idempotent and safe to run concurrently (flock); the tests call
# it before starting the receiver, `.ci/run` up front. CEILO_OTLP_VENV overrides the place.
set -euo pipefail
venv=${CEILO_OTLP_VENV:-/opt/otlp-venv}
probe=("$venv/bin/python" -c "import opentelemetry.proto.collector.metrics.v1.metrics_service_pb2")
if ! "${probe[@]}" 2>/dev/null; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! "${probe[@]}" 2>/dev/null; then
    echo "installing opentelemetry-proto into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'opentelemetry-proto>=1.20' >&2
  fi
fi
echo "$venv"
