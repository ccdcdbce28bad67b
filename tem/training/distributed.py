"""Multi-process training with ``torchrun``: process-group set-up and small collective helpers.

``torchrun --nproc_per_node N train.py ...`` starts N processes with ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` set; each trains on its own walks, DistributedDataParallel averages the gradients,
and rank 0 logs, evaluates and writes the checkpoint. A plain ``python train.py`` is world size 1.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

RANK_SEED_STRIDE = 7_919  # rank r samples worlds with seed + r * stride: its own stream
TIMEOUT = timedelta(minutes=10)
"""How long a collective waits for the slowest rank (evaluations run on rank 0 alone, and the
end-of-run analysis only after every rank has left the group)."""


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> Distributed:
    """Join the process group when started by ``torchrun`` (NCCL on GPUs, gloo on CPUs)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    if not dist.is_initialized():
        use_cuda = device != "cpu" and torch.cuda.is_available()
        if use_cuda:  # before NCCL starts: each process on its own GPU
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", timeout=TIMEOUT)
    return Distributed(dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), world_size)


def max_weight_difference(model: torch.nn.Module) -> float:
    """Largest absolute difference between this rank's parameters and rank 0's, over all ranks."""
    difference = torch.zeros((), device=next(model.parameters()).device)
    for parameter in model.parameters():
        reference = parameter.detach().clone()
        dist.broadcast(reference, src=0)
        difference = torch.maximum(difference, (reference - parameter.detach()).abs().max())
    dist.all_reduce(difference, op=dist.ReduceOp.MAX)
    return float(difference.item())


def shutdown(info: Distributed) -> None:
    """Leave the process group together: no rank closes its connections while another still uses them.

    Drop every other reference to the group first (a DistributedDataParallel model holds one): a group
    still alive when the interpreter exits is torn down then, and gloo can abort the process."""
    if info.enabled and dist.is_initialized():
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
