#!/usr/bin/env python3
"""Write tests/fixtures/coordination/tooz.json: what tooz itself answers, for ceilo's unit tests
of src/coordination (hash ring owners, ring points, capability encoding).

Run with a Python that has tooz and oslo.serialization (the Ceilometer 27 venv has both):
    VENV/bin/python scripts/tooz-fixture.py > tests/fixtures/coordination/tooz.json
"""
import hashlib
import json
import sys

from tooz import hashring
from tooz import utils


def main():
    cases = []
    member_sets = [
        ["a"],
        ["agent-1", "agent-2"],
        ["5a7d1f6e-3c1b-4b8e-9f0a-2d6c8e4b1a90", "c0ffee00-1111-4222-8333-444455556666",
         "0b9e2f4a-7d6c-4e5b-8a3f-1c2d3e4f5a6b"],
        [f"member-{i}" for i in range(7)],
    ]
    objects = [f"http://127.0.0.1:8000/r/{i}" for i in range(60)]
    objects += ["", "ü-unicode", "1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b"]
    for members in member_sets:
        for weights in (None, "varied"):
            ring = hashring.HashRing([])
            w = {}
            for i, m in enumerate(members):
                w[m] = 1 if weights is None else (i % 3) + 1
                ring.add_node(m.encode(), w[m])
            owners = {}
            for obj in objects:
                (node,) = ring.get_nodes(obj.encode("utf8"))
                owners[obj] = node.decode()
            cases.append({"members": w, "owners": owners})
    # The first ring points of one node, as tooz computes them (md5 chained over the name).
    ring = hashring.HashRing([])
    ring.add_node(b"agent-1")
    points = sorted(str(p) for p in ring._partitions)
    ring_points = {"node": "agent-1", "count": len(ring), "points": points}
    # How tooz's Redis driver encodes capabilities (msgpack through oslo.serialization).
    caps = {
        "weight_1": utils.dumps({"weight": 1}).hex(),
        "weight_300": utils.dumps({"weight": 300}).hex(),
        "none": utils.dumps(None).hex(),
    }
    json.dump({"cases": cases, "ring_points": ring_points, "capabilities": caps},
              sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
