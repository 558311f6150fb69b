#!/usr/bin/env python3
"""What Ceilometer 27's dynamic pollsters make of API responses, offline.

  pollster_oracle.py CASES.jsonl > EXPECTED.jsonl

CASES.jsonl holds `{"id", "definitions": <pollsters.d YAML text>, "response": <body text>}` per
line. Each definition is loaded as the polling agent loads pollsters.d (`DynamicPollster`), its
request answered with the body (no network: the gatherer's request is replaced, and a next page
is never fetched), and polled for one resource. Out comes, per definition, `{"id", "name",
"samples", "error"}`: the samples' `as_dict()` without `timestamp` and `id` (the poll's time and
a fresh uuid1), or the exception Ceilometer's polling manager would log for that poll (`error`,
samples made before it dropped, as a batch the manager had not sent yet).
Run with the Ceilometer venv's Python (`/opt/ceilometer-venv/bin/python`).
"""
import json
import logging
import sys
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)

import yaml  # noqa: E402

from ceilometer import service  # noqa: E402
from ceilometer.polling import dynamic_pollster  # noqa: E402


class Response:
    def __init__(self, text):
        self.text = text


class Manager:
    _keystone = None


def answer(text):
    def request(definitions=None, **kwargs):
        return Response(text), "http://api/"
    return request


def main():
    conf = service.prepare_service([], [])
    for line in open(sys.argv[1]):
        case = json.loads(line)
        try:
            definitions = yaml.safe_load(case["definitions"])
        except yaml.YAMLError as e:
            print(json.dumps({"id": case["id"], "name": None, "samples": [], "error": f"YAML: {e}"}))
            continue
        for d in definitions if isinstance(definitions, list) else [definitions]:
            out = {"id": case["id"], "name": d.get("name") if isinstance(d, dict) else None,
                   "samples": [], "error": None}
            try:
                pollster = dynamic_pollster.DynamicPollster(d, conf)
                gatherer = pollster.definitions.sample_gatherer
                gatherer._internal_execute_request_get_samples = answer(case["response"])
                gatherer.get_url_to_next_sample = lambda resp, definitions: None
                for s in pollster.get_samples(Manager(), {}, ["http://api/"]):
                    if s is None:
                        continue
                    d_ = s.as_dict()
                    d_.pop("timestamp"), d_.pop("id")
                    out["samples"].append(d_)
            except Exception as e:  # noqa: BLE001 - what the polling manager logs
                out["error"] = f"{type(e).__name__}: {e}"
                out["samples"] = []
            print(json.dumps(out, default=repr))


if __name__ == "__main__":
    main()
