#!/usr/bin/env python3
"""Meter definitions for a differential run: the shipped meters.yaml, some definitions mutated.

  mutate_definitions.py METERS.yaml SEED OUT.yaml

About 40 % of the definitions get one or two changes: a field set to another definition's
jsonpath or one of a few odd ones (wildcards, recursive descent, filters, arithmetic), to a
constant of any type, or to a `fields:` list; `lookup`, `metadata` or `user_metadata` added;
a field removed; another `event_type` or `type`. Run with the Ceilometer venv's Python (PyYAML).
"""
import copy
import random
import sys

import yaml

src = yaml.safe_load(open(sys.argv[1]))
rng = random.Random(int(sys.argv[2]))
defs = src['metric']
paths = sorted({v for d in defs for k, v in d.items() if isinstance(v, str) and v.startswith('$')})
CONSTS = [1, 0, -2.5, "1", "", None, True, "gauge", "B", "x.y", [1, 2], {"a": 1}]
FIELDS = ['name', 'volume', 'resource_id', 'user_id', 'project_id', 'unit', 'type', 'timestamp']
EXTRA = ['$.payload.*', '$..id', '$.payload.metrics[*].value', '$.payload.nonexistent', '$.ctxt.user',
         '$.metadata.timestamp', '$.publisher_id', '$.payload.fixed_ips[*].address', '$.payload.state',
         '$.payload.image_meta.base_image_ref', '$[payload][tenant_id]', '$.payload.size + 1',
         "$.payload.metrics[?(@.name='cpu.frequency')].value", '$.payload.`len`']
def mutate(d):
    r = rng.random()
    f = rng.choice(FIELDS)
    if f == 'name' and r >= 0.35:
        # A dict or list name is unhashable: Ceilometer's meter endpoint fails to load at all.
        d[f] = rng.choice([1, "x.y", True, None, "$.payload.state"])
    elif r < 0.35:
        d[f] = rng.choice(paths + EXTRA)
    elif r < 0.5:
        d[f] = copy.deepcopy(rng.choice(CONSTS))
    elif r < 0.6:
        d[f] = {'fields': [rng.choice(paths + EXTRA), rng.choice(paths + EXTRA)]}
    elif r < 0.7:
        d['lookup'] = rng.choice([['name', 'volume'], ['name', 'unit', 'volume'], 'volume', ['resource_id']])
    elif r < 0.8:
        d.setdefault('metadata', {})['m' + str(rng.randint(0, 9))] = rng.choice(paths + EXTRA + [1, None, ''])
    elif r < 0.85:
        d['user_metadata'] = rng.choice(['$.payload.metadata', '$.payload', '$.payload.image_meta'])
    elif r < 0.9:
        d.pop(rng.choice(['metadata', 'lookup', 'resource_id', 'user_id', 'project_id', 'timestamp']), None)
    elif r < 0.95:
        d['event_type'] = rng.choice([['compute.instance.*', 'volume.*'], 'compute.instance.create.(end|start)', '.*', 'image\\..*'])
    else:
        d['type'] = rng.choice(['gauge', 'delta', 'cumulative'])
out = []
for d in defs:
    d = copy.deepcopy(d)
    if rng.random() < 0.4:
        for _ in range(rng.randint(1, 2)):
            mutate(d)
    out.append(d)
yaml.safe_dump({'metric': out}, open(sys.argv[3], 'w'), sort_keys=False, allow_unicode=True)
