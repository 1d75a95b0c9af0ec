"""Where a vision case's time goes on an accelerator: the GPU kernels one step
of a benchmarks/bench_vision.py case launches on gems and on the native device
(in a child process without gems, as the benchmark times it), each kernel's
GPU time per step, and the step's synchronised wall time. A step whose wall
time far exceeds its kernels' sum is host-bound; a kernel the other side does
not launch, or launches faster, is where to look.

    python3 tools/profile_vision.py "conv2d 3x3" "max_pool2d" [--forward-only]

Each argument keeps the cases whose names contain it (all cases without one).
"""
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_vision as bv  # noqa: E402  (imports flag_gems unless --native-only is in argv)
import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

STEPS = 5


def profile_step(step, device):
    """({kernel name: (us per step, launches per step)}, median wall us of a synchronised step)."""
    for _ in range(3):
        step()
    bv.synchronize(device)
    walls = []
    for _ in range(20):
        start = time.perf_counter()
        step()
        bv.synchronize(device)
        walls.append((time.perf_counter() - start) * 1e6)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(STEPS):
            step()
            bv.synchronize(device)
    kernels = {}
    for e in prof.key_averages():
        if e.device_type == torch.autograd.DeviceType.CUDA and e.device_time_total > 0:
            kernels[e.key[:110]] = (e.device_time_total / STEPS, e.count / STEPS)
    return kernels, statistics.median(walls)


def profile_cases(device, names, backwards):
    out = {}
    for name, shapes, op in bv.cases():
        if names and not any(n in name for n in names):
            continue
        for backward in backwards:
            with torch.set_grad_enabled(backward):
                kernels, wall = profile_step(bv.make_step(name, shapes, op, device, backward), device)
            out[f"{name} {'fwd+bwd' if backward else 'fwd'}"] = {"wall_us": wall, "kernels": kernels}
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    backwards = (False,) if "--forward-only" in sys.argv else (False, True)
    if "--native-only" in sys.argv:
        print(json.dumps(profile_cases(bv.NATIVE, args, backwards)))
        return
    env = dict(os.environ, GEMS_VENDOR_NAME=bv.VENDOR, TORCH_DEVICE_BACKEND_AUTOLOAD="0")
    native = json.loads(subprocess.run([sys.executable, __file__, "--native-only", *sys.argv[1:]], env=env,
                                       check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    gems = profile_cases("gems", args, backwards)
    for case, mine in gems.items():
        theirs = native[case]
        print(f"\n== {case}: wall gems {mine['wall_us']:.1f} us, {bv.NATIVE} {theirs['wall_us']:.1f} us")
        for side, result in (("gems", mine), (bv.NATIVE, theirs)):
            total = sum(t for t, _ in result["kernels"].values())
            print(f"  {side}: kernels {total:.1f} us per step")
            for kernel, (us, launches) in sorted(result["kernels"].items(), key=lambda kv: -kv[1][0]):
                print(f"    {us:8.1f} us  x{launches:<4g} {kernel}")


if __name__ == "__main__":
    main()
