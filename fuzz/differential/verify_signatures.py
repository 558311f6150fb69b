#!/usr/bin/env python3
"""Checks every signature `ceilo convert` wrote with Ceilometer 27's own `compute_signature`.

  verify_signatures.py CONVERTED.jsonl [SECRET]

CONVERTED.jsonl is `ceilo convert`'s output (signed meter messages and event messages). Each
message is read back as Ceilometer would hold it — an event's traits as the tuples
`Trait.serialize()` makes — and signed again with the secret (default Ceilometer's). Prints the
mismatches and a count; exit 1 when any.
Run with the Ceilometer venv's Python (`/opt/ceilometer-venv/bin/python`).
"""
import json
import sys
import warnings

warnings.filterwarnings("ignore")

from ceilometer.publisher import utils  # noqa: E402

secret = sys.argv[2] if len(sys.argv) > 2 else "change this for valid signing"
checked, wrong = 0, 0
for number, line in enumerate(open(sys.argv[1]), 1):
    out = json.loads(line)
    messages = [("sample", m) for m in out.get("samples", [])]
    for e in out.get("events", []):
        e = dict(e, traits=[tuple(t) for t in e["traits"]])
        messages.append(("event", e))
    for kind, m in messages:
        checked += 1
        want = utils.compute_signature(m, secret)
        if want != m.get("message_signature"):
            wrong += 1
            print(f"line {number}: {kind} {m.get('counter_name') or m.get('event_type')}: "
                  f"{m.get('message_signature')} != Ceilometer's {want}")
print(f"{checked} signatures checked, {wrong} differ")
sys.exit(1 if wrong else 0)
