#!/usr/bin/env bash
# benches/instructions.sh — the agent's CPU work per notification as an instruction count.
#
# Wall-clock and CPU-time numbers on a shared 2-core VM move ±10% between runs; callgrind's
# instruction counts do not (the same binary and workload give the same total within 0.5%).
# This runs the real agent under `valgrind --tool=callgrind` while loadgen drains a preload of
# SMALL and then LARGE nova notifications through it (RabbitMQ, Ceilometer's default meters and
# events, notifier:// publishers), and prints the slope: instructions per notification, startup
# excluded, every thread of the agent included (lapin, tokio, actix, conversion, publishing).
# valgrind does not emulate SHA-NI, so HMAC-SHA256 counts in software: about 260k of the total.
#
# Environment:
#   CEILO_BIN=target/release/ceilo   the binary to measure (compare two by running this twice)
#   SMALL=5000 LARGE=20000           the two drains
#   CEILO_CONFIG=config              the config dir to start from (its pipelines are replaced), for
#                                    a binary of another commit: that commit's config/
#   OUT=target/instructions          callgrind files, configs, reports
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# Where cargo puts the binaries (CARGO_TARGET_DIR or build.target-dir when set), as cost_curves.sh asks.
TARGET="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
CEILO_BIN="$(realpath -m "${CEILO_BIN:-$TARGET/release/ceilo}")"
SMALL="${SMALL:-5000}"
LARGE="${LARGE:-20000}"
OUT="${OUT:-$ROOT/target/instructions}"
BROKER="amqp://guest:guest@127.0.0.1:5672"
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
mkdir -p "$OUT"
cargo build --release -q -p loadgen
[[ -x "$CEILO_BIN" ]] || cargo build --release -q --bin ceilo

cfg="$OUT/config"
rm -rf "$cfg" && mkdir -p "$cfg" && cp -r "${CEILO_CONFIG:-config}/." "$cfg/"
for kind in pipeline event_pipeline; do
    what=meters; [[ $kind == event_pipeline ]] && what=events
    printf -- "---\nsources:\n    - name: s\n      %s: ['*']\n      sinks: [k]\nsinks:\n    - name: k\n      publishers: ['notifier://']\n" \
        "$what" > "$cfg/$kind.yaml"
done

total() { # COUNT -> instructions of the whole agent run
    local count="$1" vhost="ceilo-instructions-$1-$$" file="$OUT/agent-$1.cg"
    rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
    rabbitmqctl -q add_vhost "$vhost" >/dev/null
    rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*' >/dev/null
    "$TARGET/release/loadgen" preload --url "$BROKER/$vhost" --count "$count" --mix 'nova-*' \
        --expect ceilometer --ready-timeout 300 --settle 5 --max-time 1800 --quiet \
        --agent-cmd "valgrind --tool=callgrind --callgrind-out-file=$file $CEILO_BIN run --config-dir $cfg --transport-url {url}" \
        --agent-log "$OUT/agent-$count.log" --report "$OUT/report-$count.json" > "$OUT/loadgen-$count.txt"
    rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
    if [[ "$(jq '.missing_records + .duplicate_records' "$OUT/report-$count.json")" != 0 ]]; then
        echo "loadgen saw missing or duplicate output for $count (see $OUT/report-$count.json)" >&2
        exit 1
    fi
    callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

small="$(total "$SMALL")"
large="$(total "$LARGE")"
awk -v s="$small" -v l="$large" -v a="$SMALL" -v b="$LARGE" -v bin="$CEILO_BIN" 'BEGIN {
    printf "%s: %d instructions per notification (%.0f for %d, %.0f for %d)\n", bin, (l - s) / (b - a), s, a, l, b
}'
