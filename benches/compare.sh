#!/usr/bin/env bash
# benches/compare.sh — one preload workload, four consumers, one table.
#
# The same preload (nova-style notifications, ~3 KB bodies, Ceilometer's default meter and event
# definitions, notifier:// publishers) is drained by:
#   limit-ack        loadgen sink --ack-only   (the broker's consume-and-ack limit)
#   limit-republish  loadgen sink --republish  (consume, republish unchanged with confirms, ack)
#   limit-raw        loadgen sink --ack-only --raw  (consume and ack without lapin: what consuming
#                    costs without a client library; only when ONLY names it)
#   ceilo            target/release/ceilo run  (skipped if it does not start)
#   ceilometer       ceilometer-agent-notification 27 from a venv (skipped if not installed)
# and it prints throughput, CPU per message, peak RSS, loss and duplicates for each, the agents'
# CPU per message by thread name (converters, I/O and encoders, ...), then the
# ceilo/limit and ceilo/Ceilometer ratios. Every run gets a fresh vhost on 127.0.0.1.
#
# Environment:
#   COUNT=200000            messages for the limits and ceilo
#   CEILOMETER_COUNT=5000   messages for Ceilometer (it drains a few hundred per second)
#   MIX='nova-*'            loadgen --mix;  SIZE=natural  loadgen --size
#   CEILOMETER_VENV=/opt/ceilometer-venv   INSTALL_CEILOMETER=1 creates it (pip install ceilometer==27.0.0)
#   OUT=target/compare      where reports, configs and agent logs go
#   ONLY='limit-ack ceilo'  run a subset
#   CEILO_CONFIG=config     ceilo's config dir to start from (its pipelines are replaced)
#   CEILO_BIN=path          a ceilo binary to use instead of building target/release/ceilo
#   BROKER=amqp://guest:guest@127.0.0.1:5672   the broker (its vhosts made with RABBITMQCTL)
#   RABBITMQCTL=rabbitmqctl the command that adds and deletes the runs' vhosts on BROKER
#   CEILO_CPUS, LOADGEN_CPUS  CPU lists (taskset -c) ceilo and loadgen are pinned to; unset: any
#                           (benches/per_core.sh pins them)
#   REPEAT=1                rounds: every consumer runs once per round, in turn, and each round's
#                           ratios are printed with their median (on a shared machine one pair
#                           of runs can be off by 30 %; interleaved rounds see the same noise)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# Where cargo puts the binaries (CARGO_TARGET_DIR or build.target-dir when set), as cost_curves.sh asks.
TARGET="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
COUNT="${COUNT:-200000}"
CEILOMETER_COUNT="${CEILOMETER_COUNT:-5000}"
MIX="${MIX:-nova-*}"
SIZE="${SIZE:-natural}"
CEILOMETER_VENV="${CEILOMETER_VENV:-/opt/ceilometer-venv}"
OUT="${OUT:-$ROOT/target/compare}"
ONLY="${ONLY:-limit-ack limit-republish ceilo ceilometer}"
REPEAT="${REPEAT:-1}"
BROKER="${BROKER:-amqp://guest:guest@127.0.0.1:5672}"
read -r -a RABBITMQCTL <<< "${RABBITMQCTL:-rabbitmqctl}"
mkdir -p "$OUT"

say() { printf '\n== %s\n' "$*" >&2; }
wants() { [[ " $ONLY " == *" $1 "* ]]; }

if [[ -z "${RABBITMQCTL:-}" ]] && ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    say "starting RabbitMQ"
    rabbitmq-server -detached
    rabbitmqctl await_startup
fi

say "building (release)"
cargo build --release -p loadgen
LOADGEN="$TARGET/release/loadgen"
CEILO="${CEILO_BIN:-}"
if wants ceilo && [[ -z "$CEILO" ]]; then
    if cargo build --release --bin ceilo; then CEILO="$TARGET/release/ceilo"; fi
fi

if [[ "${INSTALL_CEILOMETER:-0}" == 1 && ! -x "$CEILOMETER_VENV/bin/ceilometer-agent-notification" ]]; then
    say "installing Ceilometer 27 into $CEILOMETER_VENV"
    python3 -m venv "$CEILOMETER_VENV"
    "$CEILOMETER_VENV/bin/pip" install -q 'ceilometer==27.0.0'
fi

vhost_up() {
    "${RABBITMQCTL[@]}" -q delete_vhost "$1" >/dev/null 2>&1 || true
    "${RABBITMQCTL[@]}" -q add_vhost "$1" >/dev/null
    "${RABBITMQCTL[@]}" -q set_permissions -p "$1" guest '.*' '.*' '.*' >/dev/null
}
vhost_down() { "${RABBITMQCTL[@]}" -q delete_vhost "$1" >/dev/null 2>&1 || true; }
pinned() { # CPUS -> the prefix that pins a command to them (nothing when CPUS is empty)
    if [[ -n "$1" ]]; then echo "taskset -c $1 "; fi
}

# pipeline.yaml and event_pipeline.yaml: every meter / event to notifier:// (exchange ceilometer,
# metering.sample / event.sample), which loadgen reads back.
write_pipelines() {
    cat > "$1/pipeline.yaml" <<'YAML'
---
sources:
    - name: meter_source
      meters:
          - "*"
      sinks:
          - meter_sink
sinks:
    - name: meter_sink
      publishers:
          - notifier://
YAML
    cat > "$1/event_pipeline.yaml" <<'YAML'
---
sources:
    - name: event_source
      events:
          - "*"
      sinks:
          - event_sink
sinks:
    - name: event_sink
      publishers:
          - notifier://
YAML
}

# run NAME COUNT EXPECT AGENT_CMD  ->  $OUT/NAME.json
run() {
    # The vhost is this script's own (its pid), so two compare.sh runs on one broker do not
    # delete each other's.
    local name="$1" count="$2" expect="$3" agent="$4" vhost="loadgen-compare-$1-$$"
    say "$name: preload $count x $MIX"
    vhost_up "$vhost"
    $(pinned "${LOADGEN_CPUS:-}")"$LOADGEN" preload --url "$BROKER/$vhost" --count "$count" --mix "$MIX" --size "$SIZE" \
        --expect "$expect" --agent-cmd "$agent" --agent-log "$OUT/$name.agent.log" \
        --ready-timeout 120 --settle 15 --max-time 1800 --report "$OUT/$name.json" --quiet \
        > "$OUT/$name.txt" || echo "loadgen exited with $? for $name (see $OUT/$name.txt, $OUT/$name.agent.log)" >&2
    vhost_down "$vhost"
}

rm -f "$OUT"/*.json
# One round: every wanted consumer once.
round() {
    rm -f "$OUT"/{limit-ack,limit-raw,limit-republish,ceilo,ceilometer}.json
    if wants limit-ack; then
        run limit-ack "$COUNT" none "$LOADGEN sink --ack-only --url {url}"
    fi
    if wants limit-raw; then
        run limit-raw "$COUNT" none "$LOADGEN sink --ack-only --raw --url {url}"
    fi
    if wants limit-republish; then
        run limit-republish "$COUNT" one "$LOADGEN sink --republish --url {url}"
    fi
    if wants ceilo && [[ -n "$CEILO" ]]; then
        cfg="$OUT/ceilo-config"
        rm -rf "$cfg" && mkdir -p "$cfg"
        # ceilo's own config dir (meters.d, event_definitions.yaml, ...), pipelines replaced.
        if [[ -d "${CEILO_CONFIG:-$ROOT/config}" ]]; then cp -r "${CEILO_CONFIG:-$ROOT/config}/." "$cfg/"; fi
        write_pipelines "$cfg"
        # /metrics on a port the kernel picks: another agent (or compare.sh) may hold 9464.
        sed -i 's/^\(  listen:\) 127\.0\.0\.1:9464/\1 127.0.0.1:0/' "$cfg/ceilo.yaml"
        run ceilo "$COUNT" ceilometer "$(pinned "${CEILO_CPUS:-}")$CEILO run --config-dir $cfg --transport-url {url}"
    elif wants ceilo; then
        echo "ceilo: not built, skipped" >&2
    fi
    if wants ceilometer && [[ -x "$CEILOMETER_VENV/bin/ceilometer-agent-notification" ]]; then
        # benches/ceilometer-agent.sh writes ceilometer.conf (transport_url) and notifier:// pipelines;
        # the meter and event definitions are the package defaults.
        run ceilometer "$CEILOMETER_COUNT" ceilometer \
            "env CEILOMETER_VENV=$CEILOMETER_VENV CEILOMETER_CONFIG_DIR=$OUT/ceilometer-config $ROOT/benches/ceilometer-agent.sh {url}"
    elif wants ceilometer; then
        echo "ceilometer: $CEILOMETER_VENV/bin/ceilometer-agent-notification not found, skipped (INSTALL_CEILOMETER=1)" >&2
    fi
}
for r in $(seq 1 "$REPEAT"); do
    [[ "$REPEAT" == 1 ]] || say "round $r of $REPEAT"
    round
    for f in "$OUT"/*.json; do
        [[ "$f" == *.round*.json ]] || cp "$f" "${f%.json}.round$r.json"
    done
done

say "results ($OUT)"
# drained/s: messages_in / time until the notification queues were empty.
# complete/s: messages with every expected sample and event delivered / time of the last output
#             (for the ack-only sink, which delivers nothing, the drain rate).
rate() { # complete/s of run $1, in round $2 (".round3"; the last round when absent)
    local f="$OUT/$1${2:-}.json"
    [[ -f "$f" ]] || { echo ""; return; }
    jq -r 'if .expect == "none" then (.drain_rate // 0) else .throughput end' "$f"
}
quotient() { # rate of $1 / rate of $2, in round $3, two decimals; nothing when one is missing
    local a b
    a="$(rate "$1" "${3:-}")"; b="$(rate "$2" "${3:-}")"
    if [[ -n "$a" && -n "$b" ]]; then
        awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b }'
    fi
}
printf '%-16s %9s %7s %10s %11s %10s %9s %9s %6s %8s\n' \
    run messages "body B" "drained/s" "complete/s" "CPU ms/msg" "peak MB" missing dup foreign
for n in limit-ack limit-raw limit-republish ceilo ceilometer; do
    f="$OUT/$n.json"
    [[ -f "$f" ]] || continue
    jq -r --arg n "$n" --arg r "$(rate "$n")" \
        '[$n, .messages_in, (.avg_body_bytes|floor), ((.drain_rate // 0)|floor), ($r|tonumber|floor),
          ((.agent_cpu_ms_per_message // 0)*1000|floor/1000), ((.agent.peak_rss_mb // 0)*10|floor/10),
          .missing_records, .duplicate_records, .foreign_out] | @tsv' "$f" |
        awk -F'\t' '{printf "%-16s %9s %7s %10s %11s %10s %9s %9s %6s %8s\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10}'
done
ratio() {
    local q
    q="$(quotient "$1" "$2")"
    if [[ -n "$q" ]]; then printf '%-40s %8s\n' "$1/$2 (complete/s)" "$q"; fi
}
# Where each agent's CPU went: the "agent threads" row of loadgen's report.
for n in ceilo ceilometer; do
    f="$OUT/$n.txt"
    [[ -f "$f" ]] || continue
    grep -m1 '^ *agent threads  ' "$f" | sed "s/^ *agent threads  /$n CPU by thread: /" || true
done
echo
ratio ceilo limit-ack
ratio ceilo limit-republish
ratio ceilo ceilometer
ratio limit-republish limit-ack
ratio limit-ack limit-raw
for n in ceilo ceilometer; do
    f="$OUT/$n.json"
    if [[ -f "$f" ]] && [[ "$(jq '.missing_records + .duplicate_records' "$f")" != 0 ]]; then
        echo "$n: output differs from Ceilometer's: missing $(jq -c .missing_by_meter "$f")," \
            "unexpected $(jq -c .unexpected_by_meter "$f") (see $f)"
    fi
done
if [[ "$REPEAT" != 1 ]]; then
    echo
    echo "per round (complete/s; the table above is the last round):"
    for pair in "ceilo limit-ack" "ceilo limit-republish" "ceilo ceilometer" "limit-ack limit-raw"; do
        set -- $pair
        ratios=()
        for r in $(seq 1 "$REPEAT"); do
            q="$(quotient "$1" "$2" ".round$r")"
            if [[ -n "$q" ]]; then ratios+=("$q"); fi
        done
        [[ ${#ratios[@]} -gt 0 ]] || continue
        median="$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')"
        printf '%-40s %s   median %s\n' "$1/$2" "${ratios[*]}" "$median"
    done
fi
