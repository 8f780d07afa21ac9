"""Several processes, one run: torchrun and DistributedDataParallel.

``torchrun --nproc_per_node=N -m ddpm_lib.train`` starts N processes;
each joins the process group here, draws the same global batch and trains
on its slice (:func:`ddpm_lib.training.step.draw_batch`).
"""

from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist

__all__ = ["distributed_from_env", "rank_and_world"]


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) without torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@contextlib.contextmanager
def distributed_from_env():
    """Join the process group torchrun describes; leave it afterwards.

    Yields the device of this process: its GPU, else the CPU.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend)
    try:
        yield device
    finally:
        dist.destroy_process_group()
