#!/usr/bin/env python3
"""Build loadgen's message templates from the Ceilometer reference corpus.

Usage: make_templates.py CORPUS/public.jsonl > templates.jsonl

Each corpus case is a real notification with the samples and events that
Ceilometer 27's default pipelines made from it. A template keeps the inner
oslo message as JSON text (written exactly as oslo's jsonutils.dumps writes
it: ", " and ": " separators, ASCII only) with placeholders that loadgen fills
per message:

  @@KEY@@     the run key (run tag, sequence number, send time) in UUID shape;
              it replaces the message_id and every id that Ceilometer copies
              into a sample's resource_id, so samples and events both carry it
  @@UNIQUE@@  _unique_id, 32 hex characters
  @@REQ@@     a UUID4 for _context_request_id
  @@UUID@@    a UUID4 (message_id of each sample in a telemetry.polling batch)
  @@TS@@      the notification timestamp, "YYYY-MM-DD HH:MM:SS.ffffff"
  @@PAD@@     where padding goes: `, "notes": "xxx..."` or nothing

Only the cases that a default Ceilometer consumes, acks and turns into at
least one sample or event, and whose samples' resource ids contain an id that
can carry the key, are kept; edge and test cases are left out.
"""
import json
import re
import sys

ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
SKIP = ("edge", "misc-", "test-", "versioned", "bad", "mismatch", "dup", "empty", "noproject")


def keep(case):
    if not case["amqp"]["consumed_by_default"] or case.get("requeue") or case["log"]:
        return False
    if any(s in case["id"] for s in SKIP):
        return False
    if not case["samples"] and not case["events"]:
        return False
    return all(isinstance(s["resource_id"], str) and ID.search(s["resource_id"]) for s in case["samples"])


def family(case):
    """The --mix family: the service's exchange, but telemetry.polling and osprofiler apart."""
    if case["amqp"]["exchange"] == "ceilometer":
        return "polling"
    if case["id"].startswith("profiler"):
        return "profiler"
    return case["amqp"]["exchange"]


def template(case):
    inner = json.loads(case["wire"]["oslo.message"])
    ids = set()
    for s in case["samples"]:
        ids.update(ID.findall(s["resource_id"]))
    payload = inner["payload"]
    if isinstance(payload.get("metadata"), dict) and payload["metadata"]:
        payload["metadata"]["notes"] = "@@PADV@@"
    elif isinstance(payload, dict):
        payload["notes"] = "@@PADV@@"
    if isinstance(payload, dict) and isinstance(payload.get("samples"), list):
        for s in payload["samples"]:
            s["message_id"] = "@@UUID@@"
    inner["message_id"] = "@@KEY@@"
    inner["_unique_id"] = "@@UNIQUE@@"
    inner["timestamp"] = "@@TS@@"
    if "_context_request_id" in inner:
        inner["_context_request_id"] = "req-@@REQ@@"
    text = json.dumps(inner)
    text = text.replace(', "notes": "@@PADV@@"', "@@PAD@@")
    for i in sorted(ids, key=len, reverse=True):
        text = text.replace(i, "@@KEY@@")
    assert "@@PADV@@" not in text, case["id"]
    return {
        "name": case["id"],
        "family": family(case),
        "exchange": case["amqp"]["exchange"],
        "priority": case["priority"],
        "samples": [s["name"] for s in case["samples"]],
        "events": len(case["events"]),
        "inner": text,
    }


def main():
    for line in open(sys.argv[1], encoding="utf-8"):
        case = json.loads(line)
        if keep(case):
            print(json.dumps(template(case), sort_keys=False))


if __name__ == "__main__":
    main()
