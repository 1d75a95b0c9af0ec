"""The cpu vendor against torch's CPU kernels in the same process, at the
sizes a small model's decode step runs: elementwise ops over a hidden-size
row (one token), with and without a broadcast scalar, the matrix-vector
products of its projections, and the lookups of generation (embedding,
gather, a padding-mask index). Times are wall-clock per call (the cpu vendor
runs kernels synchronously), the best of several repeats of many calls.

    GEMS_VENDOR=cpu python3 benchmarks/bench_cpu_ops.py [--calls 2000]

Writes docs/benchmarks/cpu_ops.json and cpu_ops.md.
"""
import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import flag_gems


def per_call_us(fn, args, calls, repeats=7):
    for _ in range(50):
        fn(*args)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn(*args)
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def cases():
    """(name, make_inputs(), fn)."""
    out = []
    for width in (256, 4096):
        row = lambda w=width: (torch.randn(1, w),)
        out += [
            (f"mul x*x 1x{width}", row, lambda x: x * x),
            (f"mul by scalar 1x{width}", row, lambda x: x * 2.0),
            (f"add eps 1x{width}", row, lambda x: x + 1e-6),
            (f"pow 2 1x{width}", row, lambda x: x.pow(2)),
            (f"rsqrt 1x{width}", row, torch.rsqrt),
            (f"exp 1x{width}", row, torch.exp),
            (f"silu 1x{width}", row, F.silu),
            (f"mean 1x{width}", row, lambda x: x.mean(-1, keepdim=True)),
        ]
    for m, k, n in ((1, 256, 688), (1, 688, 256), (1, 256, 1024), (16, 256, 688), (1, 4096, 4096)):
        out.append((f"linear {m}x{k} -> {n}", lambda m=m, k=k, n=n: (torch.randn(m, k), torch.randn(n, k)), F.linear))
    # the same projections of a bf16 model (weights read as stored, widened in registers)
    for m, k, n in ((1, 256, 688), (4, 256, 688), (1, 4096, 4096)):
        out.append((f"linear bf16 {m}x{k} -> {n}",
                    lambda m=m, k=k, n=n: (torch.randn(m, k, dtype=torch.bfloat16), torch.randn(n, k, dtype=torch.bfloat16)),
                    F.linear))
    # softmax: sampling's over a vocabulary, eager attention's weights in a decode step (32 heads, 128 keys);
    # log_softmax and cross entropy over a vocabulary (scoring, a training step's loss)
    out += [
        ("softmax 1x32000", lambda: (torch.randn(1, 32000),), lambda x: torch.softmax(x, -1)),
        ("softmax 32x1x128", lambda: (torch.randn(32, 1, 128),), lambda x: torch.softmax(x, -1)),
        ("log_softmax 1x32000", lambda: (torch.randn(1, 32000),), lambda x: torch.log_softmax(x, -1)),
        ("cross_entropy 16x32000", lambda: (torch.randn(16, 32000), torch.randint(0, 32000, (16,))), F.cross_entropy),
    ]
    # activations of GPT-2 and Gemma (tanh, gelu's tanh form) over one token's MLP row
    out += [
        ("tanh 1x4096", lambda: (torch.randn(1, 4096),), torch.tanh),
        ("gelu(tanh) 1x4096", lambda: (torch.randn(1, 4096),), lambda x: F.gelu(x, approximate="tanh")),
        ("gelu 64x2752", lambda: (torch.randn(64, 2752),), F.gelu),  # the exact (erf) form: BERT, GPT-NeoX
    ]
    # norms over a 64-token prompt's rows
    out += [
        ("layer_norm 64x1024", lambda: (torch.randn(64, 1024), torch.randn(1024), torch.randn(1024)),
         lambda x, w, b: F.layer_norm(x, (1024,), w, b)),
        ("rms_norm 64x1024", lambda: (torch.randn(64, 1024), torch.randn(1024)),
         lambda x, w: F.rms_norm(x, (1024,), w, 1e-6)),
    ]
    # attention of the README's Llama (8 query heads, 4 key heads, head dim 32): a decode step against 128
    # cached positions, and its 128-token prompt (causal)
    out += [
        ("SDPA decode hq8 hkv4 d32, 128 keys", lambda: (torch.randn(1, 8, 1, 32), torch.randn(1, 4, 128, 32),
                                                       torch.randn(1, 4, 128, 32)),
         lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)),
        ("SDPA causal h8 d32, 128 tokens", lambda: tuple(torch.randn(1, 8, 128, 32) for _ in range(3)),
         lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
    ]
    # sampling: top-k over a vocabulary, and the full sort of top-p
    out += [
        ("topk 50 of 32000", lambda: (torch.randn(1, 32000),), lambda x: torch.topk(x, 50)),
        ("sort 32000", lambda: (torch.randn(1, 32000),), lambda x: torch.sort(x, descending=True)),
    ]
    # lookups: an embedding of a prompt, the repetition penalty's gather, a padded batch's mask lookup
    out += [
        ("embedding 8000x1024, 512 ids", lambda: (torch.randint(0, 8000, (512,)), torch.randn(8000, 1024)), F.embedding),
        ("gather 4x32000, 100 a row", lambda: (torch.randn(4, 32000), torch.randint(0, 32000, (4, 100))),
         lambda x, i: torch.gather(x, 1, i)),
        ("mask[b, kv] bool 8x1024", lambda: (torch.rand(8, 1024) > 0.1, torch.arange(8)[:, None, None, None],
                                            torch.arange(1024)[None, None, None, :]), lambda m, a, b: m[a, b]),
    ]
    # a training step's scatter-adds and dropout, and a MoE layer's expert count (float ids: torch's CPU
    # histc takes no integers)
    out += [
        ("embedding backward 4096 ids, 32000x1024", lambda: (torch.randn(4096, 1024), torch.randint(0, 32000, (4096,))),
         lambda g, i: torch.ops.aten.embedding_dense_backward(g, i, 32000, -1, False)),
        ("index_put accumulate 8192 -> 4096x1024", lambda: (torch.randn(4096, 1024), torch.randint(0, 4096, (8192,)),
                                                           torch.randn(8192, 1024)),
         lambda x, i, v: torch.index_put(x, (i,), v, accumulate=True)),
        ("dropout 2048x2048 (train)", lambda: (torch.randn(2048, 2048),), lambda x: torch.native_dropout(x, 0.1, True)),
        ("histc 8192 ids, 8 bins", lambda: (torch.randint(0, 8, (8192,)).float(),), lambda e: torch.histc(e, 8, 0, 7)),
    ]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "benchmarks"))
    args = parser.parse_args()
    assert flag_gems.vendor_name == "cpu", "compares the cpu vendor with torch CPU: run with GEMS_VENDOR=cpu"
    torch.manual_seed(0)
    rows = []
    for name, make, fn in cases():
        native = make()
        gems = tuple(t.to("gems") for t in native)
        heavy = ("4096 -> 4096", "embedding", "index_put", "dropout")
        calls = max(20, args.calls // 100) if any(h in name for h in heavy) else args.calls
        t_native, t_gems = per_call_us(fn, native, calls), per_call_us(fn, gems, calls)
        rows.append({"case": name, "gems_us": t_gems, "torch_us": t_native, "speedup": t_native / t_gems})
        print(f"{name:<40} gems {t_gems:9.2f} us  torch {t_native:9.2f} us  x{t_native / t_gems:5.2f}")
    report = {"benchmark": "cpu vendor vs torch CPU, same process, wall-clock per call (best of 7 repeats)",
              "date": datetime.date.today().isoformat(), "machine": platform.machine(),
              "processor": platform.processor() or "unknown", "cores": torch.get_num_threads(),
              "torch": torch.__version__, "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cpu_ops.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"cpu vendor vs torch CPU, {report['date']}, {report['cores']} threads, torch {report['torch']}", "",
             "| case | gems us | torch CPU us | speedup |", "|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['gems_us']:.2f} | {r['torch_us']:.2f} | {r['speedup']:.2f} |" for r in rows]
    (out / "cpu_ops.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
