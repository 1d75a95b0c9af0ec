"""Nothing a user does may kill the process, and the results that once were
wrong stay right. Each case here was a process abort or a wrong answer.

Calls that could abort run in a child process, so that a regression fails
one test instead of killing the whole suite.
"""
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import assert_same, requires_kernels, to_gems



def run_child(code, **env):
    """Runs code in a fresh Python with flag_gems (and env added); returns (returncode, output)."""
    proc = subprocess.run([sys.executable, "-c", "import torch, flag_gems\n" + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, **env))
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("strict", ["0", "1"])
def test_complex_results_never_abort(strict):
    """`.cdouble()`, the FFTs, stft and eig make complex tensors, which no
    vendor kernel serves: they ran into std::terminate. With strict mode they
    may raise, never abort."""
    code = """
    import os, torch
    x = torch.randn(64)
    calls = {
        "cdouble": lambda t: t.cdouble(),
        "fft": lambda t: torch.fft.fft(t),
        "rfft2": lambda t: torch.fft.rfft2(t.reshape(8, 8)),
        "ifft int": lambda t: torch.fft.ifft(t.to(torch.int16), n=10, norm="ortho"),
        "stft": lambda t: torch.stft(t, 16, window=torch.hann_window(16, device=t.device), return_complex=True),
        "eig": lambda t: torch.linalg.eig(t.reshape(8, 8))[0],
        "conj view": lambda t: t.cfloat().conj().mul(1j),
    }
    for name, f in calls.items():
        try:
            got = f(x.to("gems")).cpu()
        except NotImplementedError as e:
            assert os.environ["GEMS_STRICT"] == "1", (name, e)
            continue
        torch.testing.assert_close(got, f(x), msg=name)
    print("survived")
    """
    code, out = run_child(code, GEMS_STRICT=strict)
    assert code == 0 and "survived" in out, out


def test_an_escaped_not_served_is_a_python_error():
    """The signal a wrapper throws to reach the fallback is a NotImplementedError
    itself: wherever it might escape, Python gets an exception, not an abort."""
    code, out = run_child("""
    z = torch.randn(4, dtype=torch.complex128).to("gems")
    print((z + z).cpu().sum().real.item() == (z.cpu() + z.cpu()).sum().real.item())
    """)
    assert code == 0 and "True" in out, out


def test_conjugate_and_negative_views_copy_and_compute_right():
    z = torch.randn(5, 3, dtype=torch.complex64)
    g = z.to("gems")
    assert_same(g.conj().contiguous(), z.conj().contiguous())
    assert_same(g.conj().clone(), z.conj().clone())
    assert torch.equal(g.conj().cpu(), z.conj())
    assert_same(torch.neg(g.conj()).resolve_neg(), torch.neg(z.conj()).resolve_neg())
    # a CPU kernel that leaves a lazy conjugation on its out= (lu_solve with adjoint)
    a, b = torch.randn(3, 3, dtype=torch.complex128), torch.randn(4, 3, dtype=torch.complex128)
    lu, piv = torch.linalg.lu_factor(a)
    expected = torch.linalg.lu_solve(lu, piv, b, adjoint=True, left=False)
    got = torch.linalg.lu_solve(lu.to("gems"), piv.to("gems"), b.to("gems"), adjoint=True, left=False)
    torch.testing.assert_close(got.cpu(), expected)


def test_lstsq_with_a_padded_column_major_result():
    """The fallback's out= copy-back once resized a 3x2 result too small for its
    column-major strides (setStorage: out of bounds)."""
    a, b = torch.randn(4, 3), torch.randn(4, 2)
    expected = torch.linalg.lstsq(a, b).solution
    torch.testing.assert_close(torch.linalg.lstsq(a.to("gems"), b.to("gems")).solution.cpu(), expected)


@pytest.mark.parametrize("alpha", [False, True, 0, 1, 3])
def test_add_and_sub_on_bool_with_alpha(strict, alpha):
    a = torch.tensor([True, False, True, False])
    b = torch.tensor([True, True, False, False])
    assert_same(torch.add(a.to("gems"), b.to("gems"), alpha=alpha), torch.add(a, b, alpha=alpha))


def test_clamp_min_and_max_on_bool_by_tensors(strict):
    a = torch.tensor([True, False, True, False])
    b = torch.tensor([False, True, True, False])
    assert_same(torch.clamp_min(a.to("gems"), b.to("gems")), torch.clamp_min(a, b))
    assert_same(torch.clamp_max(a.to("gems"), b.to("gems")), torch.clamp_max(a, b))
    assert_same(torch.clamp(a.to("gems"), min=b.to("gems")), torch.clamp(a, min=b))
    with pytest.raises(NotImplementedError, match="Bool"):  # both bounds: CPU has no bool kernel either
        torch.clamp(a.to("gems"), b.to("gems"), b.to("gems"))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.int32, torch.bool], ids=str)
@pytest.mark.parametrize("beta,alpha", [(0.6, 0.2), (1, 1), (0, 2)])
def test_addr_rounds_as_cpu_does(strict, dtype, beta, alpha):
    """16-bit addr gives CPU's bits: each product rounded in the dtype, in CPU's
    order (the composite used one order, 8 bfloat16 ulps off where terms cancel)."""
    if dtype == torch.bool:
        beta, alpha = bool(beta), bool(alpha)
    elif not dtype.is_floating_point:
        beta, alpha = int(beta * 5), int(alpha * 5)
    g = torch.Generator().manual_seed(0)
    make = (lambda *s: torch.randint(0, 2, s, generator=g).bool()) if dtype == torch.bool else \
        (lambda *s: (torch.randn(*s, generator=g) * 4).to(dtype))
    self, v1, v2 = make(5, 10), make(5), make(10)
    expected = torch.addr(self, v1, v2, beta=beta, alpha=alpha)
    exact = {} if dtype == torch.float32 else dict(rtol=0, atol=0)  # float32: CPU may fuse a multiply-add
    got = torch.addr(*map(to_gems, (self, v1, v2)), beta=beta, alpha=alpha)
    assert_same(got, expected, **exact)
    inplace = self.to("gems").addr_(v1.to("gems"), v2.to("gems"), beta=beta, alpha=alpha)
    assert_same(inplace, expected, **exact)


def test_addr_inplace_keeps_the_shape_of_self():
    with pytest.raises(RuntimeError, match="2D tensor expected"):
        torch.zeros((), device="gems").addr_(torch.ones(5, device="gems"), torch.ones(10, device="gems"))


@pytest.mark.parametrize("name", ["logical_and_", "logical_or_", "logical_xor_", "add_", "mul_"])
def test_inplace_ops_never_resize_self(name):
    """x.logical_and_(y) runs logical_and(x, y, out=x): an out= that is an input
    is never resized, as on CPU (the fallback once handed the kernel two
    different tensors over the same memory, so CPU resized x)."""
    x, y = torch.ones(5, 1, dtype=torch.int16), torch.ones(5, dtype=torch.int16)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        getattr(x, name)(y)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        getattr(x.to("gems"), name)(y.to("gems"))


@requires_kernels("accumulate_rows")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_masked_index_put_accumulate_is_as_close_to_exact_as_cpu(dtype):
    """Masked index_put_ with accumulate sums repeated positions in float and
    rounds once, as CUDA does; CPU adds in the 16-bit type, rounding at every
    step. gems is held to the exact (float64) sums within one rounding, which
    CPU's result misses on this input."""
    g = torch.Generator().manual_seed(0)
    self = (torch.randn(5, 5, generator=g) * 3).to(dtype)
    rows = torch.tensor([[0], [1], [1], [0], [1], [4], [2], [0], [0], [4]])
    cols = torch.tensor([[3, 1, 4, 2, 3, 2, 1, 3, 2, 2]])
    values = (torch.randn(10, 10, generator=g) * 4).to(dtype)
    mask = torch.rand(10, 10, generator=g) > 0.2
    op = torch.ops.aten._unsafe_masked_index_put_accumulate
    exact = op(self.double(), mask, [rows, cols], values.double())
    got = op(self.to("gems"), mask.to("gems"), [rows.to("gems"), cols.to("gems")], values.to("gems")).cpu()
    torch.testing.assert_close(got, exact.to(dtype), rtol=0, atol=0)


def test_convolutions_run_on_gems_through_the_fallback():
    """Every convolution went to convolution_overrideable, which throws for
    out-of-tree devices; now they run (through the fallback until native
    kernels exist), forward and backward."""
    x = torch.randn(2, 3, 9, 9, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    xg, wg = (t.detach().to("gems").requires_grad_() for t in (x, w))
    for f in (lambda a, b: torch.nn.functional.conv2d(a, b, stride=2, padding=1),
              lambda a, b: torch.nn.functional.conv_transpose2d(a, b.transpose(0, 1), output_padding=1, stride=2)):
        expected, got = f(x, w), f(xg, wg)
        torch.testing.assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-4)
        expected.square().sum().backward()
        got.square().sum().backward()
        torch.testing.assert_close(xg.grad.cpu(), x.grad, rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(wg.grad.cpu(), w.grad, rtol=1e-4, atol=1e-3)
        for t in (x, w, xg, wg):
            t.grad = None


def test_threads_on_their_own_streams_lose_no_memory():
    """8 threads, each on a stream of its own, allocate, compute, hand blocks
    across streams (record_stream), hit out-of-memory and free, while the main
    thread empties the cache: every byte comes back, no error escapes."""
    import threading

    torch.gems.synchronize()
    torch.gems.empty_cache()
    base = torch.gems.memory_allocated()
    errors = []

    def work(seed):
        try:
            stream = torch.gems.Stream()
            g = torch.Generator().manual_seed(seed)
            with torch.gems.stream(stream):
                for i in range(150):
                    n = int(torch.randint(1, 1 << 16, (1,), generator=g))
                    a = torch.ones(n, device="gems")
                    b = (a * 2).sum()
                    assert b.item() == 2 * n
                    if i % 10 == 0:
                        with pytest.raises(torch.OutOfMemoryError):  # pressure: a refusal that must leak nothing
                            torch.empty(1 << 50, dtype=torch.uint8, device="gems")
                    if i % 7 == 0:
                        a.record_stream(torch.gems.current_stream())
                    del a, b
            stream.synchronize()
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for _ in range(20):
        torch.gems.empty_cache()
    for t in threads:
        t.join()
    assert not errors, errors
    torch.gems.synchronize()
    assert torch.gems.memory_allocated() == base
    torch.gems.empty_cache()


@pytest.mark.skipif(os.environ.get("GEMS_VENDOR", "cpu") != "cpu",
                    reason="a forked child cannot use the parent's accelerator context (CUDA forbids it)")
def test_a_process_forked_after_gems_ran_computes_in_the_child():
    """A fork after the cpu vendor's thread pool (and oneDNN's OpenMP threads)
    ran, as DataLoader workers and multiprocessing do: the child has none of
    those threads; it waited for them for ever. It must compute, and right."""
    code = """
        import os
        import torch.nn.functional as F
        x, w, a = torch.randn(1, 16, 32, 32), torch.randn(16, 1, 3, 3), torch.randn(1000, 1000)
        conv = lambda x, w: F.conv2d(x, w, padding=1, groups=16)  # depthwise: oneDNN's on the cpu vendor
        want_sum, want_conv = (a * 2).sum(), conv(x, w)  # (torch's CPU ops hang in a forked child)
        xg, wg, ag = x.to("gems"), w.to("gems"), a.to("gems")
        conv(xg, wg), (ag * 2).sum()  # the pools start in the parent
        pid = os.fork()
        if pid == 0:
            ok = torch.allclose((ag * 2).sum().cpu(), want_sum, rtol=1e-4) and \\
                torch.allclose(conv(xg, wg).cpu(), want_conv, rtol=1e-4, atol=1e-4)
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
    """
    proc = subprocess.run([sys.executable, "-c", "import torch, flag_gems\n" + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "child exit 0" in proc.stdout, proc.stdout + proc.stderr


def test_what_cpu_runs_gems_runs_when_the_native_kernel_refuses():
    """Beside CUDA the fallback runs torch's CUDA kernels in place; those lack
    dtypes and options that CPU's serve (integer matmul, half igamma, lstsq's
    gelsd driver): such a call goes through the host instead of raising. On the
    cpu vendor the same calls run on CPU's kernels."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randint(-9, 9, (5, 7), generator=g), torch.randint(-9, 9, (7, 3), generator=g)
    assert torch.equal(torch.mm(a.to("gems"), b.to("gems")).cpu(), torch.mm(a, b))
    x, y = torch.rand(16, generator=g).half() + 0.5, torch.rand(16, generator=g).half() + 0.5
    assert_same(torch.igamma(x.to("gems"), y.to("gems")), torch.igamma(x, y))
    m, r = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 2, generator=g, dtype=torch.float64)
    got = torch.linalg.lstsq(m.to("gems"), r.to("gems"), driver="gelsd").solution
    assert_same(got, torch.linalg.lstsq(m, r, driver="gelsd").solution)
    with pytest.raises(RuntimeError, match="cannot be multiplied"):  # an error CPU raises too stays an error
        torch.mm(a.to("gems"), a.to("gems"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs torch's CUDA beside gems")
def test_copies_between_gems_and_cuda():
    x = torch.randn(4, 5)
    on_cuda = x.to("gems").to("cuda")
    assert on_cuda.device.type == "cuda" and torch.equal(on_cuda.cpu(), x)
    back = on_cuda.t().to("gems")
    assert back.device.type == "gems" and torch.equal(back.cpu(), x.t())
