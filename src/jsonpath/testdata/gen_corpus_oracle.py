"""Run jsonpath-rw-ext 1.2.2 over the non-trivial shipped expressions and every corpus notification.

Expressions come from extract_shipped.py (PyYAML; mirrors the extraction in ../tests.rs). Regenerate:
python3 extract_shipped.py && /tmp/jp/bin/python gen_corpus_oracle.py /tmp/oracle/exprs.json corpus_oracle.jsonl
Only non-empty results and exceptions are stored; every other pair found nothing.
"""
import contextlib, io, json, sys
from jsonpath_rw_ext import parser
exprs = json.load(open(sys.argv[1]))
cases = [json.loads(l) for l in open("/work/shared/ceilometer-reference/corpus/public.jsonl")]
plain = lambda e: not any(c in e for c in "[`|+*(") and ".." not in e
sel = [e for e in exprs if not plain(e)]
rows = []
for e in sel:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            jp = parser.ExtentedJsonPathParser().parse(e)
    except Exception:
        rows.append({"expr": e, "outcome": "parse_error"}); continue
    for c in cases:
        try:
            vals = [m.value for m in jp.find(c["notification"])]
        except Exception as ex:
            rows.append({"expr": e, "case": c["id"], "outcome": "raises", "exception": type(ex).__name__}); continue
        if vals:
            rows.append({"expr": e, "case": c["id"], "outcome": "ok", "values": vals, "types": [type(v).__name__ for v in vals]})
with open(sys.argv[2], "w") as f:
    f.write(json.dumps({"exprs": sel}) + "\n")
    for r in rows: f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(sel), "expressions,", len(rows), "rows")
