"""List every jsonpath expression of the shipped meter and event definitions (as Ceilometer joins them)."""
import json, yaml
REF = "/work/shared/ceilometer-reference/"
KEYS = ["name", "type", "unit", "volume", "resource_id", "user_id", "project_id", "timestamp", "user_metadata"]
def fields_expr(v):
    if isinstance(v, str): return v
    if isinstance(v, list):
        parts = [p for p in v if isinstance(p, str)]
        return parts[0] if len(parts) == 1 else "|".join("(%s)" % p for p in parts)
    if isinstance(v, dict) and "fields" in v: return fields_expr(v["fields"])
    return None
out = []
for m in yaml.safe_load(open(REF + "meters.d/meters.yaml"))["metric"]:
    for k in KEYS:
        e = fields_expr(m.get(k)) if k in m else None
        if e: out.append(e)
    for v in (m.get("metadata") or {}).values():
        e = fields_expr(v)
        if e: out.append(e)
for f in ["event_definitions.yaml", "examples/osprofiler_event_definitions.yaml"]:
    for d in yaml.safe_load(open(REF + f)):
        for t in (d.get("traits") or {}).values():
            e = fields_expr(t)
            if e: out.append(e)
out += ["ctxt.user_id|ctxt.user", "ctxt.project_id|ctxt.tenant_id"]
seen = []
for e in out:
    if e not in seen: seen.append(e)
json.dump(seen, open("/tmp/oracle/exprs.json", "w"))
print(len(out), len(seen))
