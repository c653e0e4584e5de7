"""Data-parallel training under ``torchrun``: the same ``cmrseg train`` command, N processes.

``torchrun --nproc-per-node N $(which cmrseg) train CONFIG`` sets ``WORLD_SIZE``/``RANK``; the engine then
joins a process group (gloo on CPU, NCCL on GPUs), wraps the model in PyTorch
:class:`~torch.nn.parallel.DistributedDataParallel` (gradients averaged every step, so replicas stay
identical), gives every rank its own patch-sampling and augmentation seeds, and lets rank 0 alone validate,
log and write checkpoints. ``optim.batch_size`` is per process (effective batch = N x batch_size). On CPU
keep ``train.threads x N <= cores`` (oversubscribed threads make training several times slower).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_distributed() -> DistContext:
    """Join the ``torchrun`` process group if one is declared in the environment; else a 1-process context."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return DistContext(dist.get_rank(), dist.get_world_size())


def wrap_model(model: nn.Module, ctx: DistContext, device: torch.device | None = None) -> nn.Module:
    """``DistributedDataParallel(model)`` when running distributed (broadcasts rank 0's weights), else ``model``.

    ``device``: the process's GPU (``cuda:LOCAL_RANK``) for NCCL; None or CPU for gloo.
    """
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device is not None and device.type == "cuda" else None
    # unused parameters (e.g. a head a loss does not touch this step) must not stall the gradient reduction
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def agree(flag: bool, ctx: DistContext, device: torch.device | None = None) -> bool:
    """Rank 0's decision (e.g. "time budget spent, stop now") on every rank, so all stop at the same step."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)  # NCCL needs it on the GPU
    dist.broadcast(t, src=0)
    return bool(t.item())


def sync_buffers(model: nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank, as DDP does before each forward."""
    if ctx.enabled:
        for buf in model.buffers():
            dist.broadcast(buf, src=0)
