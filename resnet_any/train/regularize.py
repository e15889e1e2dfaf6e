"""Regularisers of the one training loop: EMA of the weights, class-weighted loss, balanced sampling, mixup/CutMix.

Each is an option (options.py), off by default; the trainer builds those that are on from here. Every
random draw comes from the epoch's seeded generator or the global RNG that `epoch_generators` reseeds at
each epoch start, so a resumed run replays them exactly.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from resnet_any.errors import UserError

# (inputs, integer targets) -> (mixed inputs, soft targets of shape (N, K))
Mix = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def confidence_cap(label_smoothing: float, num_classes: int) -> float:
    """The probability a label-smoothed model learns to give its class: the smoothed target's 1 - e + e/K."""
    # cross-entropy against a soft target is lowest when the prediction equals that target
    return 1 - label_smoothing + label_smoothing / num_classes


def smoothing_note(label_smoothing: float, num_classes: int) -> str:
    """One line saying why a label-smoothed model's confidence stops short of 100% (empty when it is off)."""
    if not label_smoothing or num_classes < 2:
        return ""
    cap = confidence_cap(label_smoothing, num_classes)
    return (f"label smoothing {label_smoothing:g}: the training target gives the true class {cap:.0%} (1 - "
            f"{label_smoothing:g} + {label_smoothing:g}/{num_classes}), so confidence tops out near {cap:.0%} and the "
            f"training loss stays above zero, often above the validation loss")


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of `model`'s parameters and buffers (BatchNorm statistics), torch's own."""
    # use_buffers: the averaged weights are evaluated as they are, with statistics averaged alike (no update_bn pass)
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def inverse_frequency_weights(counts: list[int]) -> Tensor:
    """Loss weight per class, N / (K * n_k) over the K classes present (scikit-learn's "balanced"); 0 for absent ones.

    A class with no training sample never is a target, so its weight changes nothing but label smoothing's
    share; 0 keeps it from counting, and the present classes' weights stay scikit-learn's.
    """
    n = torch.tensor(counts, dtype=torch.float64)
    present = n > 0
    weights = torch.zeros_like(n)
    weights[present] = n.sum() / (int(present.sum()) * n[present])
    return weights.float()


def balanced_order(labels: Tensor, generator: torch.Generator) -> Tensor:
    """len(labels) indices drawn with replacement, with probability ∝ 1 / the class's count: classes equally often."""
    counts = torch.bincount(labels)
    # as WeightedRandomSampler draws, with the epoch's generator so the order is fixed by (seed, epoch)
    return torch.multinomial(1.0 / counts[labels].double(), len(labels), replacement=True, generator=generator)


def make_mix(mixup: float, cutmix: float, num_classes: int, domain: str, kind: str) -> Mix | None:
    """The training batches' mixer for --mixup/--cutmix (None when both are 0); refuses data it cannot mix."""
    if not (mixup or cutmix):
        return None
    if kind != "classify":
        raise UserError(f"--mixup and --cutmix mix batches of images or series; {kind} classification cannot "
                        "be mixed: drop them")
    if cutmix and domain != "image":
        raise UserError(f"--cutmix pastes image rectangles; {domain} data takes --mixup only")
    from torchvision.transforms import v2

    mixers = [v2.MixUp(alpha=mixup, num_classes=num_classes)] if mixup else []
    mixers += [v2.CutMix(alpha=cutmix, num_classes=num_classes)] if cutmix else []
    # both on: one of the two per batch, at even odds, as torchvision's reference training scripts do
    mix = mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)

    def apply(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if x.ndim == 4:
            return mix(x, y)
        # v2.MixUp refuses all but (N, C, H, W) batches; mixup is elementwise, so a series (N, C, L) or a
        # volume mixes exactly the same viewed as (N, 1, 1, rest) (CutMix was refused above for these)
        mixed, soft = mix(x.reshape(len(x), 1, 1, -1), y)
        return mixed.reshape(x.shape), soft

    return apply
