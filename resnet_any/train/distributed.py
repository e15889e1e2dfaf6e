"""DistributedDataParallel under torchrun: PyTorch's own engine, set up from the environment it exports."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from resnet_any.errors import UserError


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job: rank among world_size, and its local GPU index."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes files and prints."""
        return self.rank == 0


def from_env() -> DistInfo:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK (a plain `python` run is rank 0 of 1)."""
    try:
        return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                        int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise UserError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (set by torchrun)") from None


def setup(info: DistInfo, device: torch.device) -> torch.device:
    """Join the process group (nccl on GPUs, gloo on CPUs); returns this rank's device."""
    if not info.enabled:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def wrap(model: nn.Module, info: DistInfo, device: torch.device, sync_bn: bool = False) -> nn.Module:
    """Wrap in DistributedDataParallel (optionally with synchronised batch norm, converted in place)."""
    if not info.enabled:
        return model
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum each value over every rank (metrics are reduced as sums and counts, then divided)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def shard(order: torch.Tensor, info: DistInfo, per_rank: int) -> torch.Tensor:
    """This rank's samples of a global order: the rank-th slice of every global batch of per_rank * world_size.

    Each global batch is split the same way one process would see it, so averaging the ranks' gradients
    (DDP) gives the one-process gradient of that batch. A last partial batch is split evenly and its
    remainder (< world_size samples) dropped, as every rank must take the same number of steps.
    """
    if not info.enabled:
        return order
    world = info.world_size
    chunks = []
    for batch in order.split(per_rank * world):
        part = len(batch) // world
        chunks.append(batch[info.rank * part:(info.rank + 1) * part])
    return torch.cat(chunks) if chunks else order[:0]


def any_rank(flags: list[bool], device: torch.device) -> list[bool]:
    """Whether each flag is set on any rank, so that every rank takes the same branch (else DDP hangs)."""
    return [v > 0 for v in all_sum([float(f) for f in flags], device)]


def sync_buffers(model: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank, so evaluation agrees with what rank 0 saves."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    for b in model.buffers():
        dist.broadcast(b.data, src=0)


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def teardown() -> None:
    """Leave the process group."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
