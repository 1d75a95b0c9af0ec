"""Collective bandwidth on gems tensors through the gems process-group backend
against torch's own backend on the native device's tensors (NCCL on cuda for
the nvidia vendor, Gloo on cpu for the cpu vendor), at the same sizes.

Both sides use the same library underneath (the gems backend hands NCCL or
Gloo the gems memory in place), so the expected ratio is 1.0x: what this
measures is the cost of the gems wrapping (stream ordering, work objects).
The native side runs in a child process without gems, when this runs as one
process (world size 1); under torchrun gems is measured alone. Rank 0 prints
and writes the results.

  python3 benchmarks/bench_collectives.py [--out DIR]
  torchrun --nproc-per-node 2 benchmarks/bench_collectives.py
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.distributed as dist

SIZES_MB = [1, 4, 16, 64, 256]


def bus_factor(op, world):
    """NCCL's bus-bandwidth factor: all_reduce moves 2(n-1)/n of the buffer per
    rank, all_gather (n-1)/n; with one rank both are a local copy (factor 1)."""
    if world == 1:
        return 1.0
    return 2 * (world - 1) / world if op == "all_reduce" else (world - 1) / world


def measure(device, runs):
    sync = torch.cuda.synchronize if device == "cuda" else getattr(torch, "gems").synchronize if device == "gems" \
        else (lambda: None)
    world = dist.get_world_size()
    results = {}
    for mb in SIZES_MB:
        numel = mb * (1 << 20) // 4
        x = torch.ones(numel, device=device)
        out = torch.empty(numel * world, device=device)
        for op in ("all_reduce", "all_gather"):
            call = (lambda: dist.all_reduce(x)) if op == "all_reduce" else \
                (lambda: dist.all_gather_into_tensor(out, x))
            for _ in range(3):
                call()
            sync()
            dist.barrier()
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                call()
                sync()
                times.append(time.perf_counter() - start)
            ms = sorted(times)[len(times) // 2] * 1e3
            busbw = numel * 4 / (ms * 1e-3) * bus_factor(op, world) / 1e9
            results[f"{op} {mb} MB"] = {"ms": ms, "busbw_GBps": busbw}
    return results


def init(device):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(29400 + os.getpid() % 1000))
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    rank = int(os.environ["RANK"])
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
        dist.init_process_group("nccl")
    elif device == "cpu":
        dist.init_process_group("gloo")
    else:
        torch.gems.set_device(int(os.environ.get("LOCAL_RANK", rank)))
        dist.init_process_group("cpu:gloo,gems:gems")
    return rank


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", default="docs/benchmarks")
    parser.add_argument("--native-only", action="store_true")
    args = parser.parse_args()
    if args.native_only:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        rank = init(device)
        results = measure(device, args.runs)
        dist.destroy_process_group()
        if rank == 0:
            print(json.dumps({"device": device, "results": results}))
        return
    import flag_gems
    vendor = flag_gems.vendor_name
    # The native side first, in a child process, when this is one process (under
    # torchrun the ranks would need a second rendezvous: gems is measured alone).
    native = None
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        out = subprocess.run([sys.executable, __file__, "--native-only", "--runs", str(args.runs)],
                             env=dict(os.environ, TORCH_DEVICE_BACKEND_AUTOLOAD="0"), check=True,
                             capture_output=True, text=True).stdout
        native = json.loads(out.strip().splitlines()[-1])
    rank = init("gems")
    gems = measure("gems", args.runs)
    world = dist.get_world_size()
    dist.destroy_process_group()
    if rank != 0:
        return
    rows = []
    for case, g in gems.items():
        n = native["results"][case] if native else None
        rows.append({"case": case, "gems_ms": g["ms"], "gems_busbw_GBps": g["busbw_GBps"],
                     "native_ms": n and n["ms"], "native_busbw_GBps": n and n["busbw_GBps"],
                     "ratio": n and n["ms"] / g["ms"]})
        print(f"{case:22s} gems {g['ms']:8.3f} ms {g['busbw_GBps']:8.1f} GB/s"
              + (f"  {native['device']} {n['ms']:8.3f} ms {n['busbw_GBps']:8.1f} GB/s  {n['ms'] / g['ms']:5.2f}x"
                 if n else ""))
    name = torch.cuda.get_device_name() if vendor == "nvidia" else vendor
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"collectives_{vendor}.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "device": name, "world": world, "torch": torch.__version__,
                   "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
