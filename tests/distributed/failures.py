"""One rank of test_distributed.py's failure tests: what a gems collective does
when another rank dies, stays silent past the group's timeout, or runs a
collective of another shape. Prints "raised <type>: <message>" when the
collective raised (and how long it took), "no error" otherwise; never hangs
past the timeout. Launched like worker.py (RANK, WORLD_SIZE, MASTER_*), with
GEMS_TEST_SCENARIO = dies | silent | mismatch.
"""
import datetime
import os
import sys
import time

import torch
import torch.distributed as dist

import flag_gems  # noqa: F401  (registers the gems device and its process-group backend)

rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
scenario = os.environ["GEMS_TEST_SCENARIO"]
dist.init_process_group(backend="cpu:gloo,gems:gems", rank=rank, world_size=world,
                        timeout=datetime.timedelta(seconds=5))
warm = torch.ones(4, device="gems")
dist.all_reduce(warm)  # every rank connected and working

if scenario == "dies" and rank == 1:
    os._exit(3)
if scenario == "silent" and rank == 1:
    time.sleep(30)  # alive, but never joins the next collective
    os._exit(0)

t = torch.ones(5 + (rank if scenario == "mismatch" else 0), device="gems")
start = time.monotonic()
try:
    dist.all_reduce(t)
    torch.gems.synchronize()
    print(f"no error {t.cpu().tolist()}")
except RuntimeError as e:  # DistBackendError and DistNetworkError are RuntimeErrors too
    print(f"raised {type(e).__name__} after {time.monotonic() - start:.1f} s: {str(e)[:300]}")
sys.stdout.flush()
os._exit(0)  # no destroy_process_group: a peer is gone
