"""Vision ops on gems against the native device's own kernels in the same
process (torch's oneDNN/CPU kernels for the cpu vendor, cuDNN and CUDA
kernels for nvidia): convolutions of the layers users run (ResNet's 3x3 and
1x1, a 7x7 stem, ViT's patch embedding, ConvNeXt's depthwise 7x7, Whisper's
conv1d, a transposed 2x upsampling; a 3x3 one channels-last), max pooling,
bilinear upsampling, batch and group norm; forward, and forward + backward. Reported as the speedup, native time / gems
time (above 1: gems is faster).

    python3 benchmarks/bench_vision.py [--out docs/benchmarks]

On an accelerator the shapes are a real batch; on the cpu vendor (a small
CI-like machine) the batch is 1 and float32. GEMS_VISION_DTYPE=float32 (or
another dtype name) times an accelerator in that dtype instead of bfloat16:
vision_<vendor>_float32.*; GEMS_AUTOTUNE=1 (timed choice of cuDNN's
algorithms; torch then runs with cudnn.benchmark on) adds _autotune to the
names. Times: the median of several
runs after warm-up, each synchronised; the native side runs in a child process
without gems (where gems is registered, PyTorch cannot run CUDA backward passes).
The two sides alternate in --rounds rounds (3 by default), each round timing
every case on both, and each case's time is its median over the rounds: on a
shared GPU one side timed a minute after the other read up to 2x off.
Where the vendor has convolution kernels of its own (cuDNN's on nvidia), the
core's im2col + GEMM path is timed too, in a child with GEMS_CONV=gemm.
Writes vision_<device>.json and .md; benchmarks/plot.py draws the PNG.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

# --native-only: the native device's times alone, in a process without gems. A
# process that registers gems cannot run CUDA backward passes
# (pytorch/pytorch#161129), so on nvidia the native side runs there.
NATIVE_ONLY = "--native-only" in sys.argv
if not NATIVE_ONLY:
    import flag_gems
VENDOR = os.environ.get("GEMS_VENDOR_NAME") if NATIVE_ONLY else flag_gems.vendor_name
NATIVE = "cuda" if VENDOR == "nvidia" else "cpu"
ACCELERATOR = NATIVE != "cpu"
DTYPE = getattr(torch, os.environ.get("GEMS_VISION_DTYPE", "bfloat16" if ACCELERATOR else "float32"))
N = 16 if ACCELERATOR else 1


def cases():
    """(name, shapes of the inputs, fn); a name that ends in "channels-last"
    has its 4-d inputs in that memory format. GEMS_VISION_CASES (comma-separated
    substrings of names) keeps some: a partial run for a short GPU lease."""
    only = [w for w in os.environ.get("GEMS_VISION_CASES", "").split(",") if w]
    return [c for c in all_cases() if not only or any(w in c[0] for w in only)]


def all_cases():
    return [
        ("conv2d 3x3 64->64 56x56", [(N, 64, 56, 56), (64, 64, 3, 3)], lambda x, w: F.conv2d(x, w, padding=1)),
        ("conv2d 3x3 64->64 56x56 channels-last", [(N, 64, 56, 56), (64, 64, 3, 3)],
         lambda x, w: F.conv2d(x, w, padding=1)),
        ("conv2d 1x1 256->64 56x56", [(N, 256, 56, 56), (64, 256, 1, 1)], lambda x, w: F.conv2d(x, w)),
        ("conv2d 7x7/2 stem 3->64 224x224", [(N, 3, 224, 224), (64, 3, 7, 7)],
         lambda x, w: F.conv2d(x, w, stride=2, padding=3)),
        ("conv2d 16x16/16 ViT patches 3->768", [(N, 3, 224, 224), (768, 3, 16, 16)],
         lambda x, w: F.conv2d(x, w, stride=16)),
        ("conv2d depthwise 7x7 96ch 56x56", [(N, 96, 56, 56), (96, 1, 7, 7)],
         lambda x, w: F.conv2d(x, w, padding=3, groups=96)),
        ("conv1d k3 80->384 L=3000 (Whisper)", [(N, 80, 3000), (384, 80, 3)], lambda x, w: F.conv1d(x, w, padding=1)),
        ("conv_transpose2d 2x2/2 64->32 28x28", [(N, 64, 28, 28), (64, 32, 2, 2)],
         lambda x, w: F.conv_transpose2d(x, w, stride=2)),
        ("max_pool2d 3x3/2 64ch 112x112", [(N, 64, 112, 112)], lambda x: F.max_pool2d(x, 3, 2, 1)),
        ("upsample bilinear 2x 64ch 56x56", [(N, 64, 56, 56)],
         lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)),
        ("batch_norm train 64ch 56x56", [(N, 64, 56, 56), (64,), (64,)],
         lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)),
        ("group_norm 32 groups 64ch 56x56", [(N, 64, 56, 56), (64,), (64,)],
         lambda x, w, b: F.group_norm(x, 32, w, b)),
    ]


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "gems":
        torch.gems.synchronize()


def median_ms(fn, device, runs):
    for _ in range(3):
        fn()
    synchronize(device)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def make_step(name, shapes, op, device, backward):
    """One timed step of a case on `device`: its inputs made once, the op
    (and its backward). Run it under torch.set_grad_enabled(backward)."""
    generator = torch.Generator().manual_seed(0)
    layout = torch.channels_last if name.endswith("channels-last") else torch.contiguous_format
    inputs = [torch.randn(*s, generator=generator).to(DTYPE).to(device) for s in shapes]
    inputs = [(x.contiguous(memory_format=layout) if x.dim() == 4 else x).requires_grad_(backward) for x in inputs]

    def step():
        out = op(*inputs)
        if backward:
            out.backward(torch.ones_like(out))
    return step


def measure(name, shapes, op, device, backward, runs):
    step = make_step(name, shapes, op, device, backward)
    with torch.set_grad_enabled(backward):
        return median_ms(step, device, runs)


def all_times(device, runs):
    return {f"{name} {'fwd+bwd' if b else 'fwd'}": measure(name, shapes, op, device, b, runs)
            for name, shapes, op in cases() for b in (False, True)}


def child_times(flag, runs, **env):
    """{case: ms} measured in a child process (--native-only: without gems)."""
    env = dict(os.environ, GEMS_VENDOR_NAME=VENDOR, TORCH_DEVICE_BACKEND_AUTOLOAD="0", **env)
    out = subprocess.run([sys.executable, __file__, flag, "--runs", str(runs)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two sides (medians over them)")
    parser.add_argument("--out", default="docs/benchmarks")
    parser.add_argument("--native-only", action="store_true")
    parser.add_argument("--gems-only", action="store_true")
    args = parser.parse_args()
    if args.native_only and os.environ.get("GEMS_AUTOTUNE") == "1":
        torch.backends.cudnn.benchmark = True  # torch's own timed choice, against gems' GEMS_AUTOTUNE=1
    if args.native_only or args.gems_only:
        print(json.dumps(all_times(NATIVE if args.native_only else "gems", args.runs)))
        return
    vendor_convs = "convolution" in {name for name, _ in flag_gems._C.vendor_kernels()}
    natives, gems_times, im2cols, fallbacks = [], [], [], {}
    for _ in range(max(1, args.rounds)):
        natives.append(child_times("--native-only", args.runs))
        if vendor_convs:
            im2cols.append(child_times("--gems-only", args.runs, GEMS_CONV="gemm"))
        round_times = {}
        for name, shapes, op in cases():
            for backward in (False, True):
                case = f"{name} {'fwd+bwd' if backward else 'fwd'}"
                flag_gems.reset_counts()
                round_times[case] = measure(name, shapes, op, "gems", backward, args.runs)
                fallbacks[case] = sorted(flag_gems.fallback_counts())
        gems_times.append(round_times)

    def over_rounds(times, case):
        return statistics.median(t[case] for t in times)
    im2col = {case: over_rounds(im2cols, case) for case in im2cols[0]} if im2cols else {}
    rows = []
    for name, shapes, op in cases():
        for backward in (False, True):
            case = f"{name} {'fwd+bwd' if backward else 'fwd'}"
            gems, native, fallback = over_rounds(gems_times, case), over_rounds(natives, case), fallbacks[case]
            row = {"case": case, "gems_ms": gems, "torch_ms": native, "speedup": native / gems,
                   "fallback_ops": fallback}
            if im2col and name.startswith("conv"):
                row["gems_im2col_ms"] = im2col[case]
            rows.append(row)
            print(f"{case:55s} gems {gems:9.3f} ms  {NATIVE} {native:9.3f} ms  {native / gems:5.2f}x"
                  + (f"  (im2col+GEMM {row['gems_im2col_ms']:9.3f} ms)" if "gems_im2col_ms" in row else "")
                  + (f"  fallback: {fallback}" if fallback else ""), flush=True)
    device = torch.cuda.get_device_name() if ACCELERATOR else platform.processor() or platform.machine()
    default_dtype = torch.bfloat16 if ACCELERATOR else torch.float32
    stem = (f"vision_{flag_gems.vendor_name}" + ("" if DTYPE == default_dtype else f"_{str(DTYPE).split('.')[-1]}")
            + ("_autotune" if os.environ.get("GEMS_AUTOTUNE") == "1" else ""))
    meta = {"date": datetime.date.today().isoformat(), "device": device, "vendor": flag_gems.vendor_name,
            "dtype": str(DTYPE), "batch": N, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "runs": args.runs, "rounds": args.rounds}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    title = f"gems ({flag_gems.vendor_name} vendor) vs torch {NATIVE}, {device}, {meta['dtype']}, {meta['date']}"
    (out / f"{stem}.json").write_text(json.dumps({"title": title, **meta, "rows": rows}, indent=1))
    lines = [f"# Vision ops, {flag_gems.vendor_name} vendor against {NATIVE} ({meta['date']}, {device})", "",
             f"{meta['dtype']}, batch {N}, torch {meta['torch']}; median over {args.rounds} alternating rounds of "
             f"each side's median of {args.runs} synchronised runs. "
             f"Speedup = {NATIVE} time / gems time."
             + (" gems convolutions run the vendor's kernels; the im2col column is the core's im2col + GEMM "
                "path on the same card (GEMS_CONV=gemm)." if im2col else "")
             + (" Timed algorithm choices on both sides: GEMS_AUTOTUNE=1 for gems, torch.backends.cudnn.benchmark "
                "for torch." if os.environ.get("GEMS_AUTOTUNE") == "1" else ""), "",
             f"| case | gems ms | {NATIVE} ms | speedup |" + (" im2col+GEMM ms |" if im2col else ""),
             "|---|---:|---:|---:|" + ("---:|" if im2col else "")]
    for r in rows:
        extra = (f" {r['gems_im2col_ms']:.3f} |" if "gems_im2col_ms" in r else " |") if im2col else ""
        lines.append(f"| {r['case']} | {r['gems_ms']:.3f} | {r['torch_ms']:.3f} | {r['speedup']:.2f}x |" + extra)
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
