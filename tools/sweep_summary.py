"""Totals of the crash sweep's result files (build/sweep/*.jsonl, written by
tests/python/test_crash_sweep.py) as the Markdown rows of docs/reliability.md.

    python tools/sweep_summary.py [build/sweep]
"""
import json
import sys
from pathlib import Path

OUTCOMES = ["match", "close_normwise", "closer_than_cpu", "same_error", "mismatch", "gems_raised", "other_error",
            "strict_ran", "strict_raised", "abort", "hang"]


def totals(files):
    counts, items, samples = {}, set(), 0
    for f in files:
        for line in f.read_text().splitlines():
            r = json.loads(line)
            if "status" in r:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
                continue
            items.add((r["op"], r["variant"], r["dtype"]))
            samples += r["samples"]
            for k, v in r["counts"].items():
                counts[k] = counts.get(k, 0) + v
    return counts, len(items), samples


def main():
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "build/sweep")
    print("| mode | op-variant-dtype items | samples | " + " | ".join(OUTCOMES) + " |")
    print("|---|---|---|" + "---|" * len(OUTCOMES))
    for mode in ("fallback", "strict"):
        files = sorted(folder.glob(f"{mode}-*.jsonl"))
        if not files:
            continue
        counts, items, samples = totals(files)
        print(f"| {mode} | {items} | {samples} | " + " | ".join(str(counts.get(k, 0)) for k in OUTCOMES) + " |")


if __name__ == "__main__":
    main()
