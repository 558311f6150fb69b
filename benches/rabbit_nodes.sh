# benches/rabbit_nodes.sh — RabbitMQ nodes of a bench's own, beside the machine's broker (which
# they never touch). Sourced by cluster.sh and per_core.sh; needs NODES (a directory) and
# BASE_PORT. Node k is `ceilo-bench-<k>@localhost` on AMQP port BASE_PORT+k and distribution
# port BASE_PORT+100+k, with data and logs under $NODES/n<k>, the rabbitmq user's Erlang cookie
# and no plugins. Run as root (or as the rabbitmq user).

RABBIT=/usr/lib/rabbitmq/bin
as_rabbitmq() {
    if [[ "$(id -u)" == 0 ]]; then runuser -u rabbitmq -- env HOME=/var/lib/rabbitmq "$@"; else env HOME=/var/lib/rabbitmq "$@"; fi
}
ctl() { as_rabbitmq "$RABBIT/rabbitmqctl" -n "ceilo-bench-$1@localhost" "${@:2}"; }
node_pid() { cat "$NODES/n$1/pid" 2>/dev/null || true; }

stop_nodes() { # K...
    local k pid
    for k in "$@"; do
        pid="$(node_pid "$k")"
        [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null || true
    done
}

start_nodes() { # K... -> each node started and answering
    local k d
    for k in "$@"; do
        d="$NODES/n$k"
        rm -rf "$d" && mkdir -p "$d/log"
        printf 'listeners.tcp.local = 127.0.0.1:%s\nloopback_users = none\n' "$((BASE_PORT + k))" > "$d/rabbitmq.conf"
        echo '[].' > "$d/enabled_plugins"
        [[ "$(id -u)" == 0 ]] && chown -R rabbitmq:rabbitmq "$d"
        as_rabbitmq RABBITMQ_NODENAME="ceilo-bench-$k@localhost" RABBITMQ_NODE_PORT="$((BASE_PORT + k))" \
            RABBITMQ_DIST_PORT="$((BASE_PORT + 100 + k))" RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" \
            RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" RABBITMQ_MNESIA_BASE="$d/mnesia" \
            RABBITMQ_LOG_BASE="$d/log" RABBITMQ_PID_FILE="$d/pid" "$RABBIT/rabbitmq-server" > "$d/log/console.log" 2>&1 &
    done
    for k in "$@"; do
        # The CLI cannot reach a node before its distribution is up: retry until it answers.
        for _ in $(seq 60); do
            ctl "$k" await_startup > /dev/null 2>&1 && break
            sleep 2
        done
        ctl "$k" await_startup > /dev/null
    done
}
