"""A small MLP with layer_norm and softmax trains on gems with no fallback
(strict mode), and its loss and gradients match the same model on the CPU."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import flag_gems


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 32)
        self.norm = nn.LayerNorm(32)
        self.fc2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        h = F.gelu(self.norm(self.fc1(x)))
        h = torch.relu(self.fc2(h)) + torch.sigmoid(h) * torch.tanh(h)
        attn = torch.softmax(h @ h.t() / 4.0, dim=-1)  # a softmax inside the graph
        return self.head(attn @ h)


@pytest.mark.usefixtures("strict")
@pytest.mark.parametrize("loss_fn", [F.cross_entropy, lambda out, t: (out.softmax(-1) - 0.2).pow(2).mean()])
def test_training_step_matches_cpu_without_fallback(loss_fn):
    torch.manual_seed(0)
    cpu_model = MLP()
    gems_model = copy.deepcopy(cpu_model).to("gems")
    x, t = torch.randn(16, 12), torch.randint(0, 5, (16,))
    opt_cpu = torch.optim.SGD(cpu_model.parameters(), lr=0.1, momentum=0.9)
    opt_gems = torch.optim.SGD(gems_model.parameters(), lr=0.1, momentum=0.9)
    flag_gems.reset_counts()
    for _ in range(3):
        for model, opt, dev in ((cpu_model, opt_cpu, "cpu"), (gems_model, opt_gems, "gems")):
            opt.zero_grad()
            loss = loss_fn(model(x.to(dev)), t.to(dev))
            loss.backward()
            opt.step()
        for (name, p_cpu), p_gems in zip(cpu_model.named_parameters(), gems_model.parameters()):
            torch.testing.assert_close(p_gems.grad.cpu(), p_cpu.grad, rtol=1e-4, atol=1e-5, msg=name)
            torch.testing.assert_close(p_gems.detach().cpu(), p_cpu.detach(), rtol=1e-4, atol=1e-5, msg=name)
    assert flag_gems.fallback_counts() == {}
    native = flag_gems.native_counts()
    for op in ("addmm", "native_layer_norm_backward", "_softmax_backward_data", "gelu_backward", "mm"):
        assert native.get(op, 0) > 0, (op, native)


@pytest.mark.usefixtures("strict")
@pytest.mark.parametrize("make_optimizer", [
    lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.01),
    lambda ps: torch.optim.Adam(ps, lr=1e-2, amsgrad=True),
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
], ids=["adamw", "adam_amsgrad", "sgd_nesterov"])
def test_optimizers_with_gradient_clipping_match_cpu(make_optimizer):
    # A training loop as HF's Trainer runs it: clip_grad_norm_ (vector norms, reciprocal, clamp by a tensor)
    # before each optimizer step.
    torch.manual_seed(2)
    cpu_model = MLP()
    gems_model = copy.deepcopy(cpu_model).to("gems")
    x, t = torch.randn(16, 12), torch.randint(0, 5, (16,))
    runs = [(cpu_model, make_optimizer(cpu_model.parameters()), "cpu"),
            (gems_model, make_optimizer(gems_model.parameters()), "gems")]
    flag_gems.reset_counts()
    for _ in range(3):
        norms = []
        for model, opt, dev in runs:
            opt.zero_grad()
            F.cross_entropy(model(x.to(dev)), t.to(dev)).backward()
            norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5).cpu())
            opt.step()
        torch.testing.assert_close(norms[1], norms[0], rtol=1e-4, atol=1e-6)
        for (name, p_cpu), p_gems in zip(cpu_model.named_parameters(), gems_model.parameters()):
            torch.testing.assert_close(p_gems.detach().cpu(), p_cpu.detach(), rtol=1e-4, atol=1e-5, msg=name)
    assert flag_gems.fallback_counts() == {}


@pytest.mark.usefixtures("strict")
def test_inference_in_bfloat16():
    torch.manual_seed(1)
    model = MLP().to(torch.bfloat16)
    x = torch.randn(8, 12, dtype=torch.bfloat16)
    expected = model(x)
    got = copy.deepcopy(model).to("gems")(x.to("gems"))
    torch.testing.assert_close(got.cpu(), expected, rtol=5e-2, atol=5e-2)


def test_backward_thread_on_host_memory_vendors():
    # A host-memory vendor's kernels run in the calling thread, so flag_gems runs backward there too
    # (autograd's device thread cost two wake-ups a pass); an accelerator vendor keeps torch's own
    # device thread (not asserted: torch's choice). The gradient is right either way, also from a
    # thread of the user's own.
    import threading

    def backward_thread():
        x = torch.arange(5.0).to("gems").requires_grad_()
        seen = []
        x.register_hook(lambda g: seen.append(threading.get_ident()))
        (x * x).sum().backward()
        assert torch.equal(x.grad.cpu(), 2 * torch.arange(5.0))
        return seen[0]

    here = backward_thread()
    if flag_gems._C.vendor_memory_is_host():
        assert here == threading.get_ident()
    results = []
    worker = threading.Thread(target=lambda: results.append(backward_thread()))
    worker.start()
    worker.join()
    assert len(results) == 1


@pytest.mark.usefixtures("strict")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_mixed_precision_training_step(dtype):
    # torch.autocast("gems"): products in the autocast dtype, softmax, norms and losses in float32
    # (PyTorch's policy lists, as on CUDA); float32 parameters get float32 gradients, close to the float32
    # step on the CPU within the autocast dtype's precision; nothing falls back.
    torch.manual_seed(3)
    cpu_model = MLP()
    gems_model = copy.deepcopy(cpu_model).to("gems")
    x, t = torch.randn(16, 12), torch.randint(0, 5, (16,))
    expected = F.cross_entropy(cpu_model(x), t)
    expected.backward()
    flag_gems.reset_counts()
    with torch.autocast("gems", dtype=dtype):
        h = gems_model.fc1(x.to("gems"))
        assert h.dtype == dtype
        assert torch.softmax(h, -1).dtype == torch.float32 and gems_model.norm(h).dtype == torch.float32
        out = gems_model(x.to("gems"))
        loss = F.cross_entropy(out, t.to("gems"))
    assert out.dtype == dtype and loss.dtype == torch.float32
    loss.backward()
    torch.testing.assert_close(loss.detach().cpu(), expected.detach(), rtol=3e-2, atol=3e-2)
    for p_gems, p_cpu in zip(gems_model.parameters(), cpu_model.parameters()):
        assert p_gems.grad.dtype == torch.float32
        torch.testing.assert_close(p_gems.grad.cpu(), p_cpu.grad, rtol=1e-1, atol=3e-2)
    assert flag_gems.fallback_counts() == {}


@pytest.mark.usefixtures("strict")
def test_torch_compile_with_graph_capture_backends():
    # torch.compile's graph capture (dynamo, AOT autograd) runs on gems kernels; inductor has no gems code
    # generator, so the eager backends are what works (README).
    torch.manual_seed(4)
    model = MLP()
    gems_model = copy.deepcopy(model).to("gems")
    x = torch.randn(16, 12)
    expected = model(x)
    expected.sum().backward()
    for backend in ("eager", "aot_eager"):
        torch._dynamo.reset()
        gems_model.zero_grad()
        compiled = torch.compile(gems_model, backend=backend)
        out = compiled(x.to("gems"))
        out.sum().backward()
        torch.testing.assert_close(out.detach().cpu(), expected.detach(), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(gems_model.fc1.weight.grad.cpu(), model.fc1.weight.grad, rtol=1e-4, atol=1e-5)
