"""Draws docs/benchmarks/ops_<card>.png from the JSON that bench_ops.py wrote:
one bar per case, the speedup of gems over torch eager on a log scale, with
the parity line, so the picture reads at a glance; and, when the JSON has a
size sweep, ops_<card>_sweep.png: speedup against size, one line per op.

    python3 benchmarks/plot.py docs/benchmarks/ops_NVIDIA_H100_80GB_HBM3.json
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(path):
    report = json.loads(Path(path).read_text())
    rows = [r for r in report["rows"] if "speedup" in r]
    names = [r["case"] + ("  (fallback)" if r["fallback_ops"] else "") for r in rows]
    speedups = [r["speedup"] for r in rows]
    colors = ["#2a9d8f" if s >= 1.0 else ("#e9c46a" if s >= 0.9 else "#e76f51") for s in speedups]
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(rows) + 1.6))
    ax.barh(range(len(rows)), speedups, color=colors)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(rows)), names, fontsize=8)
    ax.invert_yaxis()
    for i, s in enumerate(speedups):
        ax.text(s, i, f" {s:.2f}x", va="center", fontsize=7)
    ax.set_xlabel("speedup over torch eager (torch time / gems time), log scale")
    ax.set_title(f"gems (nvidia vendor) vs torch CUDA, {report['card']}, {report['date']}\n"
                 f"geometric mean {report['geomean_speedup']:.2f}x; green >= 1, yellow >= 0.9, red < 0.9", fontsize=9)
    fig.tight_layout()
    out = Path(path).with_suffix(".png")
    fig.savefig(out, dpi=110)
    print(out)
    if report.get("sweep"):
        plot_sweep(report, Path(path).with_name(Path(path).stem + "_sweep.png"))


def plot_sweep(report, out):
    ops = {}
    for r in report["sweep"]:
        if "speedup" in r:
            ops.setdefault(r["op"], []).append((r["size"], r["speedup"]))
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for op, points in ops.items():
        ax.plot(range(len(points)), [s for _, s in points], marker="o", label=op)
        for i, (size, s) in enumerate(points):
            ax.annotate(size, (i, s), textcoords="offset points", xytext=(0, 5), fontsize=6, ha="center")
    ax.axhline(1.0, color="black", linewidth=1)
    ax.set_yscale("log")
    ticks = [0.25, 0.5, 0.75, 1, 1.5, 2, 3]
    ax.set_yticks(ticks, [f"{t:g}x" for t in ticks])
    ax.minorticks_off()
    ax.set_xticks([])
    ax.set_xlabel("size, small to large (labels at the points)")
    ax.set_ylabel("speedup over torch eager")
    ax.legend(fontsize=7)
    ax.set_title(f"size sweep, gems (nvidia vendor) vs torch CUDA, {report['card']}, {report['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1])
