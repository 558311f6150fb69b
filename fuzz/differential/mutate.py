#!/usr/bin/env python3
"""Notifications for a differential run: the corpus' bodies, each mutated a little.

  mutate.py CORPUS.jsonl COUNT SEED > BODIES.jsonl

Each output line is `{"id": "<case>~<n>", "body": <AMQP body>}`: a corpus case's inner message
with one to three mutations — a value anywhere in it replaced by one of another type or shape
(null, bools, big and negative numbers, numeric and date-like strings, long and non-ASCII
text, lists, dicts), a key removed, a list emptied or grown, the event type or the priority
taken from another case — and sent in the oslo 2.0 envelope or, now and then, bare (1.0 form).
The same seed gives the same bodies.
"""
import copy
import json
import random
import sys

VALUES = [
    None, True, False, 0, 1, -1, 7, 2**31, 2**63 - 1, 2**63, 2**64 + 1, -2**63 - 1,
    0.0, -0.0, 1.5, 2.0, 1e-07, 1e16, 1e300, "", " ", "0", "15", " 7 ", "2.0", "1e5", "1_000",
    "-3", "abc", "True", "None", "null", "2025-03-14 09:01:23", "2025-03-14T09:01:23.5Z",
    "2025-03-14T09:01:23+05:30", "2025-13-40", "20250314T090123", "café ☃ \U0001F600",
    "2025-03-14", "2025-03-14T09", "2025-03-14T0901", "2025-03-14 09:01:23.123456789",
    "2025-03-14T09:01:23,5", "20250314", "2025-W11-5", "2025-073", "2025-03-14T09:01:23-0500",
    "2025-03-14T09:01:23+05", "2025-03-14t09:01:23z", " 2025-03-14", "2025-03-14T24:00:00",
    "2025-02-29", "2024-02-29T23:59:60", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    "2025-03-14T09:01:23.5+14:00", "2025-03-14T09:01:23Z\n", "2025-3-4", "2025-03-14T9:1:2",
    "a'b\"c\\d\n\t\x01", "x" * 300, [], [1, 2], ["a", None], [{"k": "v"}], {}, {"a": 1},
    {"nested": {"deep": [1, {"x": None}]}},
]
PRIORITIES = ["info", "INFO", "sample", "error", "warn", "audit", "critical", "debug", "Info"]


def paths(value, prefix=()):
    """Every path into the value, the value itself included."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, prefix + (i,))


def at(value, path):
    for p in path:
        value = value[p]
    return value


def mutate(rng, msg, others):
    choice = rng.random()
    if choice < 0.1:
        msg["event_type"] = rng.choice(others)["event_type"]
        return
    if choice < 0.15:
        msg["priority"] = rng.choice(PRIORITIES)
        return
    mutate_value(rng, msg)


def mutate_value(rng, msg):
    """One change at a random place inside `msg` (a non-empty dict or list)."""
    candidates = [p for p in paths(msg) if p]
    path = rng.choice(candidates)
    parent, key = at(msg, path[:-1]), path[-1]
    kind = rng.random()
    if kind < 0.15 and isinstance(parent, dict):
        del parent[key]
    elif kind < 0.25 and isinstance(parent[key], list):
        items = parent[key]
        parent[key] = [] if items and rng.random() < 0.5 else items + copy.deepcopy(items[:1]) * 2
    elif kind < 0.3 and isinstance(parent[key], dict):
        parent[key]["extra_" + str(rng.randint(0, 9))] = copy.deepcopy(rng.choice(VALUES))
    else:
        parent[key] = copy.deepcopy(rng.choice(VALUES))


def main():
    cases = [json.loads(line) for line in open(sys.argv[1])]
    count, rng = int(sys.argv[2]), random.Random(int(sys.argv[3]))
    messages = [(c["id"], json.loads(c["wire"]["oslo.message"])) for c in cases]
    for n in range(count):
        case_id, message = rng.choice(messages)
        msg = copy.deepcopy(message)
        for _ in range(rng.randint(1, 3)):
            mutate(rng, msg, [m for _, m in messages])
        if rng.random() < 0.1:
            body = msg
        else:
            body = {"oslo.version": "2.0", "oslo.message": json.dumps(msg)}
        print(json.dumps({"id": f"{case_id}~{n}", "body": body}))


if __name__ == "__main__":
    main()
