"""Plots benches/cost_curves.sh's table: instructions per notification against body size and
against the number of meter definitions. Usage: cost_curves.py CURVES.tsv OUT.png"""

import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
series = defaultdict(list)
for row in rows:
    series[row["series"]].append(row)

fig, (size_ax, defs_ax) = plt.subplots(1, 2, figsize=(12, 4.8))
for name, points in series.items():
    by_definitions = not (name.startswith("l3.meter") or name.startswith("compute.instance"))
    ax = defs_ax if by_definitions else size_ax
    xs = [int(p["x"]) if by_definitions else int(p["body_bytes"]) / 1000 for p in points]
    ys = [int(p["instructions"]) / 1000 for p in points]
    style = "--" if "decode" in name else "-"
    line = ax.plot(xs, ys, style, marker="o", label=name)[0]
    without_sha = [(int(p["instructions"]) - int(p["sha256"])) / 1000 for p in points]
    if "all" in name:
        ax.plot(xs, without_sha, ":", marker=".", color=line.get_color(), label=name + ", without HMAC")

size_ax.set_xscale("log")
size_ax.set_yscale("log")
size_ax.set_xlabel("AMQP body (KB)")
size_ax.set_title("against body size")
defs_ax.set_xscale("log")
defs_ax.set_xlabel("meter definitions loaded")
defs_ax.set_ylim(bottom=0)
defs_ax.set_title("against meter definitions (the extra ones match nothing)")
for ax in (size_ax, defs_ax):
    ax.set_ylabel("thousand instructions per notification")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
fig.suptitle("ceilo: CPU per notification (callgrind, benches/per_notification.rs)")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
