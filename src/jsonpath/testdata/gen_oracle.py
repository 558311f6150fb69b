"""Run jsonpath-rw-ext 1.2.2 + jsonpath-rw 1.4.0 (what Ceilometer parses with) over the cases below and
write the golden fixture read by `oracle_agrees_with_jsonpath_rw_ext` in ../tests.rs.

Regenerate: python3 -m venv /tmp/jp && /tmp/jp/bin/pip install jsonpath-rw-ext==1.2.2 &&
/tmp/jp/bin/python gen_oracle.py jsonpath_rw_ext_oracle.jsonl
"""
import contextlib, io, json, sys
from jsonpath_rw_ext import parser

DOCS = {
  "nova": {"payload": {"id": "i-1", "host": "compute-0", "nodename": "node.example.org", "outcome": "success",
           "metrics": [{"name": "cpu.frequency", "value": 2600, "source": "libvirt"},
                       {"name": "cpu.percent", "value": 0.0275014858, "source": "libvirt"},
                       {"name": "cpu.user.time", "value": 17421440000000, "source": "libvirt"}],
           "name_to_id": "controller-0@lvm#lvm", "glance_metadata": [{"key": "image_id", "value": "img-1"}, {"key": "image_name", "value": "cirros"}],
           "gm_dict": {"image_id": "img-2"}, "volume_attachment": [], "null_attach": None,
           "nested": {"a": {"id": 1, "b": [{"id": 2}, {"id": 3, "c": {"id": 4}}]}},
           "nums": [3, 1, 2], "strs": ["b", "a", "c"], "mixed": [1, "a"], "objs": [{"k": 2, "n": "x"}, {"k": 1, "n": "y"}, {"k": 3}],
           "s": "foo-bar-cat-bow", "e": "", "t": True, "f": False, "z": 0, "fl": 0.5, "big": 9007199254740993, "neg": -4,
           "vals": [{"v": 1}, {"v": "2"}, {"v": 2.7}, {"v": None}, {"v": True}, {"v": "x"}, {"v": [1]}],
           "strvals": [{"v": "abc"}, {"v": "abd"}, {"v": "b"}, {"v": 5}],
           "with.dot": 7, "bar-baz": 8, "where": 9, "@at": 10, "trueish": 11},
         "ctxt": {"user_id": "u1", "user": "u2", "project_id": "p1", "tenant_id": "p2"},
         "publisher_id": "compute.host-1.example.org", "event_type": "compute.metrics.update"},
}

EXPRS = [
  # fields, root, this
  "$.payload.id", "payload.id", "gauge", "B", "$", "payload.$.ctxt.user", "`this`.payload.id", "$.payload.@.id",
  "$.payload.'with.dot'", '$.payload."bar-baz"', "$.payload.bar-baz", "$.payload.'where'", "$.payload.@at",
  "$.payload.id,host", "$.payload['id','host']", "$.payload.nested.*", "$.ctxt.*", "$.payload.nums.*", "$.payload['*']",
  # indexes and slices
  "$.payload.nums[0]", "$.payload.nums[-1]", "$.payload.nums[5]", "$.payload.nums[-5]", "$.payload.s[1]", "$.payload.s[-1]",
  "$.payload.e[0]", "$.payload.volume_attachment[0].server_id", "$.payload.null_attach[0]", "$.payload.nested[0]",
  "$.payload.nested[5]", "$.payload.z[0]", "$.payload.t[0]", "$.payload.fl[0]",
  "$.payload.nums[*]", "$.payload.nums[1:]", "$.payload.nums[:2]", "$.payload.nums[-2:]", "$.payload.nums[:]", "$.payload.nums[1:1]",
  "$.payload.s[*]", "$.payload.id[0:]", "$.payload.nested[*].a.id", "$.payload.neg[*]", "$.payload.t[*]", "$.payload.e[*]",
  "$.payload.null_attach[*]", "$.payload.fl[*]", "$.payload.metrics.[*].name", "$.payload.metrics[*].value",
  # descendants, union, where, intersect, precedence
  "$.payload.nested..id", "$..id", "payload..c.id", "$.payload.nested..b[0]",
  "ctxt.user_id|ctxt.user", "ctxt.project_id|ctxt.tenant_id", "(ctxt.user_id)|(ctxt.user)", "$.ctxt.user|$.ctxt.user_id",
  "payload.(id|host)", "payload.id|(host)", "$.payload.objs[*] where n", "$.payload.id & $.payload.host",
  "$.payload.nums|strs[0]", "($.payload.nums)|($.payload.strs)[0]",
  # filters
  "$.payload.metrics[?(@.name='cpu.frequency')].value", "$.payload.metrics[?name=cpu.frequency].value",
  "$.payload.glance_metadata[?key=image_id].value", "$.payload.gm_dict[?key=image_id].value", "$.payload.s[?a]",
  "$.payload.vals[?v=2]", "$.payload.vals[?v==2]", "$.payload.vals[?v!=2]", "$.payload.vals[?v>1]", "$.payload.vals[?v>=1]",
  "$.payload.vals[?v<2]", "$.payload.vals[?v=true]", "$.payload.vals[?v=false]", "$.payload.vals[?v]", "$.payload.vals[?(@.v)]",
  "$.payload.vals[?v='x']", "$.payload.vals[?v!='x']", "$.payload.strvals[?v<abd]", "$.payload.strvals[?v=abc]",
  "$.payload.strvals[?v ~ 'ab']", "$.payload.strvals[?v ~ 'b']", "$.payload.strvals[?v ~ '.*d$']",
  "$.payload.objs[?k>1 & n]", "$.payload.objs[?(@.k>1 & @.n)]", "$.payload.objs[?(@.k>1) & (@.n)]", "$.payload.objs[?((@.k>1))]",
  "$.payload.objs[?(@.k)].n", "$.payload.objs[?k=2.0]", "$.payload.objs[?k>1.5]", "$.payload.objs[?($.k=1)]",
  "$.payload.metrics[?(@.name='cpu.percent')].value * 100", "$.payload.metrics[?(@.name='cpu.frequency')].value * 100",
  "$.payload.objs[?n & k]",
  # sorting, len
  "$.payload.nums.`sorted`", "$.payload.strs.`sorted`[0]", "$.payload.nested.`sorted`", "$.payload.mixed.`sorted`",
  "$.payload.objs[/k]", "$.payload.objs[\\k][0].n", "$.payload.objs[/n,\\k]", "$.payload.id.`sorted`", "$.payload.objs.`sorted`",
  "$.payload.nums.`len`", "$.payload.nested.`len`", "$.payload.s.`len`", "$.payload.z.`len`", "$.payload.null_attach.`len`",
  # split, sub
  "$.payload.name_to_id.`split(#, 0, 1)`", "publisher_id.`split(., 1, 1)`", "publisher_id.`split(., 0, -1)`",
  "$.payload.s.`split(-, 2, -1)`", "$.payload.s.`split(-, 2, 2)`", "$.payload.s.`split(-, 9, -1)`", "$.payload.z.`split(-, 0, -1)`",
  "$.payload.s.`split(-, 0, 0)`",
  "$.payload.outcome.`sub(/.*/, )`", "$.payload.outcome.`sub(/s/, x)`", "$.payload.outcome.`sub(/q/, x)`",
  "$.payload.outcome.`sub(/(su)(c+)/, \\\\2\\\\1)`", "$.payload.outcome.`sub(/(?P<a>s)/, [\\\\g<a>])`", "$.payload.outcome.`sub(/s$/, S)`",
  "$.payload.outcome.`sub(/x*/, -)`", "$.payload.outcome.`sub(/.*/, x)`", "$.payload.z.`sub(/0/, 1)`", "$.payload.outcome.`sub(/\\\\w+/, w)`",
  "$.payload.outcome.`sub(/\\d/, X)`",
  # arithmetic
  "$.payload.outcome.`sub(/.*/, )` + 'identity.authenticate.' + $.payload.outcome", "$.payload.host + \"_\" + $.payload.nodename",
  "$.payload.nums[*] * 2", "$.payload.nums[*] * $.payload.nums[*]", "$.payload.nums[*] + $.payload.strs[0]", "$.payload.nums[*] + 1.5",
  "$.payload.fl * 100", "$.payload.t + 1", "$.payload.t * $.payload.id", "$.payload.id * 2", "$.payload.id * 0", "$.payload.id + 1",
  "$.payload.nums + $.payload.nums", "$.payload.nums * 2", "$.payload.neg - 1", "$.payload.big * 3", "$.payload.big + 1",
  "3 * 3", "2 * 3 + 1", "1 - 2 - 3", "0.5 * 3", "foo + bar", "foo * 3", "$.payload.neg * 2 * $.payload.neg + 2",
  "($.payload.neg * 2 * $.payload.neg) + 2", "$.payload.neg * 2 .x", "$.payload.neg * 2 | payload.id", "$.payload.missing + 'x'",
  "$.payload.fl - 0.25", "1.5 + 1.5", "$.payload.id + $.payload.nums[*]", "$.payload.nums[*] - $.payload.strs[*]",
  # more edges
  "$.payload.nums[?@>1]", "$.payload.nums[?(@>1)]", "$.payload.nums[?@=3]", "$.payload.strs[?@=a]", "$.payload.strs[?@ ~ '[ab]']",
  "$.payload.nums[-2:-1]", "$.payload.nums[:-1]", "$.payload.nums[5:]", "$.payload.nums[-9:]", "$.payload.nums[2:1]",
  "$.payload.objs..k", "$.payload..k", "$.payload.objs[*].k where $", "$.payload.objs where k",
  "$.payload.nums[*] * 2 * 3", "$.payload.nums[*] - 1 - 1", "($.payload.nums[*] - 1) - 1", "$.payload.neg * -1",
  "$.payload.neg - -1", "$.payload.neg -1", "$.payload.neg-1", "$.payload.fl * $.payload.fl", "$.payload.fl * 2.0",
  "$.payload.id + $", "2 * $.payload.id", "$.payload.id * $.payload.neg", "$.payload.nums * $.payload.t",
  "$.payload.s.`sub(/(\\w+)-(\\w+)/, \\g<2>+\\g<1>)`", "$.payload.s.`sub(/^foo/, X)`", "$.payload.s.`sub(/bow$/, X)`",
  "$.payload.s.`sub(/bow\\Z/, X)`", "$.payload.s.`sub(/(?i)FOO/, X)`", "$.payload.s.`sub(/(?<=-)c/, C)`", "$.payload.s.`sub(/o{2}/, 0)`",
  "$.payload.s.`sub(/o{,1}b/, B)`", "$.payload.s.`sub(/\\bcat\\b/, dog)`", "$.payload.s.`sub(/-/, \\n)`", "$.payload.s.`sub(/-/, \\g<0>\\g<0>)`",
  "$.payload.s.`sub(/[a-c]/, _)`", "$.payload.s.`sub(/x|/, _)`", "$.payload.s.`sub(/(-)|(x)/, [\\2])`", "$.payload.s.`sub(/a/, \\\\)`",
  "$.payload.s.`sub(/a/,  spaced  )`", "$.payload.s.`sub(/a/, b) extra`", "$.payload.s.`split(-, 1, 1)` + x",
  "$.payload.'it\\'s'", "$.payload.f", "$.payload.false", "$.payload.t.`len`", "$.payload.nums.`len` * 2",
  "$.payload.nums.`sorted`[-1]", "$.payload.strs.`sorted`.`len`", "@.payload.id", "@", "`this`", "$.payload.objs[?(@.n)][0].n",
  "$.payload.objs[?n][-1].k", "$.payload.objs[?k>=2 & k<=3]", "$.payload.objs[?k>1&(n)]", "$.payload.objs[?(k>1)&n]",
  "$.payload.objs[?k=1.0]", "$.payload.objs[?k==true]", "$.payload.metrics[?value>1000].name", "$.payload.metrics[?value>0.5].name",
  "$.payload.metrics[?name~'cpu\\.p'].name", "$.payload.metrics[?name ~ \"cpu.*time\"].name", "$.payload.nested.a.b[?c].id",
  "$.payload.nested.a.b[?c.id=4].id", "$.payload.nested.a.b[?c.id].c.id", "$..b[0].id", "$.payload.nested..*",
  "$.payload.with", "payload.where_x", "$.payload.nums[0].x", "$.payload.nums[0][0]", "$.payload.strs[0][0]", "$.payload.big[*]",
  "`parent`", "$.payload.id.`parent`",
  # compile errors
  "$.payload[0", "$.payload)", "($.payload", "$.payload.`frobnicate`", "$.payload.`sub(/(/, x)`", "$.payload.`sub(/a/,x)`",
  "$.payload.`split(ab, 0, 1)`", "$.a b", "", "$.", "$.a.5", "42", "$.a[?b=]", "$.a / 2", "$.payload.trueish", "[?a=1]",
  "$.a.[?(@.b=1)]", "$.a#b", "$.'abc", "$.`len", "$.a[1,2]", "$.a[1:2:3]", "$.a[?a=b.c]", "$.a[?a=1+1]", "$.payload.`str()`",
  "$.payload..", "$..", "*,a", "$.a,*", "a.where", "where", "$.a[?(a=1)|(b=2)]", "$.a[]", "$.a[?]",
]

out = []
for doc_name, doc in DOCS.items():
    for expr in EXPRS:
        rec = {"expr": expr, "doc": doc_name}
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                jp = parser.ExtentedJsonPathParser().parse(expr)
        except Exception as e:
            rec["outcome"] = "parse_error"
            out.append(rec); continue
        try:
            vals = [m.value for m in jp.find(doc)]
        except Exception as e:
            rec["outcome"] = "raises"; rec["exception"] = type(e).__name__
            out.append(rec); continue
        rec["outcome"] = "ok"
        rec["values"] = vals
        rec["types"] = [type(v).__name__ for v in vals]
        out.append(rec)

with open(sys.argv[1], "w") as f:
    f.write(json.dumps({"docs": DOCS}) + "\n")
    for r in out:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(out), "cases;", sum(1 for r in out if r["outcome"] == "parse_error"), "parse errors;",
      sum(1 for r in out if r["outcome"] == "raises"), "raise")
