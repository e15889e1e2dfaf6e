"""Class activation maps on grids (images, series, volumes): CAM where exact, Grad-CAM on any stage.

A grid ResNet ends in global average pooling and one linear layer, so a class's logit is the mean over
positions of `sum_c w[class, c] * F[c, position]` plus a bias: that map is the class activation map (Zhou et
al. 2016; Wang, Yan & Oates 2017 for series), exact and one matrix product away. Grad-CAM (Selvaraju et al.
2017) weights a stage's maps by the gradient of the class score averaged over positions; on the last stage of
such a network it equals ReLU(CAM) divided by the number of positions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_any.core import GridOps, ResNet
from resnet_any.errors import UserError

# a map coarser than this along an axis says little about where: 8x8 digits reach 1x1 in the last stage of
# a cifar-stem ResNet-18, so their Grad-CAM is taken on the deepest stage that is still 4x4 or finer
MIN_POSITIONS = 4
GRID_METHODS = ("cam", "gradcam")


def check_grid_model(model: nn.Module) -> ResNet:
    """The model as a grid ResNet, or a UserError saying why it cannot be explained here."""
    if not isinstance(model, ResNet) or not isinstance(model.ops, GridOps):
        raise UserError(f"class activation maps need a resnet_any grid ResNet (image, series or volume); "
                        f"got {type(model).__name__}")
    return model


def stage_shapes(model: ResNet, x: Tensor) -> list[tuple[int, ...]]:
    """The spatial shape of each stage's output (stem excluded) for input `x`."""
    with torch.no_grad():
        return [tuple(f.shape[2:]) for f in model.forward_stages(x[:1])[1:]]


def pick_stage(model: ResNet, x: Tensor) -> int:
    """The deepest stage whose map has at least MIN_POSITIONS along every axis (the first if none has)."""
    shapes = stage_shapes(model, x)
    fine = [i for i, s in enumerate(shapes) if min(s) >= min(MIN_POSITIONS, *x.shape[2:])]
    return fine[-1] if fine else 0


def default_method(model: ResNet, x: Tensor) -> str:
    """CAM when the last stage is fine enough to show where (it is then exact), else Grad-CAM."""
    return "cam" if pick_stage(model, x) == len(model.stage_names) - 1 else "gradcam"


def upsample(maps: Tensor, size: tuple[int, ...]) -> Tensor:
    """(N, *s) maps resized to the input's grid (linear interpolation in every axis)."""
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size)]
    return F.interpolate(maps[:, None], size=size, mode=mode, align_corners=False)[:, 0]


def cam(model: ResNet, x: Tensor, target: Tensor) -> Tensor:
    """The class activation map of `target` (one class per sample) at the last stage's resolution."""
    feats = model.forward_features(x)
    weights = model.fc.weight[target]  # (N, C)
    return torch.einsum("nc...,nc->n...", feats, weights)


def gradcam(model: ResNet, x: Tensor, target: Tensor, stage: int) -> Tensor:
    """Grad-CAM of `target` on stage `stage` (0-based), at that stage's resolution."""
    captured: list[Tensor] = []
    hook = getattr(model, model.stage_names[stage]).register_forward_hook(lambda m, i, out: captured.append(out))
    try:
        logits = model(x)
    finally:
        hook.remove()
    feats = captured[0]
    # eval mode makes samples independent, so one backward of the summed scores gives every sample's gradient
    grads, = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), feats)
    alpha = grads.flatten(2).mean(2)
    return torch.relu(torch.einsum("nc...,nc->n...", feats, alpha))


def attribute_grid(model: nn.Module, x: Tensor, target: Tensor | int | None, method: str | None) -> Tensor:
    """Attribution (N, *spatial) of a grid ResNet's `target` class for a prepared batch `x` (N, C, *spatial)."""
    net = check_grid_model(model)
    if x.dim() != net.ops.dim + 2:
        raise UserError(f"a {net.ops.dim}D grid model takes (N, C, {'L' if net.ops.dim == 1 else 'H, W'}) "
                        f"input; got shape {tuple(x.shape)}")
    method = method or default_method(net, x)
    if method not in GRID_METHODS:
        raise UserError(f"unknown method {method!r} for a grid model; valid: {', '.join(GRID_METHODS)}")
    was_training = net.training
    net.eval()
    try:
        x = x.detach()
        with torch.no_grad():
            target = resolve_target(net(x), target)
            if method == "cam":
                maps = cam(net, x, target)
        if method == "gradcam":
            with torch.enable_grad():
                maps = gradcam(net, x, target, pick_stage(net, x))
    finally:
        net.train(was_training)
    return upsample(maps.detach().float(), tuple(x.shape[2:]))


def resolve_target(logits: Tensor, target: Tensor | int | None) -> Tensor:
    """One class index per row: the predicted class where `target` is None, else `target` checked against K."""
    k = logits.shape[1]
    if target is None:
        return logits.argmax(1)
    t = torch.as_tensor(target, device=logits.device).long().reshape(-1)
    if t.numel() == 1:
        t = t.expand(logits.shape[0])
    if t.numel() != logits.shape[0]:
        raise UserError(f"target needs one class per sample ({logits.shape[0]}), got {t.numel()}")
    if t.min() < 0 or t.max() >= k:
        raise UserError(f"target class {t.tolist()} out of range; the model has {k} classes (0..{k - 1})")
    return t
