"""Draws docs/benchmarks/ops_<card>.png from the JSON that bench_ops.py wrote:
one bar per case, the speedup of gems over torch eager on a log scale, with
the parity line, so the picture reads at a glance; and, when the JSON has a
size sweep, ops_<card>_sweep.png: the same bars for each op at each size.
The cpu vendor's JSON (bench_cpu_ops.py) gives cpu_ops.png the same way, and
bench_vision.py's JSON vision_<vendor>.png.

    python3 benchmarks/plot.py docs/benchmarks/ops_NVIDIA_H100_80GB_HBM3.json
    python3 benchmarks/plot.py docs/benchmarks/cpu_ops.json
"""
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def bars(rows, title, out):
    """One horizontal bar per row, its speedup on a log scale, the parity line at 1."""
    names = [r["case"] + ("  (fallback)" if r.get("fallback_ops") else "") for r in rows]
    speedups = [r["speedup"] for r in rows]
    colors = ["#2a9d8f" if s >= 1.0 else ("#e9c46a" if s >= 0.9 else "#e76f51") for s in speedups]
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(rows) + 1.6))
    ax.barh(range(len(rows)), speedups, color=colors)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1)
    ticks = [t for t in (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 8) if min(speedups) / 1.2 <= t <= max(speedups) * 1.2]
    ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    ax.minorticks_off()
    ax.set_yticks(range(len(rows)), names, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    for i, s in enumerate(speedups):
        ax.text(s, i, f" {s:.2f}x", va="center", fontsize=7)
    ax.set_xlabel("speedup over torch eager (torch time / gems time), log scale")
    ax.set_title(title + "\ngreen >= 1, yellow >= 0.9, red < 0.9", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(out)


def main(path):
    report = json.loads(Path(path).read_text())
    rows = [r for r in report["rows"] if "speedup" in r]
    if "title" in report:  # bench_vision.py's reports name themselves
        where = report["title"]
        geomean = math.exp(sum(math.log(r["speedup"]) for r in rows) / len(rows))
    elif "card" in report:
        vendor = report.get("vendor", "nvidia")  # bench_ops.py runs the amd module built for NVIDIA too
        where = f"gems ({vendor} vendor{' built for NVIDIA' if vendor == 'amd' else ''}) vs torch CUDA, " \
                f"{report['card']}, {report['date']}"
        geomean = report["geomean_speedup"]
    else:  # the cpu vendor's report
        where = f"gems (cpu vendor) vs torch CPU, {report['cores']} threads, {report['date']}"
        geomean = math.exp(sum(math.log(r["speedup"]) for r in rows) / len(rows))
    bars(rows, f"{where}\ngeometric mean {geomean:.2f}x", Path(path).with_suffix(".png"))
    # The sweep: one bar per op and size, sizes of an op in order, so a trend down a group reads at a glance.
    sweep = [r for r in report.get("sweep", []) if "speedup" in r]
    if sweep:
        bars(sweep, f"size sweep, {where}", Path(path).with_name(Path(path).stem + "_sweep.png"))


if __name__ == "__main__":
    main(sys.argv[1])
