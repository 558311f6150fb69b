#!/usr/bin/env bash
# benches/per_core.sh — notifications per second per ceilo core, a figure that does not depend
# on how much of the machine the broker takes.
#
# A RabbitMQ node of its own (benches/rabbit_nodes.sh: port BASE_PORT, killed on exit; the
# machine's broker is not touched) and benches/compare.sh's ceilo run (nova preload, Ceilometer's
# default meters and events, notifier:// publishers, output checked against Ceilometer's), in
# two layouts, interleaved over REPEAT rounds:
#   pinned   the node's threads and loadgen on CPU 0, ceilo on CPU 1 (taskset)
#   spread   nothing pinned: ceilo may use both cores, beside the node and loadgen
# For each run: complete/s, notifications per ceilo core (per second of its CPU time, all its
# threads) and ceilo's cores while draining (complete/s over that). When ceilo's CPU is what limits the pinned run its
# cores are ~1.0 and complete/s is the per-core rate; when it is below 1.0 the other core (broker
# and loadgen) is the wall.
#
# Environment: COUNT=100000  REPEAT=3  BASE_PORT=5750  OUT=target/per_core  CEILO_BIN  MIX
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
COUNT="${COUNT:-100000}"
REPEAT="${REPEAT:-3}"
BASE_PORT="${BASE_PORT:-5750}"
OUT="${OUT:-$ROOT/target/per_core}"
NODES="$OUT/nodes"
mkdir -p "$OUT"
[[ "$(nproc)" -ge 2 ]] || { echo "per_core.sh needs two CPUs" >&2; exit 1; }

# shellcheck source=benches/rabbit_nodes.sh
source "$ROOT/benches/rabbit_nodes.sh"
trap 'stop_nodes 0' EXIT
stop_nodes 0
printf '\n== starting a RabbitMQ node on port %s\n' "$BASE_PORT" >&2
start_nodes 0

# Every thread of the node (the Erlang schedulers and its port programs), now and later.
pin_node() { taskset -a -p -c "$1" "$(node_pid 0)" > /dev/null; }

table="$OUT/table.txt"
printf '%-7s %-6s %11s %11s %15s %8s %5s\n' layout round complete/s "ceilo cores" "per ceilo core" missing dup > "$table"
for r in $(seq 1 "$REPEAT"); do
    for layout in pinned spread; do
        if [[ $layout == pinned ]]; then
            pin_node 0; cpus=(LOADGEN_CPUS=0 CEILO_CPUS=1)
        else
            pin_node 0,1; cpus=()
        fi
        dir="$OUT/$layout.round$r"
        env "${cpus[@]}" COUNT="$COUNT" ONLY=ceilo OUT="$dir" \
            BROKER="amqp://guest:guest@127.0.0.1:$BASE_PORT" \
            RABBITMQCTL="runuser -u rabbitmq -- env HOME=/var/lib/rabbitmq $RABBIT/rabbitmqctl -n ceilo-bench-0@localhost" \
            bash "$ROOT/benches/compare.sh" > "$dir.txt" 2>&1 || { cat "$dir.txt" >&2; exit 1; }
        # notifications per ceilo CPU-second = 1000 / its CPU ms per notification; its cores while
        # draining = complete/s over that.
        jq -r --arg l "$layout" --arg r "$r" \
            '(.agent_cpu_ms_per_message // 0) as $ms | (if $ms > 0 then 1000 / $ms else 0 end) as $per |
              [$l, $r, (.throughput|floor), (if $per > 0 then .throughput / $per * 100 | floor / 100 else 0 end),
               ($per|floor), .missing_records, .duplicate_records] | @tsv' \
            "$dir/ceilo.json" | awk -F'\t' '{printf "%-7s %-6s %11s %11s %15s %8s %5s\n", $1,$2,$3,$4,$5,$6,$7}' >> "$table"
    done
done
cat "$table"
