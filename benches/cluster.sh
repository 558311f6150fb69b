#!/usr/bin/env bash
# benches/cluster.sh — 1, 2 and 3 ceilo agents draining one preload on a 3-node RabbitMQ cluster
# with quorum queues; the drain rate of each and the CPU per notification per agent.
#
# It starts three RabbitMQ nodes of its own beside the machine's broker (which it never touches):
# node names ceilo-bench-<k>@localhost, AMQP ports BASE_PORT+k, distribution ports
# BASE_PORT+100+k, data and logs under $OUT/nodes, the rabbitmq user's Erlang cookie, no
# plugins; joins them into one cluster and kills them on exit. Each run gets a vhost of its own;
# loadgen (`preload --quorum`) publishes and collects through the third node, the agents are
# given the three nodes (`rabbit.failover_strategy: shuffle`, so they spread over the nodes).
# Run as root (or as the rabbitmq user).
#
# Environment:
#   COUNT=50000           messages per run
#   AGENTS='1 2 3'        the agent counts to run
#   MIX='nova-*'          loadgen --mix
#   BASE_PORT=5700        the nodes' AMQP ports are BASE_PORT, +1, +2 (below the ephemeral
#                         range, which outgoing connections take ports from)
#   OUT=target/cluster    reports, configs, agent and node logs
#   CEILO_BIN, LOADGEN_BIN   prebuilt binaries instead of building the release ones
#
# On 2 cores the three nodes (quorum queues replicate every message to three disks) are the
# wall: the rates say what the cluster takes; the agents' CPU per notification (their whole
# process tree's CPU over the messages) is their own cost, whatever their number. `benches/cluster.sh agents N CONFIG URL` is the agent-starting command it
# hands to loadgen (N agents, SIGTERM forwarded to each).
set -euo pipefail

if [[ "${1:-}" == agents ]]; then
    n="$2" config="$3" url="$4"
    pids=()
    for i in $(seq 1 "$n"); do
        "$CEILO" run --config-dir "$config" --transport-url "$url" &
        pids+=($!)
    done
    trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM INT
    wait "${pids[@]}" || true
    wait "${pids[@]}" 2>/dev/null || true
    exit 0
fi

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# Where cargo puts the binaries (CARGO_TARGET_DIR or build.target-dir when set), as cost_curves.sh asks.
TARGET="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
COUNT="${COUNT:-50000}"
AGENTS="${AGENTS:-1 2 3}"
MIX="${MIX:-nova-*}"
BASE_PORT="${BASE_PORT:-5700}"
OUT="${OUT:-$ROOT/target/cluster}"
mkdir -p "$OUT"

say() { printf '\n== %s\n' "$*" >&2; }

if [[ -z "${CEILO_BIN:-}" || -z "${LOADGEN_BIN:-}" ]]; then
    say "building (release)"
    cargo build --release -p loadgen --bin loadgen
    cargo build --release --bin ceilo
fi
export CEILO="${CEILO_BIN:-$TARGET/release/ceilo}"
LOADGEN="${LOADGEN_BIN:-$TARGET/release/loadgen}"

NODES="$OUT/nodes"
# shellcheck source=benches/rabbit_nodes.sh
source "$ROOT/benches/rabbit_nodes.sh"
trap 'stop_nodes 0 1 2' EXIT
stop_nodes 0 1 2
rm -rf "$NODES"
say "starting three RabbitMQ nodes on ports $BASE_PORT..$((BASE_PORT + 2))"
start_nodes 0 1 2
for k in 1 2; do
    ctl "$k" stop_app > /dev/null
    ctl "$k" join_cluster "ceilo-bench-0@localhost" > /dev/null
    ctl "$k" start_app > /dev/null
done
hosts="guest:guest@127.0.0.1:$BASE_PORT,guest:guest@127.0.0.1:$((BASE_PORT + 1)),guest:guest@127.0.0.1:$((BASE_PORT + 2))"

# ceilo's shipped definitions and notifier:// pipelines; quorum queues; metrics on a free port.
config="$OUT/config"
rm -rf "$config" && mkdir -p "$config"
cp -r config/meters.d config/event_definitions.yaml config/pipeline.yaml config/event_pipeline.yaml "$config/"
printf 'rabbit:\n  quorum_queue: true\n  failover_strategy: shuffle\ntelemetry:\n  listen: 127.0.0.1:0\n' > "$config/ceilo.yaml"

printf '%-7s %9s %9s %11s %12s %11s %8s %6s\n' agents messages seconds complete/s "agent cores" "cpu ms/msg" missing dup > "$OUT/table.txt"
for n in $AGENTS; do
    vhost="ceilo-bench-$n-$$"
    ctl 0 add_vhost "$vhost" > /dev/null
    ctl 0 set_permissions -p "$vhost" guest '.*' '.*' '.*' > /dev/null
    say "$n agent(s): $COUNT messages"
    "$LOADGEN" preload --count "$COUNT" --quorum --mix "$MIX" --quiet --max-time 900 \
        --url "amqp://guest:guest@127.0.0.1:$((BASE_PORT + 2))/$vhost" \
        --agent-cmd "bash $ROOT/benches/cluster.sh agents $n $config rabbit://$hosts/$vhost" \
        --agent-log "$OUT/agents-$n.log" --report "$OUT/report-$n.json" > /dev/null || true
    python3 - "$OUT/report-$n.json" "$n" >> "$OUT/table.txt" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2])
# The agents' whole process tree: CPU per notification is what the n agents spent on each.
cpu = r.get("agent_cpu_ms_per_message") or 0.0
cores = (r.get("agent") or {}).get("cpu_cores") or 0.0
# complete/s, not loadgen's drained/s: the agents prefetch, so the queues empty early.
print(f"{n:<7} {r['messages_in']:>9} {r.get('output_seconds') or 0:>9.1f} {r.get('throughput') or 0:>11.0f} "
      f"{cores:>12.2f} {cpu:>11.3f} {r['missing_records']:>8} {r['duplicate_records']:>6}")
EOF
    ctl 0 delete_vhost "$vhost" > /dev/null
done
cat "$OUT/table.txt"
