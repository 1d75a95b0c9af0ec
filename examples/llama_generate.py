"""Runs a HuggingFace transformers Llama model on gems: model.to("gems"), a
forward pass checked against the same model on the native device, and greedy
generate(). Weights are random (nothing is downloaded), so the text is
meaningless; what is shown is that unmodified transformers code runs on gems,
how fast, and which ops still fall back.
"""
import argparse
import copy
import time

import torch
import transformers

import flag_gems
from report import print_op_report


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--runs", type=int, default=5, help="timed generate() runs a device; the fastest counts")
    args = parser.parse_args()

    native = "cuda" if flag_gems.vendor_name == "nvidia" and torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if native == "cuda" else torch.float32
    config = transformers.LlamaConfig(vocab_size=1024, hidden_size=256, intermediate_size=688,
                                      num_hidden_layers=args.layers, num_attention_heads=8, num_key_value_heads=4,
                                      max_position_embeddings=512)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).to(dtype).eval()
    prompt = torch.randint(0, config.vocab_size, (1, 16), generator=torch.Generator().manual_seed(1))

    def timed_generate(device):
        ids, mask = prompt.to(device), torch.ones_like(prompt).to(device)
        # A full warm-up run: first-call costs (kernel loading, cuDNN graphs, caches) are not decode speed.
        model.generate(ids, attention_mask=mask, max_new_tokens=args.new_tokens, do_sample=False)
        sync = torch.cuda.synchronize if device != "cpu" and native == "cuda" else (lambda: None)
        sync()
        best = float("inf")
        for _ in range(args.runs):  # the fastest of a few: one run of ~0.1 s varied by 10-20% on 2 cores
            start = time.perf_counter()
            out = model.generate(ids, attention_mask=mask, max_new_tokens=args.new_tokens, do_sample=False)
            sync()
            best = min(best, time.perf_counter() - start)
        return out, best

    with torch.no_grad():
        reference = model.to(native)(prompt.to(native)).logits.float().cpu()
        native_tokens, native_elapsed = timed_generate(native)
        native_model = copy.deepcopy(model)  # for a divergence check below
        model = model.to(flag_gems.device)
        flag_gems.reset_counts()
        logits = model(prompt.to(flag_gems.device)).logits.float().cpu()
        tokens, elapsed = timed_generate(flag_gems.device)

    print(f"vendor: {flag_gems.vendor_name}; Llama with {args.layers} layers, {dtype}")
    print(f"max |logits(gems) - logits({native})| = {(logits - reference).abs().max().item():.3e}")
    print(f"generated {args.new_tokens} tokens greedily in {elapsed:.2f} s: {tokens[0, -args.new_tokens:].tolist()}")
    print(f"decode speed: gems {args.new_tokens / elapsed:.1f} tokens/s, {native} {args.new_tokens / native_elapsed:.1f} "
          f"tokens/s (ratio {native_elapsed / elapsed:.2f})")
    print_op_report()
    with torch.no_grad():
        report_divergence(tokens.cpu(), native_tokens.cpu(), model, native_model, native, prompt, args.new_tokens)


def report_divergence(tokens, native_tokens, model, native_model, native, prompt, new_tokens):
    """Greedy decoding repeats the argmax, so where two candidates' logits are
    within rounding of each other (random weights make such ties common in
    16-bit types) the two devices may pick differently and then go their own
    ways. Where the tokens first differ, this shows each device's own logits of
    that decode step (the cached path generate() runs) for both candidates:
    a near-tie on both, or a real disagreement."""
    differ = (tokens != native_tokens).nonzero()
    if len(differ) == 0:
        print(f"tokens: identical to {native}'s")
        return
    at = differ[0, 1].item()
    ours, theirs = tokens[0, at].item(), native_tokens[0, at].item()
    step = at - prompt.shape[1]

    def step_logits(m, device):
        out = m.generate(prompt.to(device), attention_mask=torch.ones_like(prompt).to(device),
                         max_new_tokens=new_tokens, do_sample=False, output_logits=True, return_dict_in_generate=True)
        return out.logits[step][0].float().cpu()

    lg, ln = step_logits(model, flag_gems.device), step_logits(native_model, native)
    print(f"tokens: identical to {native}'s for {step} new tokens, then gems picks {ours}, {native} {theirs}; "
          f"that step's logit of {ours} minus that of {theirs}: {lg[ours] - lg[theirs]:+.3e} on gems, "
          f"{ln[ours] - ln[theirs]:+.3e} on {native} (the step's logits differ by at most {(lg - ln).abs().max():.3e})")


if __name__ == "__main__":
    main()
