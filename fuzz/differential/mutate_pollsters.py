#!/usr/bin/env python3
"""Dynamic pollster cases for a differential run: fuzz/corpus/pollsters' definitions and
responses, mutated.

  mutate_pollsters.py POLLSTERS_DIR COUNT SEED > CASES.jsonl

Each case is one definition (`{"id", "definitions": <YAML>, "response": <text>}`) taken from a
seed file with its response: the response gets one to three of mutate.py's value mutations, and
half the definitions one option changed (value operations, skips, value mapping and default,
metadata fields and mapping, id attributes, response entries key, handlers).
Run with the Ceilometer venv's Python (PyYAML).
"""
import copy
import glob
import json
import os
import random
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mutate import mutate_value  # noqa: E402

# The operations ceilo evaluates (others are refused when a definition loads: docs/fuzzing.md).
OPERATIONS = ["value * 2", "int(value)", "float(value)", "str(value)", "value / 3", "value // 2",
              "abs(value)", "round(value)", "value + 1", "-value", "value % 3", "bool(value)",
              "10 - value", "value - 0.5", "value * -1", "value / 1e-3", "-1 - value"]
OPTIONS = {
    'skip_sample_values': lambda r: r.choice([[0], [None], ["deleted", 0], [], [1.0, "x"], [False]]),
    'value_mapping': lambda r: r.choice([{"available": 1, "in-use": 2}, {1: "one"}, {}, {"True": 1, True: 2}]),
    'default_value': lambda r: r.choice([0, -1, None, "x", 1.5]),
    'metadata_fields': lambda r: r.choice([["name"], ["status", "id"], ["missing"], ["usage.bytes"], []]),
    'metadata_mapping': lambda r: r.choice([{"name": "display_name"}, {"id": "name"}, {}]),
    'preserve_mapped_metadata': lambda r: r.choice([True, False]),
    'user_id_attribute': lambda r: r.choice(["user_id", "id", "missing", "tenant.id", "user_id | str(value)"]),
    'project_id_attribute': lambda r: r.choice(["project_id", "tenant.id", "id | value"]),
    'resource_id_attribute': lambda r: r.choice(["id", "name", "id | str(value)"]),
    'response_entries_key': lambda r: r.choice(["volumes", "projects", "missing", "volumes.0"]),
    'response_handlers': lambda r: r.choice([["json"], ["text"], ["json", "text"], ["text", "json"]]),
}


XML_EDITS = [("<status>ok</status>", ""), ("<used>1024</used>", "<used/>"), ("<used>1024</used>", "<used>x</used>"),
             ('<disk id="d2"', '<disk id="d2" extra="&#65;"'), ("</stats>", "<disk id='d4'><used>1</used></disk></stats>"),
             ("<owner>p1</owner>", "<owner>p1</owner><owner>p2</owner>"), ("note", ""), ("</disk>", "</disk>junk"),
             ("<stats", "<other/><stats"), ("sd&amp;b", "sd&nope;b"), ("1024", " 10\r\n24 "), ('<disk id="d3" name="sdc">', "<disk>"),
             ("<size>10</size>", "<size/>"), ('<host name="h2">', "<host>"),
             ("<pool><kind>hdd</kind><size>1</size></pool>", "")]


def mutate_xml(rng, text):
    """One to three textual edits of an XML response (elements dropped, repeated, emptied,
    broken; entities, attributes, text)."""
    for _ in range(rng.randint(1, 3)):
        old, new = rng.choice(XML_EDITS)
        text = text.replace(old, new, 1)
    if rng.random() < 0.2:
        # Only the first disk: one element where the others made a list.
        start = text.find("<disk")
        end = text.find("</disk>") + len("</disk>")
        if 0 <= start < end:
            text = text[:end] + "</stats>" if text.startswith("<stats") else text[:start] + text[start:end] + "</stats>"
    return text


def seeds(directory):
    for path in sorted(glob.glob(os.path.join(directory, "*.txt"))):
        text = open(path).read()
        if "%%%\n" not in text:
            continue
        definitions, response = text.split("%%%\n", 1)
        parsed = yaml.safe_load(definitions)
        if not isinstance(parsed, list):
            continue
        for d in parsed:
            d.pop("next_sample_url_attribute", None)
            yield os.path.basename(path)[:-4], d, response.rstrip("\n")


def main():
    cases = list(seeds(sys.argv[1]))
    count, rng = int(sys.argv[2]), random.Random(int(sys.argv[3]))
    for n in range(count):
        name, definition, response = rng.choice(cases)
        definition = copy.deepcopy(definition)
        if rng.random() < 0.5:
            option = rng.choice(list(OPTIONS))
            definition[option] = OPTIONS[option](rng)
        if rng.random() < 0.3 and "{" not in definition["name"]:
            attribute = definition["value_attribute"].split("|")[0].strip()
            definition["value_attribute"] = attribute + " | " + rng.choice(OPERATIONS)
        try:
            body = json.loads(response)
            for _ in range(rng.randint(0, 3)):
                if isinstance(body, (dict, list)) and body:
                    mutate_value(rng, body)
            response = json.dumps(body)
        except ValueError:
            if response.lstrip().startswith("<"):
                response = mutate_xml(rng, response)
            else:
                response = rng.choice([response, response + " 7", "", "abc", "1.5"])
        print(json.dumps({"id": f"{name}~{n}", "definitions": yaml.safe_dump([definition]),
                          "response": response}))


if __name__ == "__main__":
    main()
