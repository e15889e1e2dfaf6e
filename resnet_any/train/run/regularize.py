"""Regularisers of the one training loop: EMA of the weights, balanced sampling, mixup/CutMix.

Each is an option (options.py), off by default; the trainer builds those that are on from here (the plan
checked them and computed the class weights). Every random draw comes from the epoch's seeded generator or
the global RNG that `epoch_generators` reseeds at each epoch start, so a resumed run replays them exactly.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

# (inputs, integer targets) -> (mixed inputs, soft targets of shape (N, K))
Mix = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of `model`'s parameters and buffers (BatchNorm statistics), torch's own."""
    # use_buffers: the averaged weights are evaluated as they are, with statistics averaged alike (no update_bn pass)
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def balanced_order(labels: Tensor, generator: torch.Generator) -> Tensor:
    """len(labels) indices drawn with replacement, with probability ∝ 1 / the class's count: classes equally often."""
    counts = torch.bincount(labels)
    # as WeightedRandomSampler draws, with the epoch's generator so the order is fixed by (seed, epoch)
    return torch.multinomial(1.0 / counts[labels].double(), len(labels), replacement=True, generator=generator)


def make_mix(mixup: float, cutmix: float, num_classes: int) -> Mix | None:
    """The training batches' mixer for --mixup/--cutmix (None when both are 0; the plan checked the data allows them)."""
    if not (mixup or cutmix):
        return None
    from torchvision.transforms import v2

    mixers = [v2.MixUp(alpha=mixup, num_classes=num_classes)] if mixup else []
    mixers += [v2.CutMix(alpha=cutmix, num_classes=num_classes)] if cutmix else []
    # both on: one of the two per batch, at even odds, as torchvision's reference training scripts do
    mix = mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)

    def apply(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if x.ndim == 4:
            return mix(x, y)
        # v2.MixUp refuses all but (N, C, H, W) batches; mixup is elementwise, so a series (N, C, L) or a
        # volume mixes exactly the same viewed as (N, 1, 1, rest) (the plan refuses CutMix for these)
        mixed, soft = mix(x.reshape(len(x), 1, 1, -1), y)
        return mixed.reshape(x.shape), soft

    return apply
