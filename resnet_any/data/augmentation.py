"""On-device batch augmentation for image training: `augment`.

Runs on whole uint8 batches (N, C, H, W) where they already are (GPU or CPU), before `normalize`;
meta["augment"] picks the recipe ("crop_flip" or "none"). Inference never augments.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import UserError


def augment(x_uint8_batch: torch.Tensor, meta: dict, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random training augmentation on the batch's device: "crop_flip" (pad image_size/8, random crop, h-flip) or "none"."""
    kind = meta.get("augment", "none")
    if kind == "none":
        return x_uint8_batch
    if kind != "crop_flip":
        raise UserError(f"unknown augment {kind!r}; valid: crop_flip, none")
    x = x_uint8_batch
    single = x.dim() == 3
    if single:
        x = x.unsqueeze(0)
    n, c, h, w = x.shape
    pad = max(1, int(meta.get("image_size", h)) // 8)
    dev = generator.device if generator is not None else x.device
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev).to(x.device)
    flip = (torch.rand(n, generator=generator, device=dev) < 0.5).to(x.device)
    xp = F.pad(x, (pad, pad, pad, pad))
    rows = oy[:, None] + torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device).expand(n, w)
    # One gather does crop and flip together: a flipped sample reads its crop's columns right to left.
    cols = torch.where(flip[:, None], (w - 1) - cols, cols) + ox[:, None]
    out = xp.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * pad))
    out = out.gather(3, cols[:, None, None, :].expand(n, c, h, w))
    return out[0] if single else out
