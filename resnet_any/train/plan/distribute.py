"""The run's processes: this process's share of the batch, joining torchrun's group, one run folder for all ranks."""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import torch

from resnet_any.data.base import DataSplits
from resnet_any.errors import NotThisRank, UserError
from resnet_any.train import distributed
from resnet_any.train.options import RunConfig


def default_out(domain: str) -> Path:
    """runs/<domain>-<timestamp>, suffixed when that exists."""
    base = Path("runs") / f"{domain}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


def local_batch(config: RunConfig, splits: DataSplits, dist: distributed.DistInfo) -> int:
    """This process's batch: the global batch divided by the processes; a batch above the data is clamped, said once."""
    n = len(splits.train) if splits.train is not None else 0
    bs, world = config.batch_size, dist.world_size
    if splits.layout != "node" and 0 < n < bs:
        n = max(world, n - n % world)  # the ranks split it evenly
        if dist.is_main:
            print(f"warning: batch size {bs} is larger than the {n} training samples; using {n}", file=sys.stderr)
        return n // world
    return bs // world


def join_group(config: RunConfig, splits: DataSplits, device: torch.device,
               dist: distributed.DistInfo) -> tuple[distributed.DistInfo, torch.device, bool]:
    """Under torchrun: check the global batch divides, then join the process group (one process: nothing)."""
    if not dist.enabled:
        return dist, device, False
    if splits.layout == "node" and config.sampling != "neighbor":
        # one graph in one full batch: there is nothing to split, and copies on every rank would only
        # repeat the same step, so rank 0 trains alone and the others leave before joining a group
        if not dist.is_main:
            raise NotThisRank
        print(f"note: full-batch node classification ({splits.name}) runs in one process: rank 0 trains "
              f"alone, the other {dist.world_size - 1} rank(s) exit", file=sys.stderr)
        return distributed.DistInfo(), device, False
    if config.batch_size % dist.world_size:
        raise UserError(f"--batch-size {config.batch_size} is the global batch and must divide by the "
                        f"{dist.world_size} processes (each takes batch/{dist.world_size})")
    if config.sync_bn and device.type == "cpu":
        raise UserError("--sync-bn needs GPUs (torch's SyncBatchNorm does not run on CPU); drop it for CPU runs")
    owns = not torch.distributed.is_initialized()
    return dist, distributed.setup(dist, device), owns


def shared_out(out: Path | None, domain: str, dist: distributed.DistInfo) -> Path:
    """The run directory; under torchrun rank 0's default is broadcast so every process writes and reads the same."""
    if out is not None:
        return out
    chosen = [str(default_out(domain))]
    if dist.enabled and torch.distributed.is_initialized():
        torch.distributed.broadcast_object_list(chosen, src=0)
    return Path(chosen[0])
