"""Bad input gets the error PyTorch's own backends give: the same exception
type as on CPU tensors, with a message that names the problem."""
import pytest
import torch
import torch.nn.functional as F

from conftest import RAISES_IN_KERNELS
from flag_gems import _C

# Errors that only a kernel can find: raised by the cpu vendor's kernels; an
# accelerator's kernels record them and the host raises them at its next wait
# for the device, as RuntimeError (PyTorch's CUDA: a device-side assert).
FOUND_IN_KERNELS = {"index out of range", "nll target out of bounds", "gather index out of range",
                    "indexing out of range"}

CASES = {
    "broadcast mismatch": (lambda d: torch.ones(3, device=d) + torch.ones(4, device=d), "must match the size"),
    "mm shapes": (lambda d: torch.ones(2, 3, device=d) @ torch.ones(4, 5, device=d), "cannot be multiplied"),
    "mv sizes": (lambda d: torch.mv(torch.ones(2, 3, device=d), torch.ones(4, device=d)),
                 "size mismatch, got input \\(2\\), mat \\(2x3\\), vec \\(4\\)"),
    "mv ranks": (lambda d: torch.mv(torch.ones(2, 3, device=d), torch.ones(3, 1, device=d)),
                 "vector \\+ matrix @ vector expected, got 1, 2, 2"),
    "mv dtypes": (lambda d: torch.mv(torch.ones(2, 3, device=d), torch.ones(3, dtype=torch.float64, device=d)),
                  "same dtype, but got Double, Float, and Double"),
    "addmv bias size": (lambda d: torch.addmv(torch.ones(3, device=d), torch.ones(2, 3, device=d),
                                              torch.ones(3, device=d)), "size mismatch, got input \\(3\\)"),
    "addmm_ resizing self": (lambda d: torch.ones(3, device=d).addmm_(torch.ones(2, 4, device=d),
                                                                       torch.ones(4, 3, device=d)),
                             "Bad in-place call: input tensor size \\[3\\] and output tensor size \\[2, 3\\]"),
    "addmv_ resizing self": (lambda d: torch.ones(1, device=d).addmv_(torch.ones(3, 4, device=d), torch.ones(4, device=d)),
                             "Bad in-place call: input tensor size \\[1\\]"),
    "baddbmm_ resizing self": (lambda d: torch.ones(3, device=d).baddbmm_(torch.ones(2, 2, 4, device=d),
                                                                         torch.ones(2, 4, 3, device=d)),
                               "Bad in-place call"),
    "baddbmm dtypes": (lambda d: torch.baddbmm(torch.ones(3, device=d), torch.ones(2, 2, 4, dtype=torch.float64, device=d),
                                               torch.ones(2, 4, 3, device=d)),
                       "Input dtypes must be the same, got: input float, batch1: double, batch2: float"),
    "baddbmm batch sizes": (lambda d: torch.baddbmm(torch.ones(3, device=d), torch.ones(2, 2, 4, device=d),
                                                    torch.ones(3, 4, 3, device=d)),
                            "Expected size for first two dimensions of batch2 tensor to be: \\[2, 4\\]"),
    "baddbmm input shape": (lambda d: torch.baddbmm(torch.ones(4, device=d), torch.ones(2, 2, 4, device=d),
                                                    torch.ones(2, 4, 3, device=d)),
                            "The expanded size of the tensor \\(3\\) must match the existing size \\(4\\) at "
                            "non-singleton dimension 2"),
    "gather index rank": (lambda d: torch.gather(torch.ones(3, 4, device=d), 1, torch.zeros(2, dtype=torch.long, device=d)),
                          "Index tensor must have the same number of dimensions as input tensor"),
    "gather index size": (lambda d: torch.gather(torch.ones(3, 4, device=d), 1,
                                                 torch.zeros(4, 2, dtype=torch.long, device=d)),
                          "Size does not match at dimension 0 expected index \\[4, 2\\] to be no larger than self "
                          "\\[3, 4\\] apart from dimension 1"),
    "gather index dtype": (lambda d: torch.gather(torch.ones(3, 4, device=d), 1,
                                                  torch.zeros(3, 1, dtype=torch.int16, device=d)),
                           "Expected dtype int32/int64 for index"),
    "gather index out of range": (lambda d: torch.gather(torch.ones(3, 4, device=d), 1,
                                                         torch.full((3, 1), 4, device=d)),
                                  "index 4 is out of bounds for dimension 1 with size 4"),
    "indexing too many indices": (lambda d: torch.ones(3, device=d)[torch.tensor([0], device=d), torch.tensor([0], device=d)],
                                  "too many indices for tensor of dimension 1"),
    "indexing float indices": (lambda d: torch.ones(3, device=d)[torch.tensor([0.0], device=d)],
                               "tensors used as indices must be long, int, byte or bool tensors"),
    "indexing shapes": (lambda d: torch.ones(3, 4, device=d)[torch.tensor([0, 1], device=d), torch.tensor([0, 1, 2], device=d)],
                        "shape mismatch: indexing tensors could not be broadcast together with shapes \\[2\\], \\[3\\]"),
    "indexing out of range": (lambda d: torch.ones(3, 4, device=d)[torch.tensor([1], device=d), torch.tensor([-5], device=d)],
                              "index -5 is out of bounds for dimension 1 with size 4"),
    "bool negation": (lambda d: -torch.ones(2, dtype=torch.bool, device=d), "bool tensor is not supported"),
    "bool subtraction": (lambda d: torch.ones(2, dtype=torch.bool, device=d) - torch.ones(2, device=d), "Subtraction"),
    "softmax of integers": (lambda d: torch.softmax(torch.ones(2, dtype=torch.long, device=d), 0), "Long"),
    "index out of range": (lambda d: torch.ones(3, device=d).index_select(0, torch.tensor([5], device=d)), "index"),
    "layer_norm shape": (lambda d: F.layer_norm(torch.ones(2, 3, device=d), (4,)), "normalized_shape"),
    "nll target out of bounds": (lambda d: F.cross_entropy(torch.ones(2, 3, device=d), torch.tensor([0, 7], device=d)),
                                 "out of bounds"),
    "cat ranks": (lambda d: torch.cat([torch.ones(2, device=d), torch.ones(2, 2, device=d)]), "dimensions"),
    "cat of a scalar": (lambda d: torch.cat([torch.ones((), device=d)]), "zero-dimensional tensor \\(at position 0\\)"),
    "view shape": (lambda d: torch.ones(6, device=d).view(4, 2), "shape '\\[4, 2\\]' is invalid"),
    "clamp without bounds": (lambda d: torch.clamp(torch.ones(2, device=d)), "At least one of 'min' or 'max'"),
    "floor_divide of bools": (lambda d: torch.floor_divide(torch.ones(2, dtype=torch.bool, device=d),
                                                           torch.ones(2, dtype=torch.bool, device=d)),
                              "\"div_floor_cpu\" not implemented for 'Bool'"),
    "div rounding mode": (lambda d: torch.div(torch.ones(2, device=d), 2, rounding_mode="round"), "rounding_mode"),
    "integer negative power": (lambda d: torch.tensor([2], device=d) ** -1, "negative integer powers"),
    "where condition dtype": (lambda d: torch.where(torch.ones(2, device=d), torch.ones(2, device=d), 0.0),
                              "boolean"),
    "topk k out of range": (lambda d: torch.topk(torch.ones(2, 3, device=d), 4), "k out of range"),
    "topk out dtype": (lambda d: torch.topk(torch.ones(3, device=d), 2, out=(torch.empty(0, dtype=torch.long, device=d),
                                                                          torch.empty(0, dtype=torch.long, device=d))),
                       "dtype"),
    "reduction over empty dim": (lambda d: torch.empty(0, 2, device=d).amax(0), "non-zero size"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_exception_type_as_cpu(name):
    if name in FOUND_IN_KERNELS and not RAISES_IN_KERNELS:
        pytest.xfail("found inside a kernel: raised at the next wait as RuntimeError on this vendor "
                     "(test_errors_found_in_kernels_raise_at_the_next_wait), as PyTorch's CUDA raises its device-side assert")
    fn, pattern = CASES[name]
    with pytest.raises(Exception) as on_cpu:
        fn("cpu")
    with pytest.raises(type(on_cpu.value), match=pattern):
        fn("gems")


@pytest.mark.skipif(RAISES_IN_KERNELS, reason="this vendor's kernels raise at once (test_same_exception_type_as_cpu)")
@pytest.mark.parametrize("name", sorted(FOUND_IN_KERNELS))
def test_errors_found_in_kernels_raise_at_the_next_wait(name):
    fn, pattern = CASES[name]
    with pytest.raises(RuntimeError, match=pattern):
        fn("gems")
        torch.gems.synchronize()
    torch.gems.synchronize()  # raised once
    assert torch.ones(3, device="gems").sum().item() == 3  # the device stays usable (CUDA's assert would not)


def test_gems_tensor_mixed_with_cpu_tensor_is_a_device_error():
    g, c = torch.ones(3, device="gems"), torch.ones(3)
    for fn in (lambda: g + c, lambda: torch.mm(g.view(1, 3), c.view(3, 1)), lambda: torch.cat([g, c]),
               lambda: torch.where(g > 0, g, c)):
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
            fn()
    # CPU 0-dim tensors are allowed, as PyTorch allows them beside CUDA tensors
    assert torch.equal((g + torch.tensor(2.0)).cpu(), torch.full((3,), 3.0))


@pytest.mark.skipif(torch.gems.device_count() < 2, reason="needs two gems devices")
def test_gems_devices_do_not_mix():
    with pytest.raises(RuntimeError, match="same device"):
        torch.ones(2, device="gems:0") + torch.ones(2, device="gems:1")


@pytest.fixture
def deferred_checks():
    """Checks of device values judged at the host's next wait, as a device vendor always judges them (the
    cpu vendor judges at once unless told otherwise)."""
    _C._set_defer_device_checks(True)
    try:
        yield
    finally:
        _C._set_defer_device_checks(False)


def test_device_checks_raise_at_the_next_wait_and_once(deferred_checks):
    x = torch.zeros(3, 4, device="gems")
    rows, cols = torch.tensor([0, 1], device="gems"), torch.tensor([1, 4], device="gems")
    x.index_put_((rows, cols), torch.tensor(1.0, device="gems"))  # queued: the host does not wait here
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 1 with size 4"):
        x.sum().item()
    x.sum().item()  # judged once: the next wait has nothing left to report
    torch.multinomial(torch.tensor([0.5, -1.0], device="gems"), 1)
    with pytest.raises(RuntimeError, match="probability tensor contains either `inf`, `nan` or element < 0"):
        torch.gems.synchronize()
    torch.zeros(3, 4, device="gems").scatter_add_(1, torch.tensor([[5]], device="gems"), torch.ones(1, 1, device="gems"))
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 1 with size 4"):
        torch.gems.current_stream().synchronize()
    torch.multinomial(torch.tensor([[0.0, 0.0]], device="gems"), 1)
    done = torch.gems.Event()
    done.record()
    with pytest.raises(RuntimeError, match="invalid multinomial distribution"):
        done.synchronize()
    torch.multinomial(torch.tensor([0.5, float("nan")], device="gems"), 1)
    with pytest.raises(RuntimeError, match="probability tensor contains"):
        torch.ones(2, device="gems").cpu()


def test_many_device_checks_without_a_wait_stay_bounded(deferred_checks):
    weights = torch.tensor([0.2, 0.8], device="gems")
    draws = [torch.multinomial(weights, 1) for _ in range(600)]  # more checks than are kept waiting at once
    torch.gems.synchronize()
    assert all(int(d.item()) in (0, 1) for d in draws[-5:])
