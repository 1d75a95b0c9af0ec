"""Host cost per tiny op: a 1-element add called many times, on gems tensors
and on the native path in the same process (CPU tensors here; CUDA tensors
when the vendor is nvidia and torch has CUDA). Dispatch overhead is watched
from day one: this is the number small-batch decode pays per op.

    python3 benchmarks/bench_host_overhead.py [--calls 3000] [--repeats 15]

Writes docs/benchmarks/host_overhead_<vendor>.json and prints a table.
"""
import argparse
import datetime
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import flag_gems


def per_call_us(fn, calls, repeats, sync):
    samples = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "benchmarks"))
    args = parser.parse_args()

    native = "cuda" if flag_gems.vendor_name == "nvidia" and torch.cuda.is_available() else "cpu"
    native_sync = torch.cuda.synchronize if native == "cuda" else (lambda: None)
    results = {}
    for name, make in (("add", lambda a, b: lambda: torch.add(a, b)),
                       ("add_", lambda a, b: lambda: a.add_(b)),
                       ("mul_scalar", lambda a, b: lambda: a * 2.0)):
        g = [torch.ones(1, device="gems"), torch.ones(1, device="gems")]
        n = [torch.ones(1, device=native), torch.ones(1, device=native)]
        for _ in range(100):  # warm the allocator cache and the kernels
            make(*g)(), make(*n)()
        gems_us = per_call_us(make(*g), args.calls, args.repeats, torch.gems.synchronize)
        native_us = per_call_us(make(*n), args.calls, args.repeats, native_sync)
        results[name] = {"gems_us": gems_us, "native_us": native_us, "gems_over_native": gems_us / native_us}

    report = {
        "benchmark": "host time per tiny op (1-element tensors)",
        "date": datetime.date.today().isoformat(),
        "vendor": flag_gems.vendor_name,
        "device": torch.gems.get_device_name(),
        "native_device": native,
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "calls": args.calls,
        "repeats": args.repeats,
        "results": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"host_overhead_{flag_gems.vendor_name}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"host time per op, {args.calls} calls, median of {args.repeats} ({flag_gems.vendor_name} vendor vs {native})")
    print(f"{'op':<12}{'gems us':>10}{'native us':>12}{'ratio':>8}")
    for name, r in results.items():
        print(f"{name:<12}{r['gems_us']:>10.2f}{r['native_us']:>12.2f}{r['gems_over_native']:>8.2f}")


if __name__ == "__main__":
    main()
