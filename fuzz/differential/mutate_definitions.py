#!/usr/bin/env python3
"""Definitions for a differential run: a shipped file with some definitions mutated.

  mutate_definitions.py meters METERS.yaml SEED OUT.yaml
  mutate_definitions.py events EVENT_DEFINITIONS.yaml SEED OUT.yaml

Meters: about 40 % of the definitions get one or two changes: a field set to another
definition's jsonpath or one of a few odd ones (wildcards, recursive descent, filters,
arithmetic), to a constant of any type, or to a `fields:` list; `lookup`, `metadata` or
`user_metadata` added; a field removed; another `event_type` or `type`. Events: about 20 % of
the traits get another field or a list of two, another type (or none), or a plugin (split,
bitfield, timedelta, with and without parameters); a tenth of the definitions get one trait more.
Run with the Ceilometer venv's Python (PyYAML).
"""
import copy
import random
import sys

import yaml

kind, source, seed, target = sys.argv[1:5]
rng = random.Random(int(seed))
CONSTANTS = [1, 0, -2.5, "1", "", None, True, "gauge", "B", "x.y", [1, 2], {"a": 1}]
METER_FIELDS = ['name', 'volume', 'resource_id', 'user_id', 'project_id', 'unit', 'type', 'timestamp']
ODD_PATHS = ['payload.*', 'payload..id', 'payload.metrics[*].value', 'payload.nonexistent',
             'ctxt.user', 'metadata.timestamp', 'publisher_id', 'payload.fixed_ips[*].address',
             'payload.state', 'payload.image_meta.base_image_ref',
             "payload.metrics[?(@.name='cpu.frequency')].value", 'payload.size + 1', 'payload']
TRAIT_TYPES = ['text', 'int', 'float', 'datetime', 'none']
PLUGINS = [{'name': 'split', 'parameters': {'segment': 0, 'max_split': 1, 'separator': '.'}},
           {'name': 'split', 'parameters': {'segment': -1, 'separator': '-'}},
           {'name': 'bitfield', 'parameters': {'initial_bitfield': 0, 'flags': [
               {'path': 'payload.state', 'bit': 0, 'value': 'active'}]}},
           {'name': 'timedelta'}, 'split', 'bitfield']


def mutate_meter(d, paths):
    r, field = rng.random(), rng.choice(METER_FIELDS)
    if field == 'name' and r >= 0.35:
        # A dict or list name is unhashable: Ceilometer's meter endpoint fails to load at all.
        d[field] = rng.choice([1, "x.y", True, None, "$.payload.state"])
    elif r < 0.35:
        d[field] = rng.choice(paths)
    elif r < 0.5:
        d[field] = copy.deepcopy(rng.choice(CONSTANTS))
    elif r < 0.6:
        d[field] = {'fields': [rng.choice(paths), rng.choice(paths)]}
    elif r < 0.7:
        d['lookup'] = rng.choice([['name', 'volume'], ['name', 'unit', 'volume'], 'volume', ['resource_id']])
    elif r < 0.8:
        d.setdefault('metadata', {})['m%d' % rng.randint(0, 9)] = rng.choice(paths + [1, None, ''])
    elif r < 0.85:
        d['user_metadata'] = rng.choice(['$.payload.metadata', '$.payload', '$.payload.image_meta'])
    elif r < 0.9:
        d.pop(rng.choice(['metadata', 'lookup', 'resource_id', 'user_id', 'project_id', 'timestamp']), None)
    elif r < 0.95:
        d['event_type'] = rng.choice([['compute.instance.*', 'volume.*'], 'compute.instance.create.(end|start)',
                                      '.*', 'image\\..*'])
    else:
        d['type'] = rng.choice(['gauge', 'delta', 'cumulative'])


def mutate_trait(t, fields):
    r = rng.random()
    if r < 0.35:
        t['fields'] = rng.choice(fields)
    elif r < 0.5:
        t['fields'] = [rng.choice(fields), rng.choice(fields)]
    elif r < 0.75:
        t['type'] = rng.choice(TRAIT_TYPES)
    elif r < 0.9:
        t['plugin'] = copy.deepcopy(rng.choice(PLUGINS))
        if isinstance(t['plugin'], dict) and t['plugin']['name'] == 'timedelta':
            t['fields'] = [rng.choice(fields), rng.choice(fields)]
    else:
        t.pop('type', None)


def meters(src):
    defs = src['metric']
    paths = sorted({v for d in defs for v in d.values() if isinstance(v, str) and v.startswith('$')})
    paths += ['$.' + p for p in ODD_PATHS] + ['$[payload][tenant_id]', '$.payload.`len`']
    out = []
    for d in copy.deepcopy(defs):
        if rng.random() < 0.4:
            for _ in range(rng.randint(1, 2)):
                mutate_meter(d, paths)
        out.append(d)
    return {'metric': out}


def events(src):
    traits = [t for d in src for t in d.get('traits', {}).values()]
    fields = sorted({f for t in traits for f in ([t['fields']] if isinstance(t['fields'], str) else t['fields'])})
    fields += ODD_PATHS + ['$.' + p for p in ODD_PATHS[:3]]
    out = copy.deepcopy(src)
    for d in out:
        for t in d.get('traits', {}).values():
            if rng.random() < 0.2:
                mutate_trait(t, fields)
        if rng.random() < 0.1:
            d.setdefault('traits', {})['extra_%d' % rng.randint(0, 9)] = {
                'fields': rng.choice(fields), 'type': rng.choice(TRAIT_TYPES)}
    return out


mutated = {'meters': meters, 'events': events}[kind](yaml.safe_load(open(source)))
yaml.safe_dump(mutated, open(target, 'w'), sort_keys=False, allow_unicode=True)
