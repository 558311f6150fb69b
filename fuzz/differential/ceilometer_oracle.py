#!/usr/bin/env python3
"""What Ceilometer 27's notification agent makes of AMQP bodies, in the golden corpus format.

  ceilometer_oracle.py BODIES.jsonl [CEILOMETER.CONF...] > EXPECTED.jsonl

BODIES.jsonl holds one `{"id": ..., "body": <the AMQP body as JSON>}` per line. Each body goes
the way the agent takes it, with Ceilometer's and oslo.messaging's own code: kombu's JSON
decoding, oslo's envelope (`deserialize_msg`) and context (`unpack_context`), the batch
notification dispatcher with the endpoints the agent loads (the shipped meters.yaml and
event_definitions.yaml), and the shipped pipelines with `test://` publishers in place of theirs.
Out comes one `{"id", "wire", "samples", "dropped_samples", "events", "requeue"}` per line: a
golden corpus case, samples as `Sample.as_dict()` and events as the corpus records them (for
`compare.py`, and for ceilo's tests as they read the corpus). A message an endpoint raised on
(`requeue`) has no samples or events: ceilo dead-letters it with nothing, where Ceilometer
republishes what the endpoints before that one made on every redelivery (kept aside as
`published_before_requeue`).

Run with the Ceilometer venv's Python (`/opt/ceilometer-venv/bin/python`).
"""
import json
import logging
import os
import sys
import tempfile
import time
import uuid
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)

from kombu.utils import json as kombu_json  # noqa: E402
from oslo_messaging._drivers import amqp as rpc_amqp  # noqa: E402
from oslo_messaging._drivers import common as rpc_common  # noqa: E402
from oslo_messaging.notify import dispatcher  # noqa: E402

from ceilometer import service  # noqa: E402
from ceilometer.pipeline import event as event_pipeline  # noqa: E402
from ceilometer.pipeline import sample as sample_pipeline  # noqa: E402

PIPELINE = """---
sources:
  - {name: meter_source, meters: ["*"], sinks: [meter_sink]}
sinks:
  - {name: meter_sink, publishers: ["test://"]}
"""
EVENT_PIPELINE = """---
sources:
  - {name: event_source, events: ["*"], sinks: [event_sink]}
sinks:
  - {name: event_sink, publishers: ["test://"]}
"""


class Incoming:
    """What the AMQP listener hands the dispatcher: the context dict and the message."""

    def __init__(self, body):
        message = rpc_common.deserialize_msg(kombu_json.loads(body))
        self.ctxt = rpc_amqp.unpack_context(message).to_dict()
        self.message = message


DROPPED = []


def record_dropped(validate):
    """The pipeline's volume check, noting the samples it drops (the corpus' `dropped_samples`)."""
    def check(pipeline, s):
        ok = validate(pipeline, s)
        if not ok:
            DROPPED.append(s)
        return ok
    return check


sample_pipeline.SamplePipeline._validate_volume = record_dropped(
    sample_pipeline.SamplePipeline._validate_volume)


def agent(conf_dir):
    for name, text in (("pipeline.yaml", PIPELINE), ("event_pipeline.yaml", EVENT_PIPELINE)):
        with open(os.path.join(conf_dir, name), "w") as f:
            f.write(text)
    conf = service.prepare_service([], sys.argv[2:])
    conf.set_override("pipeline_cfg_file", os.path.join(conf_dir, "pipeline.yaml"))
    conf.set_override("event_pipeline_cfg_file", os.path.join(conf_dir, "event_pipeline.yaml"))
    managers = [sample_pipeline.SamplePipelineManager(conf),
                event_pipeline.EventPipelineManager(conf)]
    endpoints = [e for m in managers for e in m.get_main_endpoints()]
    publishers = [p for m in managers for pipe in m.pipelines for p in pipe.sink.publishers]
    return dispatcher.BatchNotificationDispatcher(endpoints, None), publishers


def sample_dict(sample, since):
    """`Sample.as_dict()`, a uuid1 made during this run written as the corpus writes it."""
    d = sample.as_dict()
    try:
        made = uuid.UUID(d["id"])
        if made.version == 1 and (made.time - 0x01b21dd213814000) / 1e7 >= since:
            d["id"] = "<generated-uuid1>"
    except (TypeError, ValueError, AttributeError):
        pass
    return d


def event_dict(event):
    d = event.as_dict()
    d["generated"] = d["generated"].isoformat()
    for t in d["traits"]:
        if hasattr(t["value"], "isoformat"):
            t["value"] = t["value"].isoformat()
    return d


def main():
    since = time.time() - 1
    with tempfile.TemporaryDirectory() as conf_dir:
        # A library prints while the definitions load; stdout is the output.
        stdout, sys.stdout = sys.stdout, sys.stderr
        dispatch, publishers = agent(conf_dir)
        sys.stdout = stdout
        for line in open(sys.argv[1]):
            case = json.loads(line)
            for p in publishers:
                p.samples.clear()
                p.events.clear()
            DROPPED.clear()
            out = {"id": case["id"], "wire": case["body"]}
            try:
                incoming = Incoming(json.dumps(case["body"]))
                out["requeue"] = bool(dispatch.dispatch([incoming]))
            except Exception as e:  # noqa: BLE001 - the listener would log and drop it
                out["error"] = f"{type(e).__name__}: {e}"
            out["samples"] = [sample_dict(s, since) for p in publishers for s in p.samples]
            out["events"] = [event_dict(e) for p in publishers for e in p.events]
            out["dropped_samples"] = [sample_dict(s, since) for s in DROPPED]
            if out.get("requeue"):
                # What the endpoints before the one that raised published: Ceilometer publishes
                # it again on every redelivery, ceilo dead-letters the message without it.
                out["published_before_requeue"] = out["samples"] + out["events"]
                out["samples"], out["events"], out["dropped_samples"] = [], [], []
            print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
