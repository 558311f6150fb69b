#!/usr/bin/env python3
"""Writes dashboards/ceilo-agents.json, the Grafana dashboard for a fleet of ceilo agents.

The JSON is committed and importable as is (Dashboards > New > Import, pick a Prometheus data
source). Edit this script rather than the JSON, then run it: panels are laid out, numbered and
given a data source here so that hand edits cannot leave overlapping or unnumbered panels.
tests/health_catalogue.rs checks that every ceilo_* name used exists and that this script
still writes exactly the committed JSON.
"""

import json
import pathlib
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'job=~"$job",instance=~"$instance"'
RI = "$__rate_interval"

panels = []
next_id = 1
y = 0
x = 0
row_height = 0


def _id():
    global next_id
    next_id += 1
    return next_id - 1


def row(title):
    global y, x, row_height
    if x:
        y += row_height
    x, row_height = 0, 0
    panels.append({
        "type": "row", "title": title, "collapsed": False, "id": _id(),
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": [],
    })
    y += 1


def _place(w, h):
    global y, x, row_height
    if x + w > 24:
        y += row_height
        x, row_height = 0, 0
    pos = {"h": h, "w": w, "x": x, "y": y}
    x += w
    row_height = max(row_height, h)
    return pos


def _targets(queries):
    return [
        {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i), "range": True}
        for i, (expr, legend) in enumerate(queries)
    ]


def timeseries(title, description, queries, unit="short", w=8, h=8, stack=False):
    panels.append({
        "type": "timeseries", "title": title, "description": description, "id": _id(),
        "datasource": DS, "gridPos": _place(w, h), "targets": _targets(queries),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "custom": {
                    "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                    "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                },
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    })


def stat(title, description, expr, unit="short", w=4, h=4, thresholds=None):
    steps = thresholds or [{"color": "green", "value": None}]
    panels.append({
        "type": "stat", "title": title, "description": description, "id": _id(),
        "datasource": DS, "gridPos": _place(w, h), "targets": _targets([(expr, "")]),
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value", "graphMode": "area", "justifyMode": "auto", "textMode": "auto",
            "orientation": "auto",
        },
    })


def rate(name, extra="", by=""):
    sel = SEL + ("," + extra if extra else "")
    inner = f"rate({name}{{{sel}}}[{RI}])"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def quantile(q, name, by="", extra=""):
    sel = SEL + ("," + extra if extra else "")
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({name}_bucket{{{sel}}}[{RI}])))"


RED = [{"color": "green", "value": None}, {"color": "red", "value": 1}]

# --- Overview -------------------------------------------------------------------------------
row("Overview")
stat("Agents up", "Targets Prometheus scrapes successfully.", f"sum(up{{{SEL}}})")
stat("Agents ready", "Agents whose /readyz answers 200 (consuming, or polling on schedule).",
     f"sum(ceilo_ready{{{SEL}}})")
stat("Notifications in /s", "All agents together.", rate("ceilo_notifications_received_total"), "ops")
stat("Published out /s", "Samples and events confirmed by publishers.",
     f'{rate("ceilo_samples_published_total")} + {rate("ceilo_events_published_total")}', "ops")
stat("Delay p99", "Notification timestamp to confirmed publish, worst item per batch.",
     quantile(0.99, "ceilo_end_to_end_delay_seconds"), "s",
     thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 10},
                 {"color": "red", "value": 60}])
stat("Actor restarts (1h)", "Supervisor restarts in the last hour; loops mean a crash on every message.",
     f"sum(increase(ceilo_actor_restarts_total{{{SEL}}}[1h]))", thresholds=RED)
timeseries("Throughput in and out", "In: notifications received and samples polled. Out: samples and "
           "events confirmed by publishers. Out below in for long means a backlog is building.", [
               (rate("ceilo_notifications_received_total"), "notifications in"),
               (rate("ceilo_samples_produced_total", 'origin="polling"'), "samples polled"),
               (rate("ceilo_samples_published_total"), "samples out"),
               (rate("ceilo_events_published_total"), "events out"),
           ], "ops")
timeseries("Backlog", "Ready messages in the broker queues (max over agents: they see the same queue) "
           "and deliveries held unacked by agents.", [
               (f"max by (queue) (ceilo_amqp_queue_messages{{{SEL}}})", "queued {{queue}}"),
               (f"sum(ceilo_amqp_unacked_deliveries{{{SEL}}})", "unacked (all agents)"),
           ])
timeseries("End-to-end delay", "Notification (or poll) timestamp to publisher confirm.", [
    (quantile(0.5, "ceilo_end_to_end_delay_seconds"), "p50"),
    (quantile(0.99, "ceilo_end_to_end_delay_seconds"), "p99"),
], "s")
timeseries("Errors", "Everything that is not the happy path, per second.", [
    (rate("ceilo_notifications_rejected_total", by="reason"), "rejected {{reason}}"),
    (rate("ceilo_notifications_dead_lettered_total"), "dead-lettered"),
    (rate("ceilo_samples_publish_failed_total"), "samples publish failed"),
    (rate("ceilo_events_publish_failed_total"), "events publish failed"),
    (rate("ceilo_polls_failed_total"), "polls failed"),
], "ops")
timeseries("Restarts and reconnects", "Actor restarts and AMQP reconnections per interval.", [
    (f"sum by (actor) (increase(ceilo_actor_restarts_total{{{SEL}}}[{RI}]))", "restart {{actor}}"),
    (f"sum(increase(ceilo_amqp_reconnects_total{{{SEL}}}[{RI}]))", "AMQP reconnects"),
])
timeseries("Received per agent", "Spread of the load over competing consumers.", [
    (rate("ceilo_notifications_received_total", by="instance"), "{{instance}}"),
], "ops")

# --- Notifications --------------------------------------------------------------------------
row("Notifications (listener)")
timeseries("Received, converted, acked", "Per queue.", [
    (rate("ceilo_notifications_received_total", by="queue"), "received {{queue}}"),
    (rate("ceilo_notifications_converted_total", by="queue"), "converted {{queue}}"),
    (rate("ceilo_notifications_acked_total", by="queue"), "acked {{queue}}"),
], "ops")
timeseries("Rejected and dead-lettered", "envelope: not an oslo notification; endpoint: a definition "
           "raised on it.", [
               (rate("ceilo_notifications_rejected_total", by="queue, reason"), "rejected {{queue}} {{reason}}"),
               (rate("ceilo_notifications_dead_lettered_total", by="queue, reason"),
                "dead-lettered {{queue}} {{reason}}"),
           ], "ops")
timeseries("Unacked deliveries", "Bounded by prefetch; pinned at prefetch means publishers are the limit.", [
    (f"sum by (instance) (ceilo_amqp_unacked_deliveries{{{SEL}}})", "{{instance}}"),
])

# --- Conversion -----------------------------------------------------------------------------
row("Conversion")
timeseries("Batch conversion time", "Decode + convert of one delivery batch.", [
    (quantile(0.5, "ceilo_conversion_duration_seconds"), "p50"),
    (quantile(0.99, "ceilo_conversion_duration_seconds"), "p99"),
], "s")
timeseries("Conversion time per notification", "Average over the interval.", [
    (f"sum(rate(ceilo_conversion_duration_seconds_sum{{{SEL}}}[{RI}])) / "
     f"sum(rate(ceilo_notifications_received_total{{{SEL}}}[{RI}]))", "mean"),
], "s")
timeseries("Produced", "Samples by origin and events.", [
    (rate("ceilo_samples_produced_total", by="origin"), "samples {{origin}}"),
    (rate("ceilo_events_produced_total"), "events"),
], "ops")
timeseries("Batch sizes (p50)", "Items per batch at each stage.", [
    (quantile(0.5, "ceilo_batch_size", by="stage"), "{{stage}}"),
])

# --- Pipeline and publishing ----------------------------------------------------------------
row("Pipeline and publishers")
timeseries("Published", "Confirmed by each publisher.", [
    (rate("ceilo_samples_published_total", by="sink, publisher"), "samples {{sink}} {{publisher}}"),
    (rate("ceilo_events_published_total", by="sink, publisher"), "events {{sink}} {{publisher}}"),
], "ops")
timeseries("Publish failures", "Items in failed attempts, retries included.", [
    (rate("ceilo_samples_publish_failed_total", by="sink, publisher"), "samples {{sink}} {{publisher}}"),
    (rate("ceilo_events_publish_failed_total", by="sink, publisher"), "events {{sink}} {{publisher}}"),
], "ops")
timeseries("Confirm latency p99", "Batch handed over to confirm.", [
    (quantile(0.99, "ceilo_publish_confirm_duration_seconds", by="sink, publisher"), "{{sink}} {{publisher}}"),
], "s")
timeseries("Filtered", "Dropped by pipeline source filters or consumed by transformers.", [
    (rate("ceilo_samples_filtered_total"), "samples"),
    (rate("ceilo_events_filtered_total"), "events"),
], "ops")

# --- Polling --------------------------------------------------------------------------------
row("Polling")
timeseries("Polls run", "Per polling source.", [
    (rate("ceilo_polls_run_total", by="source"), "{{source}}"),
], "ops")
timeseries("Polls skipped and failed", "overrun: the previous cycle was still running.", [
    (rate("ceilo_polls_skipped_total", by="source, reason"), "skipped {{source}} {{reason}}"),
    (rate("ceilo_polls_failed_total", by="source, pollster"), "failed {{source}} {{pollster}}"),
], "ops")
timeseries("Poll duration p99", "One pollster run, discovery excluded.", [
    (quantile(0.99, "ceilo_poll_duration_seconds", by="pollster"), "{{pollster}}"),
], "s")
timeseries("Coordination group members", "Live members of each partitioning group (ceilo and "
           "Ceilometer agents alike), as each agent saw them at its last poll.", [
    (f"max by (group) (ceilo_coordination_group_members{{{SEL}}})", "{{group}}"),
])
timeseries("Resources owned", "Resources the hash ring gave each agent; summed over a group's "
           "agents it equals what discovery found (the found series).", [
    (f"ceilo_coordination_resources_owned{{{SEL}}}", "{{instance}} {{group}}"),
    (f"max by (group) (ceilo_coordination_resources{{{SEL}}})", "found {{group}}"),
])
timeseries("Coordination errors", "Failed Redis calls: heartbeat (the others drop this agent "
           "after the membership timeout), join, members (that poll skips the group).", [
    (rate("ceilo_coordination_errors_total", by="op"), "{{op}}"),
], "ops")

# --- Actors and AMQP ------------------------------------------------------------------------
row("Actors and AMQP")
timeseries("Mailbox fill", "Depth over capacity. Senders wait for each batch to be taken, so this "
           "stays low; a depth held above 0 (next panel) marks the slow stage.", [
               (f"max by (actor) (ceilo_actor_mailbox_depth{{{SEL}}} / ceilo_actor_mailbox_capacity{{{SEL}}})",
                "{{actor}}"),
           ], "percentunit")
timeseries("Mailbox depth", "Messages waiting (each carries a batch). Held above 0: that actor "
           "is the slow stage (publishers: the publish target).", [
    (f"sum by (actor) (ceilo_actor_mailbox_depth{{{SEL}}})", "{{actor}}"),
])
timeseries("AMQP connections", "1 = open.", [
    (f"ceilo_amqp_connection_up{{{SEL}}}", "{{instance}} {{connection}}"),
])
timeseries("Publishing blocked by the broker", "1 while RabbitMQ blocks the connection's "
           "publishes (its memory or disk alarm): the agent waits, nothing is dropped.", [
    (f"ceilo_amqp_connection_blocked{{{SEL}}}", "{{instance}} {{connection}}"),
])
timeseries("Connections per broker node", "Where the agents' AMQP connections are in a RabbitMQ "
           "cluster: by node of the transport URL. A node at 0 that had connections was lost or "
           "restarted; its clients moved to the others.", [
    (f"sum by (node) (ceilo_amqp_node_connections{{{SEL}}})", "{{node}}"),
])
timeseries("Failovers", "AMQP connections re-established on another node than before, per agent "
           "and interval.", [
    (f"sum by (instance) (increase(ceilo_amqp_failovers_total{{{SEL}}}[{RI}]))", "{{instance}}"),
])

# --- Process --------------------------------------------------------------------------------
row("Process")
timeseries("CPU", "Cores used (1.0 = one core busy).", [
    (f"rate(ceilo_process_cpu_seconds_total{{{SEL}}}[{RI}])", "{{instance}}"),
])
timeseries("Resident memory", "RSS.", [
    (f"ceilo_process_resident_memory_bytes{{{SEL}}}", "{{instance}}"),
], "bytes")
timeseries("Threads and open files", "", [
    (f"ceilo_process_threads{{{SEL}}}", "threads {{instance}}"),
    (f"ceilo_process_open_fds{{{SEL}}}", "fds {{instance}}"),
])

dashboard = {
    "__inputs": [],
    "__requires": [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "9.0.0"},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
        {"type": "panel", "id": "stat", "name": "Stat", "version": ""},
    ],
    "annotations": {"list": [{
        "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
        "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
    }]},
    "description": "ceilo notification and polling agents: throughput, backlog, delay, errors, restarts.",
    "editable": True,
    "graphTooltip": 1,
    "id": None,
    "links": [],
    "panels": panels,
    "refresh": "30s",
    "schemaVersion": 39,
    "tags": ["ceilo", "openstack", "telemetry"],
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []},
        {"name": "job", "label": "Job", "type": "query", "datasource": DS,
         "definition": "label_values(ceilo_build_info, job)",
         "query": {"query": "label_values(ceilo_build_info, job)", "refId": "job"},
         "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "hide": 0,
         "options": [], "sort": 1, "regex": ""},
        {"name": "instance", "label": "Agent", "type": "query", "datasource": DS,
         "definition": 'label_values(ceilo_build_info{job=~"$job"}, instance)',
         "query": {"query": 'label_values(ceilo_build_info{job=~"$job"}, instance)', "refId": "instance"},
         "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "hide": 0,
         "options": [], "sort": 1, "regex": ""},
    ]},
    "time": {"from": "now-1h", "to": "now"},
    "timepicker": {},
    "timezone": "utc",
    "title": "ceilo agents",
    "uid": "ceilo-agents",
    "version": 1,
    "weekStart": "",
}

# An explicit output path lets the tests check that the committed JSON is up to date.
out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).with_name("ceilo-agents.json")
out.write_text(json.dumps(dashboard, indent=2) + "\n")
print(f"wrote {out} ({len(panels)} panels)")
