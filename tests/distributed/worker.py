"""One rank of tests/python/test_distributed.py: torch.distributed collectives,
DDP and FSDP2 (float32, and bfloat16 under a mixed-precision policy) on gems tensors, each result checked against what the ranks' inputs
must give (computed locally on CPU). Launched once per rank with RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT set, as torchrun does; prints "ok".
"""
import copy
import os
import sys

import torch
import torch.distributed as dist

import flag_gems  # noqa: F401  (registers the gems device and its process-group backend)

rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
backend = os.environ.get("GEMS_TEST_BACKEND") or None
dist.init_process_group(backend=backend, rank=rank, world_size=world)


def value(r, shape=(5,), dtype=torch.float32):
    """Rank r's input: distinct per rank, exact in every dtype tested."""
    return (torch.arange(torch.Size(shape).numel(), dtype=torch.float64).reshape(shape) % 7 + r + 1).to(dtype)


def check(got, expected, what):
    assert got.device.type == "gems", (what, got.device)
    torch.testing.assert_close(got.cpu(), expected, rtol=0, atol=0, msg=what)


def collectives():
    inputs = [value(r) for r in range(world)]
    for op, fold in ((dist.ReduceOp.SUM, torch.sum), (dist.ReduceOp.PRODUCT, torch.prod),
                     (dist.ReduceOp.MIN, lambda t, dim: t.min(dim).values),
                     (dist.ReduceOp.MAX, lambda t, dim: t.max(dim).values)):
        for dtype in (torch.float32, torch.bfloat16, torch.int64):
            t = value(rank, dtype=dtype).to("gems")
            dist.all_reduce(t, op=op)
            check(t, fold(torch.stack([value(r, dtype=dtype) for r in range(world)]), dim=0), f"all_reduce {op} {dtype}")
    t = value(rank).to("gems")
    work = dist.all_reduce(t, async_op=True)
    work.wait()
    check(t, sum(inputs), "all_reduce async")

    t = value(rank).to("gems")
    dist.broadcast(t, src=world - 1)
    check(t, inputs[-1], "broadcast")

    t = value(rank).to("gems")
    dist.reduce(t, dst=0)
    if rank == 0:
        check(t, sum(inputs), "reduce")

    out = [torch.empty(5, device="gems") for _ in range(world)]
    dist.all_gather(out, value(rank).to("gems"))
    for r in range(world):
        check(out[r], inputs[r], f"all_gather [{r}]")
    flat = torch.empty(world * 5, device="gems")
    dist.all_gather_into_tensor(flat, value(rank).to("gems"))
    check(flat, torch.cat(inputs), "all_gather_into_tensor")

    full = [value(r, shape=(world * 3,)) for r in range(world)]
    out = torch.empty(3, device="gems")
    dist.reduce_scatter_tensor(out, full[rank].to("gems"))
    check(out, sum(full)[rank * 3:(rank + 1) * 3], "reduce_scatter_tensor")

    out = torch.empty(world * 2, device="gems")
    dist.all_to_all_single(out, (value(rank, shape=(world * 2,)) * 10 + rank).to("gems"))
    expected = torch.cat([(value(r, shape=(world * 2,)) * 10 + r)[rank * 2:(rank + 1) * 2] for r in range(world)])
    check(out, expected, "all_to_all_single")

    if world >= 2:  # a ring of send/recv, one pair at a time
        got = torch.empty(5, device="gems")
        ops = [dist.P2POp(dist.isend, value(rank).to("gems"), (rank + 1) % world),
               dist.P2POp(dist.irecv, got, (rank - 1) % world)]
        for w in dist.batch_isend_irecv(ops):
            w.wait()
        check(got, inputs[(rank - 1) % world], "batch_isend_irecv")
    dist.barrier()


def on_a_user_stream():
    """Collectives issued while a gems stream the user made is current run
    after the gems work queued on it before them, and their waits (the Work's,
    the Future's) hold that stream back until they are done: each input is
    written behind milliseconds of queued matrix products on a GPU, which a
    collective ordered on another stream would read before."""
    stream = torch.gems.Stream()
    n = 1 << 20
    expected = [torch.cat([torch.full((n,), float(r + k)) for r in range(world)]) for k in (1, 2, 3)]
    with torch.gems.stream(stream):
        busy = torch.randn(2048 if flag_gems.vendor_name == "nvidia" else 64, 2048, device="gems")

        def written_late(k):
            nonlocal busy
            for _ in range(10):
                busy = busy[:, :busy.shape[0]] @ busy
            return torch.full((n,), float(rank + k), device="gems")

        out = torch.empty(world * n, device="gems")
        dist.all_gather_into_tensor(out, written_late(1))
        first = out.clone()
        x = written_late(2)
        dist.all_gather_into_tensor(out, x, async_op=True).wait()
        second = out.clone()
        x = written_late(3)
        dist.all_gather_into_tensor(out, x, async_op=True).get_future().wait()
        third = out.clone()
        summed = written_late(4)
        dist.all_reduce(summed)
        summed = summed.clone()
    stream.synchronize()
    for got, want, what in zip((first, second, third), expected, ("sync", "Work.wait", "Future.wait")):
        check(got, want, f"all_gather_into_tensor on a user stream ({what})")
    check(summed, torch.full((n,), float(sum(r + 4 for r in range(world)))), "all_reduce on a user stream")


def data_parallel_matches_one_process(wrap):
    """Each rank trains on its shard of every batch; the parameters must equal
    those of one process training on the whole batch (the gradients are
    averaged over the ranks). wrap(model on gems) returns the module to call."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    reference = copy.deepcopy(model)
    wrapped = wrap(model.to("gems"))
    opt = torch.optim.SGD(wrapped.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(1)
    for step in range(3):
        x, y = torch.randn(4 * world, 8, generator=g), torch.randn(4 * world, 4, generator=g)
        mine = slice(rank * 4, (rank + 1) * 4)
        opt.zero_grad()
        torch.nn.functional.mse_loss(wrapped(x[mine].to("gems")), y[mine].to("gems")).backward()
        opt.step()
        ref_opt.zero_grad()
        torch.nn.functional.mse_loss(reference(x), y).backward()
        ref_opt.step()
    return wrapped, reference


def ddp():
    model, reference = data_parallel_matches_one_process(
        lambda m: torch.nn.parallel.DistributedDataParallel(m, bucket_cap_mb=0.0001))  # several buckets
    for p, q in zip(model.module.parameters(), reference.parameters()):
        torch.testing.assert_close(p.detach().cpu(), q.detach(), rtol=1e-5, atol=1e-6)
    with model.no_sync():  # gradients stay local
        model(torch.ones(2, 8, device="gems") * (rank + 1)).sum().backward()


def fsdp2():
    from torch.distributed.fsdp import fully_shard

    def shard(m):
        for layer in m:
            if isinstance(layer, torch.nn.Linear):
                fully_shard(layer)
        return fully_shard(m)

    model, reference = data_parallel_matches_one_process(shard)
    for p, q in zip(model.parameters(), reference.parameters()):  # each rank holds a shard (a DTensor)
        assert p.device.type == "gems"
        torch.testing.assert_close(p.full_tensor().detach().cpu(), q.detach(), rtol=1e-5, atol=1e-6)


def fsdp2_mixed_precision():
    """FSDP2 with a MixedPrecisionPolicy: bfloat16 parameters for the forward
    and backward, float32 gradient reduction, float32 master shards. The
    shards follow one process that runs each rank's batch in bfloat16 and
    averages the float32 gradients."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    reference = copy.deepcopy(model)
    model = model.to("gems")
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    seen = []
    model[0].register_forward_hook(lambda module, args, out: seen.append(out.dtype))  # computed in bfloat16
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(1)
    for step in range(3):
        x, y = torch.randn(4 * world, 8, generator=g), torch.randn(4 * world, 4, generator=g)
        mine = slice(rank * 4, (rank + 1) * 4)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x[mine].to("gems")).float(), y[mine].to("gems")).backward()
        assert all(p.grad.dtype == torch.float32 and p.grad.device.type == "gems" for p in model.parameters())
        opt.step()
        grads = []
        for r in range(world):
            low = copy.deepcopy(reference).to(torch.bfloat16)
            part = slice(r * 4, (r + 1) * 4)
            torch.nn.functional.mse_loss(low(x[part].bfloat16()).float(), y[part]).backward()
            grads.append([p.grad.float() for p in low.parameters()])
        with torch.no_grad():
            for i, p in enumerate(reference.parameters()):
                p -= 0.1 * sum(grad[i] for grad in grads) / world
    assert seen and all(s == torch.bfloat16 for s in seen), seen
    for p, q in zip(model.parameters(), reference.parameters()):
        assert p.dtype == torch.float32 and p.device.type == "gems"
        torch.testing.assert_close(p.full_tensor().detach().cpu(), q.detach(), rtol=2e-2, atol=2e-3)


def tensor_parallel_and_checkpoint(folder):
    """A column- then row-parallel MLP over a DeviceMesh of gems devices
    (DTensor shards) gives the unsharded model's output; its state dict saved
    with torch.distributed.checkpoint loads into a fresh sharded model exactly."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    mesh = init_device_mesh("gems", (world,))
    plan = {"0": ColwiseParallel(), "2": RowwiseParallel()}
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    model = parallelize_module(copy.deepcopy(reference).to("gems"), mesh, plan)
    assert model[0].weight.to_local().shape == (16 // world, 8)
    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(2))
    out = model(x.to("gems"))
    torch.testing.assert_close(out.cpu(), reference(x), rtol=1e-5, atol=1e-6)
    dcp.save(model.state_dict(), checkpoint_id=folder)
    fresh = parallelize_module(torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(),
                                                   torch.nn.Linear(16, 4)).to("gems"), mesh, plan)
    state = fresh.state_dict()
    dcp.load(state, checkpoint_id=folder)
    fresh.load_state_dict(state)
    for p, q in zip(fresh.parameters(), model.parameters()):
        torch.testing.assert_close(p.full_tensor().cpu(), q.full_tensor().cpu(), rtol=0, atol=0)


def hf_llama_matches_one_process(wrap, full=lambda p: p):
    """A small HuggingFace Llama (random weights) trained two steps on gems,
    each rank on its share of every batch, wrapped by wrap (DDP or FSDP2): the
    losses and parameters of one process on the whole batch. full(p) is a
    parameter's whole tensor (FSDP2 holds a shard)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32)
    torch.manual_seed(0)
    reference = LlamaForCausalLM(config)
    model = wrap(copy.deepcopy(reference).to("gems"))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ref_opt = torch.optim.AdamW(reference.parameters(), lr=1e-2)
    ids = torch.randint(0, 64, (2 * world, 12), generator=torch.Generator().manual_seed(3))
    mine = ids[rank * 2:(rank + 1) * 2]
    for step in range(2):
        opt.zero_grad()
        loss = model(input_ids=mine.to("gems"), labels=mine.to("gems")).loss
        loss.backward()
        opt.step()
        ref_opt.zero_grad()
        # each rank's loss is a mean over its own tokens; DDP and FSDP2 average the ranks' gradients
        ref_losses = [reference(input_ids=ids[r * 2:(r + 1) * 2], labels=ids[r * 2:(r + 1) * 2]).loss
                      for r in range(world)]
        torch.testing.assert_close(loss.detach().cpu(), ref_losses[rank].detach(), rtol=1e-4, atol=1e-5)
        (sum(ref_losses) / world).backward()
        ref_opt.step()
    # atol 5e-5: AdamW divides each gradient by its own running root mean square, so the
    # rounding of a gradient near zero (gems and CPU sum in other orders) moves its
    # parameter by up to ~lr x that relative error (one rank: 1.2e-5 seen, in 1 of 2048).
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert p.device.type == "gems", name
        torch.testing.assert_close(full(p).detach().cpu(), q.detach(), rtol=1e-4, atol=5e-5,
                                   msg=lambda detail, name=name: f"{name}: {detail}")


def hf_llama_fsdp2(model):
    """FSDP2 as its recipes shard a transformer: each decoder layer, then the model."""
    from torch.distributed.fsdp import fully_shard

    for layer in model.model.layers:
        fully_shard(layer)
    return fully_shard(model)


collectives()
on_a_user_stream()
if os.environ.get("GEMS_TEST_DDP") == "1":
    ddp()
    fsdp2()
    fsdp2_mixed_precision()
if os.environ.get("GEMS_TEST_CHECKPOINT"):
    tensor_parallel_and_checkpoint(os.environ["GEMS_TEST_CHECKPOINT"])
if os.environ.get("GEMS_TEST_HF") == "1":
    hf_llama_matches_one_process(torch.nn.parallel.DistributedDataParallel)
    hf_llama_matches_one_process(hf_llama_fsdp2, full=lambda p: p.full_tensor())
dist.destroy_process_group()
print("ok", flush=True)
sys.exit(0)
