#!/usr/bin/env bash
# A differential run: COUNT mutated corpus notifications through Ceilometer 27 (the oracle) and
# through `ceilo convert`, compared under the golden corpus' rules by the judges' compare.py;
# then every signature ceilo wrote checked with Ceilometer's compute_signature.
#
#   COUNT=3000 SEED=2 bash fuzz/differential/run.sh        # from the repository's top
#
# Environment: CEILO (default target/release/ceilo, built if missing), CEILOMETER_VENV (default
# /opt/ceilometer-venv: `python3 -m venv /opt/ceilometer-venv && /opt/ceilometer-venv/bin/pip
# install ceilometer==27.0.0`), SHARED (default ../shared: the reference corpus and the judges'
# tools), OUT (default a temp dir: bodies, Ceilometer's cases, ceilo's output, compare.txt),
# CONF (a ceilometer.conf both read, e.g. `[event] store_raw = info`), DEFINITIONS_SEED (both
# load the shipped meters.yaml and event_definitions.yaml with some definitions mutated by
# mutate_definitions.py).
set -euo pipefail
count="${COUNT:-3000}"
seed="${SEED:-1}"
shared="${SHARED:-../shared}"
venv="${CEILOMETER_VENV:-/opt/ceilometer-venv}"
here="$(cd "$(dirname "$0")" && pwd)"
target="${CARGO_TARGET_DIR:-target}"
ceilo="${CEILO:-$target/release/ceilo}"
out="${OUT:-$(mktemp -d)}"
[ -x "$ceilo" ] || cargo build --release -q -p ceilo
mkdir -p "$out"

python3 "$here/mutate.py" "$shared/ceilometer-reference/corpus/public.jsonl" "$count" "$seed" > "$out/bodies.jsonl"
if [ -n "${DEFINITIONS_SEED:-}" ]; then
  mkdir -p "$out/meters.d"
  reference="$shared/ceilometer-reference"
  "$venv/bin/python" "$here/mutate_definitions.py" meters "$reference/meters.d/meters.yaml" \
    "$DEFINITIONS_SEED" "$out/meters.d/meters.yaml"
  "$venv/bin/python" "$here/mutate_definitions.py" events "$reference/event_definitions.yaml" \
    "$DEFINITIONS_SEED" "$out/event_definitions.yaml"
  { [ -n "${CONF:-}" ] && cat "$CONF"
    printf '\n[meter]\nmeter_definitions_dirs = %s\n' "$out/meters.d"
    printf '[event]\ndefinitions_cfg_file = %s\n' "$out/event_definitions.yaml"; } > "$out/ceilometer.conf"
  CONF="$out/ceilometer.conf"
fi
conf=()
[ -n "${CONF:-}" ] && conf=("$CONF")
"$venv/bin/python" "$here/ceilometer_oracle.py" "$out/bodies.jsonl" "${conf[@]}" > "$out/expected.jsonl" 2> "$out/oracle.log"
python3 -c 'import json, sys
for line in sys.stdin: print(json.dumps(json.loads(line)["body"]))' < "$out/bodies.jsonl" > "$out/wire.jsonl"
"$ceilo" convert ${CONF:+--config-file "$CONF"} < "$out/wire.jsonl" > "$out/converted.jsonl" 2> "$out/ceilo.log"
# ceilo's lines as the corpus' cases: its names, and whether an endpoint raised (requeue).
python3 "$shared/tools/golden_adapt.py" actual "$out/bodies.jsonl" "$out/converted.jsonl" |
  python3 -c 'import json, sys
converted = open(sys.argv[1])
for line in sys.stdin:
    case, raw = json.loads(line), json.loads(next(converted))
    case["requeue"] = "error" in raw
    print(json.dumps(case))' "$out/converted.jsonl" > "$out/actual.jsonl"
python3 "$shared/tools/compare.py" "$out/expected.jsonl" "$out/actual.jsonl" --max-details 4 > "$out/compare.txt" || true
"$venv/bin/python" "$here/verify_signatures.py" "$out/converted.jsonl" > "$out/signatures.txt" || true
echo "$out/compare.txt: $(tail -n 1 "$out/compare.txt")"
echo "$out/signatures.txt: $(tail -n 1 "$out/signatures.txt")"
