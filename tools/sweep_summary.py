"""Totals of the crash sweep's result files (build/sweep/*.jsonl, written by
tests/python/test_crash_sweep.py) as the Markdown rows of docs/reliability.md.

    python tools/sweep_summary.py [build/sweep]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sweep"))
from opinfo_sweep import load, summarise  # noqa: E402

OUTCOMES = ["match", "close_normwise", "closer_than_cpu", "as_native", "same_error", "mismatch", "gems_raised", "other_error",
            "strict_ran", "strict_raised", "abort", "hang"]


def main():
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "build/sweep")
    print("| mode | op-variant-dtype items | samples | " + " | ".join(OUTCOMES) + " |")
    print("|---|---|---|" + "---|" * len(OUTCOMES))
    for mode in ("fallback", "strict"):
        files = sorted(folder.glob(f"{mode}-*.jsonl"))
        if not files:
            continue
        results = [r for f in files for r in load(str(f))]
        counts = summarise(results)
        items = len({(r["op"], r["variant"], r["dtype"]) for r in results if "status" not in r})
        samples = sum(r["samples"] for r in results if "status" not in r)
        print(f"| {mode} | {items} | {samples} | " + " | ".join(str(counts.get(k, 0)) for k in OUTCOMES) + " |")


if __name__ == "__main__":
    main()
