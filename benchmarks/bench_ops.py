"""Op benchmarks on the nvidia vendor: each case of the targets table (same
shapes) runs on gems tensors and on torch's own CUDA path in the same
process. GPU time is measured with CUDA events around each call, the L2
cache flushed before every run, and the median of many runs is reported,
with the speedup (torch time / gems time) and the memory throughput.

    GEMS_VENDOR=nvidia python3 benchmarks/bench_ops.py [--runs 50] [--out docs/benchmarks]
    python3 benchmarks/bench_ops.py --render docs/benchmarks/ops_<card>.json   # the table again

A size sweep follows: a few ops that dominate LLM work, each from small to
large, so that the ratio is seen where launch costs rule as well as where
bandwidth or tensor cores do. Writes ops_<card>.json and ops_<card>.md;
benchmarks/plot.py draws the PNG.
"""
import argparse
import datetime
import json
import math
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

import flag_gems

BF16, F32 = torch.bfloat16, torch.float32


def cases():
    """(name, make_inputs(device), fn, bytes moved or None, flops or None)."""
    def t(*shape, dtype=BF16, dev="cuda"):
        return torch.randn(*shape, dtype=dtype, device=dev)

    def ids(n, high, dev):
        return torch.randint(0, high, (n,), device=dev)

    b2 = 2  # bytes per bf16 element
    return [
        ("add bf16 4096x4096", lambda d: (t(4096, 4096, dev=d), t(4096, 4096, dev=d)), torch.add, 3 * 4096 * 4096 * b2, None),
        ("mul broadcast bf16 4096x4096 * 4096", lambda d: (t(4096, 4096, dev=d), t(4096, dev=d)), torch.mul,
         2 * 4096 * 4096 * b2, None),
        ("silu bf16 4096x11008", lambda d: (t(4096, 11008, dev=d),), F.silu, 2 * 4096 * 11008 * b2, None),
        ("gelu(tanh) bf16 4096x11008", lambda d: (t(4096, 11008, dev=d),), lambda x: F.gelu(x, approximate="tanh"),
         2 * 4096 * 11008 * b2, None),
        ("exp f32 4096x4096", lambda d: (t(4096, 4096, dtype=F32, dev=d),), torch.exp, 2 * 4096 * 4096 * 4, None),
        ("sum(dim=-1) bf16 4096x4096", lambda d: (t(4096, 4096, dev=d),), lambda x: x.sum(dim=-1), 4096 * 4096 * b2, None),
        ("mean(dim=-1) f32 4096x4096", lambda d: (t(4096, 4096, dtype=F32, dev=d),), lambda x: x.mean(dim=-1),
         4096 * 4096 * 4, None),
        ("softmax(dim=-1) bf16 1024x4096", lambda d: (t(1024, 4096, dev=d),), lambda x: torch.softmax(x, -1),
         2 * 1024 * 4096 * b2, None),
        ("layer_norm bf16 4096x4096", lambda d: (t(4096, 4096, dev=d), t(4096, dev=d), t(4096, dev=d)),
         lambda x, w, b: F.layer_norm(x, (4096,), w, b), 2 * 4096 * 4096 * b2, None),
        ("rms_norm bf16 4096x4096", lambda d: (t(4096, 4096, dev=d), t(4096, dev=d)),
         lambda x, w: F.rms_norm(x, (4096,), w, 1e-6), 2 * 4096 * 4096 * b2, None),
        ("mm bf16 4096^3", lambda d: (t(4096, 4096, dev=d), t(4096, 4096, dev=d)), torch.mm, None, 2 * 4096 ** 3),
        ("mm bf16 16x4096 @ 4096x4096 (decode)", lambda d: (t(16, 4096, dev=d), t(4096, 4096, dev=d)), torch.mm,
         (16 * 4096 + 4096 * 4096 + 16 * 4096) * b2, None),
        ("bmm bf16 32x1024x128 @ 32x128x1024", lambda d: (t(32, 1024, 128, dev=d), t(32, 128, 1024, dev=d)), torch.bmm,
         None, 2 * 32 * 1024 * 128 * 1024),
        ("embedding 32000x4096, 4096 ids", lambda d: (ids(4096, 32000, d), t(32000, 4096, dev=d)), F.embedding,
         2 * 4096 * 4096 * b2, None),
        ("index_select rows, same shape", lambda d: (t(32000, 4096, dev=d), ids(4096, 32000, d)),
         lambda w, i: torch.index_select(w, 0, i), 2 * 4096 * 4096 * b2, None),
        ("cat dim 0, 2x bf16 4096x4096", lambda d: (t(4096, 4096, dev=d), t(4096, 4096, dev=d)),
         lambda a, b: torch.cat([a, b]), 4 * 4096 * 4096 * b2, None),
        ("argmax f32 4096x32000", lambda d: (t(4096, 32000, dtype=F32, dev=d),), lambda x: x.argmax(dim=-1),
         4096 * 32000 * 4, None),
        ("topk k=50 f32 64x32000", lambda d: (t(64, 32000, dtype=F32, dev=d),), lambda x: torch.topk(x, 50, dim=-1),
         64 * 32000 * 4, None),
        ("cumsum f32 4096x4096", lambda d: (t(4096, 4096, dtype=F32, dev=d),), lambda x: torch.cumsum(x, -1),
         2 * 4096 * 4096 * 4, None),
        ("cross_entropy f32 4096x32000", lambda d: (t(4096, 32000, dtype=F32, dev=d), ids(4096, 32000, d)),
         F.cross_entropy, 4096 * 32000 * 4, None),
        ("SDPA causal bf16 4x32x2048x128", lambda d: tuple(t(4, 32, 2048, 128, dev=d) for _ in range(3)),
         lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), None, 4 * 32 * 2048 * 2048 * 128 * 2),
    ]


def sweep_cases():
    """(op, size label, make_inputs(device), fn, bytes or None, flops or None) from small to large."""
    def t(*shape, dev):
        return torch.randn(*shape, dtype=BF16, device=dev)

    out = []
    for n in (1 << 12, 1 << 16, 1 << 20, 1 << 24, 1 << 26):
        out.append(("add bf16", f"{n} el", lambda d, n=n: (t(n, dev=d), t(n, dev=d)), torch.add, 3 * n * 2, None))
    for rows in (1, 16, 256, 4096, 16384):
        out.append(("rms_norm bf16 x4096", f"{rows} rows", lambda d, r=rows: (t(r, 4096, dev=d), t(4096, dev=d)),
                    lambda x, w: F.rms_norm(x, (4096,), w, 1e-6), 2 * rows * 4096 * 2, None))
    for rows in (1, 16, 256, 4096, 16384):
        out.append(("softmax bf16 x4096", f"{rows} rows", lambda d, r=rows: (t(r, 4096, dev=d),),
                    lambda x: torch.softmax(x, -1), 2 * rows * 4096 * 2, None))
    for n in (256, 1024, 2048, 4096, 8192):
        out.append(("mm bf16 n^3", f"n={n}", lambda d, n=n: (t(n, n, dev=d), t(n, n, dev=d)), torch.mm, None,
                    2 * n ** 3))
    # a decode step's projections as nn.Linear runs them (weight [out, in]), Llama-3-8B's shapes
    for tokens in (1, 16):
        for n_out, n_in in ((4096, 4096), (14336, 4096), (4096, 14336), (128256, 4096)):
            out.append((f"linear bf16 {tokens} tokens", f"{n_in}->{n_out}",
                        lambda d, m=tokens, n=n_out, k=n_in: (t(m, k, dev=d), t(n, k, dev=d)), F.linear,
                        (tokens * n_in + n_out * n_in + tokens * n_out) * 2, None))
    for seq in (128, 512, 2048, 8192):
        out.append(("SDPA causal bf16 b1 h32 d128", f"seq={seq}",
                    lambda d, s=seq: tuple(t(1, 32, s, 128, dev=d) for _ in range(3)),
                    lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), None,
                    32 * seq * seq * 128 * 2))
    for cache in (512, 4096, 32768):  # one new token per sequence against its KV cache
        out.append(("SDPA decode bf16 b8 h32 d128", f"kv={cache}",
                    lambda d, s=cache: (t(8, 32, 1, 128, dev=d), t(8, 32, s, 128, dev=d), t(8, 32, s, 128, dev=d)),
                    lambda q, k, v: F.scaled_dot_product_attention(q, k, v), 2 * 8 * 32 * cache * 128 * 2, None))
    for cache in (4096, 32768):  # grouped-query heads, as Llama 3: 32 query heads over 8 key heads
        out.append(("SDPA decode GQA bf16 b8 hq32 hkv8 d128", f"kv={cache}",
                    lambda d, s=cache: (t(8, 32, 1, 128, dev=d), t(8, 8, s, 128, dev=d), t(8, 8, s, 128, dev=d)),
                    lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
                    2 * 8 * 8 * cache * 128 * 2, None))
    for cache in (512, 4096):  # one sequence: a chat session's step, where launch and prologue costs show
        out.append(("SDPA decode GQA bf16 b1 hq32 hkv8 d128", f"kv={cache}",
                    lambda d, s=cache: (t(1, 32, 1, 128, dev=d), t(1, 8, s, 128, dev=d), t(1, 8, s, 128, dev=d)),
                    lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
                    2 * 8 * cache * 128 * 2, None))
    # lookups by index tensors: the repetition penalty's gather, HF's padding-mask lookup, MoE-style row picks
    out.append(("gather f32 4096x32000", "50 a row", lambda d: (torch.randn(4096, 32000, device=d),
                                                                torch.randint(0, 32000, (4096, 50), device=d)),
                lambda x, i: torch.gather(x, 1, i), 4096 * 50 * 16, None))
    out.append(("mask[b, kv] bool", "8x4096", lambda d: (torch.rand(8, 4096, device=d) > 0.1,
                                                         torch.arange(8, device=d)[:, None, None, None],
                                                         torch.arange(4096, device=d)[None, None, None, :]),
                lambda m, a, b: m[a, b], 2 * 8 * 4096, None))
    out.append(("x[ids] bf16 32000x4096", "4096 ids",
                lambda d: (t(32000, 4096, dev=d), torch.randint(0, 32000, (4096,), device=d)),
                lambda x, i: x[i], 2 * 4096 * 4096 * 2, None))
    # whole-tensor reductions (a loss, a check on the logits): one output, many blocks
    out.append(("sum f32, all elements", "4096x4096", lambda d: (torch.randn(4096, 4096, device=d),),
                lambda x: x.sum(), 4096 * 4096 * 4, None))
    out.append(("argmax f32, all elements", "8x128256", lambda d: (torch.randn(8, 128256, device=d),),
                lambda x: x.argmax(), 8 * 128256 * 4, None))
    # a sampling step of generate(do_sample=True) over Llama 3's vocabulary, 8 sequences
    out.append(("sort f32 (top-p)", "8x128256", lambda d: (torch.randn(8, 128256, device=d),),
                lambda x: torch.sort(x, descending=False), 8 * 128256 * (4 + 4 + 8), None))
    out.append(("scatter f32 (top-p mask back)", "8x128256",
                lambda d: (torch.randn(8, 128256, device=d), torch.rand(8, 128256, device=d).argsort(-1)),
                lambda x, i: x.scatter(1, i, x), 8 * 128256 * (4 + 8 + 4 + 4), None))
    # (one non-zero weight a row, so both draw the same token and results compare; the work is the same)
    out.append(("multinomial f32", "8x128256, 1 draw",
                lambda d: (torch.zeros(8, 128256, device=d).scatter_(1, torch.randint(0, 128256, (8, 1), device=d), 1.0),),
                lambda p: torch.multinomial(p, 1), 8 * 128256 * 4, None))
    # a MoE layer's bookkeeping (Mixtral-like: 8 experts, 2 per token, 4096 tokens): tokens per expert,
    # and the inverse of the sorting permutation
    out.append(("histc int32 (MoE tokens per expert)", "8192 ids, 8 bins",
                lambda d: (torch.randint(0, 8, (8192,), device=d, dtype=torch.int32),),
                lambda e: torch.histc(e, bins=8, min=0, max=7), 8192 * 4, None))
    out.append(("index_put (MoE inverse permutation)", "8192",
                lambda d: (torch.empty(8192, dtype=torch.long, device=d), torch.randperm(8192, device=d),
                           torch.arange(8192, device=d)),
                lambda t, p, v: t.index_put_((p,), v), 8192 * 24, None))
    # boolean masks: a mask's positions (HF MoE routing's torch.where(expert_mask[e]), an eighth of the
    # tokens an expert), rows picked by a mask, and masked_select (a count, a read-back, then the copy)
    out.append(("nonzero bool (MoE: one expert's tokens)", "2x4096",
                lambda d: (torch.rand(2, 4096, device=d) < 0.125,), torch.nonzero, 2 * 4096 * (1 + 0.125 * 16), None))
    out.append(("x[mask] bf16, half the rows", "4096x4096",
                lambda d: (t(4096, 4096, dev=d), torch.rand(4096, device=d) < 0.5), lambda x, m: x[m],
                4096 * 4096 * 2, None))
    out.append(("masked_select f32, half the elements", "4096x4096",
                lambda d: (torch.randn(4096, 4096, device=d), torch.rand(4096, 4096, device=d) < 0.5),
                torch.masked_select, 4096 * 4096 * (4 + 1 + 2), None))
    # a training step's scatter-adds: the embedding's gradient (Llama-2's vocabulary, 4096 tokens) and the
    # backward of an MoE layer's x[ids] (8192 rows of 4096 summed into 4096)
    out.append(("embedding backward bf16 32000x4096", "4096 ids",
                lambda d: (t(4096, 4096, dev=d), torch.randint(0, 32000, (4096,), device=d)),
                lambda g, i: torch.ops.aten.embedding_dense_backward(g, i, 32000, -1, False),
                (32000 * 4096 + 2 * 4096 * 4096) * 2, None))
    out.append(("index_put accumulate bf16 4096x4096", "8192 ids",
                lambda d: (t(4096, 4096, dev=d), torch.randint(0, 4096, (8192,), device=d), t(8192, 4096, dev=d)),
                lambda x, i, v: torch.index_put(x, (i,), v, accumulate=True), (3 * 4096 + 8192) * 4096 * 2, None))
    # dropout in training (GPT-2, BERT), forward with p = 0 so that the result can be checked (the output is
    # the input: CHECKS) and the work is the same (a draw per element, the mask and the output written)
    out.append(("dropout bf16 4096x4096 (train)", "p=0",
                lambda d: (t(4096, 4096, dev=d),), lambda x: torch.native_dropout(x, 0.0, True),
                4096 * 4096 * (2 + 2 + 1), None))
    # four new tokens per sequence at once (a speculative-decoding step), grouped-query heads
    out.append(("SDPA decode GQA bf16 b8 hq32 hkv8 d128 4 queries", "kv=4096",
                lambda d: (t(8, 32, 4, 128, dev=d), t(8, 8, 4096, 128, dev=d), t(8, 8, 4096, 128, dev=d)),
                lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
                2 * 8 * 8 * 4096 * 128 * 2, None))
    return out


ROUNDS = 3


def _dropout_kept_everything(out, args):
    # p = 0 keeps every element: gems' output must be its input. Not compared with torch's: its CUDA
    # dropout drops an element now and then even at p = 0 (one of 16.7M in a 2026-11-27 H100 run), as
    # curand's uniform numbers lie in (0, 1] and an element is kept when its number is below 1 - p.
    y, mask = out
    return bool(torch.equal(y.cpu(), args[0].cpu()) and mask.cpu().all()), "gems' output is not its input at p = 0"


def _index_put_sums(out, args):
    # Duplicate ids sum in bf16 in an order neither side fixes, so both are checked against the sums
    # in float64 (2026-11-27, H100: gems within 0.031 of them, torch's CUDA within 0.096).
    x, i, v = (a.cpu() for a in args)
    exact = torch.index_put(x.double(), (i,), v.double(), accumulate=True)
    err = (out.cpu().double() - exact).abs().max().item()
    return bool(torch.allclose(out.cpu().double(), exact, rtol=2e-2, atol=2e-2)), f"max |gems - float64 sums| {err:.4g}"


# Cases whose gems result is checked on its own terms rather than against torch's (why: above).
CHECKS = {"dropout bf16 4096x4096 (train) p=0": _dropout_kept_everything,
          "index_put accumulate bf16 4096x4096 8192 ids": _index_put_sums}


def agreement(name, fn, gems_out, native_args):
    """Whether the gems result is right (against torch's unless CHECKS says otherwise) and, if not, how far off."""
    if name in CHECKS:
        return CHECKS[name](gems_out, native_args)
    ref = fn(*native_args)
    a = gems_out[0] if isinstance(gems_out, tuple) else gems_out
    b = ref[0] if isinstance(ref, tuple) else ref
    if a.shape != b.shape:
        return False, f"shapes {tuple(a.shape)} vs {tuple(b.shape)}"
    ok = torch.allclose(a.cpu().float(), b.cpu().float(), rtol=2e-2, atol=2e-2)
    return ok, f"max |gems - torch| {(a.cpu().float() - b.cpu().float()).abs().max().item():.4g}"


def measure(name, make, fn, nbytes, flops, runs, flush):
    """One row: gems and torch times, speedup, throughput, whether results agree and what fell back.

    Timed in ROUNDS rounds, each on freshly made inputs, gems then torch, and the median taken over
    all rounds' runs: on the shared H100 VM a single set of runs, or a single allocation of a large
    table, sometimes ran 2-8x slow for one side only (the embedding row once read 8.7x, rms_norm 0.53x)."""
    gems_times, torch_times, alive = [], [], []
    for round_ in range(ROUNDS):
        torch.manual_seed(round_)
        native_args = make("cuda")
        gems_args = tuple(a.to("gems") for a in native_args)
        if round_ == 0:
            flag_gems.reset_counts()
            try:
                gems_out = fn(*gems_args)
                fell_back = sorted(flag_gems.fallback_counts())
                ok, diff = agreement(name, fn, gems_out, native_args)
            except Exception as e:  # a failing case is reported, not hidden
                return {"case": name, "error": f"{type(e).__name__}: {e}"[:300]}
        gems_times += gpu_times(fn, gems_args, runs, flush)
        torch_times += gpu_times(fn, native_args, runs, flush)
        alive.append((native_args, gems_args))  # kept, so the next round's inputs are new allocations
    t_gems, t_torch = statistics.median(gems_times), statistics.median(torch_times)
    row = {"case": name, "gems_ms": t_gems, "torch_ms": t_torch, "speedup": t_torch / t_gems,
           "matches_torch": bool(ok), "fallback_ops": fell_back}
    if not ok:
        row["mismatch"] = diff
    if nbytes:
        row["gems_GBps"] = nbytes / t_gems / 1e6
        row["torch_GBps"] = nbytes / t_torch / 1e6
    if flops:
        row["gems_TFLOPs"] = flops / t_gems / 1e9
        row["torch_TFLOPs"] = flops / t_torch / 1e9
    return row


def describe(row):
    if "error" in row:
        return f"{row['case']:<40} ERROR {row['error']}"
    rate = f"{row['gems_GBps']:7.0f} GB/s" if "gems_GBps" in row else f"{row['gems_TFLOPs']:7.1f} TF/s"
    fell_back = row["fallback_ops"]
    return (f"{row['case']:<40} gems {row['gems_ms']:8.3f} ms  torch {row['torch_ms']:8.3f} ms  x{row['speedup']:5.2f}"
            f"  {rate}  {'' if row['matches_torch'] else 'MISMATCH (' + row.get('mismatch', '') + ') '}"
            f"{'fallback: ' + ','.join(fell_back) if fell_back else ''}")


def md_row(label, r):
    if "error" in r:
        return f"| {label} | error: {r['error']} | | | | |"
    rate = f"{r['gems_GBps']:.0f} GB/s" if "gems_GBps" in r else f"{r['gems_TFLOPs']:.1f} TFLOP/s"
    return (f"| {label} | {r['gems_ms']:.3f} | {r['torch_ms']:.3f} | {r['speedup']:.2f} | {rate} | "
            f"{', '.join(r['fallback_ops']) or '-'} |")


def gpu_times(fn, args, runs, flush):
    for _ in range(3):
        fn(*args)
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        flush.zero_()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(*args)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def render_markdown(report):
    lines = [f"# Op benchmarks: gems ({report.get('vendor', 'nvidia')} vendor) vs torch CUDA eager", "",
             f"{report['date']}, {report['card']}, torch {report['torch']}; {report['method']}.", "",
             "| case | gems ms | torch ms | speedup | gems throughput | fallback |", "|---|---|---|---|---|---|"]
    lines += [md_row(r["case"], r) for r in report["rows"]]
    lines += ["", f"Geometric-mean speedup over torch eager: {report['geomean_speedup']:.3f} (target 1.3)", "",
              "## Size sweep", "", "| op, size | gems ms | torch ms | speedup | gems throughput | fallback |",
              "|---|---|---|---|---|---|"]
    lines += [md_row(r["case"], r) for r in report["sweep"]] + [""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--render", metavar="JSON", help="only rewrite the markdown table beside a measured JSON")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "benchmarks"))
    parser.add_argument("--only", metavar="WORDS", help="comma-separated parts of case names: time only the cases "
                        "whose name contains one (an experiment; prints, writes no files)")
    args = parser.parse_args()
    wanted = [w for w in (args.only or "").split(",") if w]
    picked = (lambda name: any(w in name for w in wanted)) if wanted else (lambda name: True)
    if args.render:
        path = Path(args.render)
        path.with_suffix(".md").write_text(render_markdown(json.loads(path.read_text())))
        return
    # nvidia, or amd's HIP code built for NVIDIA (ci/gpu_session.sh amd): both on CUDA memory, beside torch's CUDA.
    assert flag_gems.vendor_name in ("nvidia", "amd") and torch.cuda.is_available(), \
        "needs GEMS_VENDOR=nvidia (or the amd module built for NVIDIA) on an NVIDIA GPU"
    card = torch.cuda.get_device_name()
    flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")  # larger than any L2
    rows = []
    for name, make, fn, nbytes, flops in cases():
        if not picked(name):
            continue
        rows.append(measure(name, make, fn, nbytes, flops, args.runs, flush))
        print(describe(rows[-1]))
    sweep = []
    for op, size, make, fn, nbytes, flops in sweep_cases():
        if not picked(f"{op} {size}"):
            continue
        sweep.append({**measure(f"{op} {size}", make, fn, nbytes, flops, args.runs, flush), "op": op, "size": size})
        print(describe(sweep[-1]))
    speedups = [r["speedup"] for r in rows if "speedup" in r]
    report = {"benchmark": f"ops of the targets table, gems ({flag_gems.vendor_name} vendor) vs torch CUDA eager, "
                           "same process",
              "date": datetime.date.today().isoformat(), "card": card, "vendor": flag_gems.vendor_name,
              "torch": torch.__version__,
              "method": f"CUDA events, L2 flushed (256 MB write) before each run, median of {ROUNDS} rounds "
                        f"of {args.runs} runs, each round on fresh inputs",
              "geomean_speedup": math.exp(sum(map(math.log, speedups)) / len(speedups)) if speedups else None,
              "rows": rows, "sweep": sweep}
    if wanted:
        print(f"geomean speedup of these rows {report['geomean_speedup'] or float('nan'):.3f}")
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = card.replace(" ", "_") + ("" if flag_gems.vendor_name == "nvidia" else "_amd_on_nvidia")
    (out / f"ops_{tag}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"ops_{tag}.md").write_text(render_markdown(report))
    print(f"geomean speedup {report['geomean_speedup']:.3f}")


if __name__ == "__main__":
    main()
