"""What training and inference share for one image: `preprocess_image`, `normalize` and mode flattening.

`preprocess_image` turns a PIL image of any mode and size into the uint8 tensor (C, H, W) a model was
trained on, following a checkpoint's meta (image_size, channels, ink); the dataset readers decode every
file through it too, so training and inference prepare images identically. `flatten_mode` maps any PIL
mode (palette, CMYK, 16-bit, float, with or without alpha) to "L" or "RGB". `normalize` scales a uint8
batch to [0, 1] and standardises it with the meta's mean and std.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import UserError

# PIL modes that hold one gray channel (the "I;16" family is matched by prefix where used).
GRAY_MODES = {"1", "L", "LA", "La", "I", "F"}


def _to_uint8_gray(img: Image.Image) -> Image.Image:
    """Map 16-bit, 32-bit and float gray images to 8 bits by a fixed rule (PIL's convert clips them)."""
    a = np.asarray(img)
    if img.mode.startswith("I;16"):
        out = np.round(a.astype(np.float64) / 257.0)
    else:
        a = a.astype(np.float64)
        finite = a[np.isfinite(a)]
        hi = float(finite.max()) if finite.size else 0.0
        lo = float(finite.min()) if finite.size else 0.0
        if img.mode == "F" and lo >= 0.0 and hi <= 1.0:
            out = a * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            out = a
        elif lo >= 0.0 and hi <= 65535.0:
            out = a / 257.0
        else:
            out = (a - lo) / max(hi - lo, 1e-12) * 255.0
        out = np.nan_to_num(np.round(out), nan=0.0)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "L")


def _composite(img: Image.Image, ink: str) -> Image.Image:
    """Flatten transparency onto a background: white for photos; for light-ink data, the tone that contrasts with the strokes."""
    gray = img.mode in ("LA", "La")
    img = img.convert("LA" if gray else "RGBA")
    a = np.asarray(img).astype(np.float32)
    color, alpha = a[..., :-1], a[..., -1:] / 255.0
    background = 255.0
    if ink == "light":
        opaque = alpha[..., 0] >= 0.5
        # Strokes drawn dark on a transparent canvas need a light background (inverted later), bright ones a dark one.
        background = 255.0 if opaque.any() and color[opaque].mean() < 128 else 0.0
    out = color * alpha + background * (1.0 - alpha)
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return Image.fromarray(out[..., 0] if gray else out, "L" if gray else "RGB")


def flatten_mode(img: Image.Image, ink: str) -> Image.Image:
    """Any PIL mode -> "L" or "RGB" (palette, CMYK, YCbCr, 1-bit, 16-bit, float, with or without alpha)."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode.startswith("I") or mode == "F":
        return _to_uint8_gray(img)
    if mode == "1":
        return img.convert("L")
    if mode in ("P", "PA"):
        img = img.convert("RGBA" if mode == "PA" or "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "RGBa", "LA", "La"):
        return _composite(img, ink)
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as e:
        raise UserError(f"cannot convert image mode {mode!r} to RGB ({e}); use an RGB, gray or palette image") from e


def border_mean(a: np.ndarray) -> float:
    """Mean of the outermost pixels: the background tone of a centred drawing."""
    if a.shape[0] < 3 or a.shape[1] < 3:
        return float(a.mean())
    edge = np.concatenate([a[0].ravel(), a[-1].ravel(), a[:, 0].ravel(), a[:, -1].ravel()])
    return float(edge.mean())


def preprocess_image(img: Image.Image, meta: dict) -> torch.Tensor:
    """A PIL image of any mode and size -> uint8 tensor (C, H, W) exactly as the training data was prepared."""
    size, channels, ink = int(meta["image_size"]), int(meta["channels"]), meta.get("ink", "dark")
    if "exif" in img.info or img.format in ("TIFF", "MPO"):
        try:
            img = ImageOps.exif_transpose(img)  # phone photos store their rotation in EXIF
        except Exception:  # noqa: BLE001 - a broken EXIF block must not make a readable image unusable
            pass
    img = flatten_mode(img, ink)
    img = img.convert("L" if channels == 1 else "RGB")
    if img.size != (size, size):
        # Shorter side to `size`, then centre crop: keeps aspect ratio (torchvision Resize + CenterCrop).
        img = ImageOps.fit(img, (size, size), method=Image.BILINEAR)
    a = np.array(img, dtype=np.uint8)  # a copy: PIL's buffer is read-only and tensors must own writable memory
    if ink == "light" and border_mean(a) > 127:
        # Light-ink data (MNIST, digits) is bright strokes on black; a dark-on-white drawing is inverted to match.
        a = 255 - a
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a))


def normalize(x_uint8_batch: torch.Tensor, meta: dict) -> torch.Tensor:
    """uint8 images (N, C, H, W) or (C, H, W) -> float32, scaled to [0, 1] then standardised with meta mean/std."""
    x = x_uint8_batch
    # Float input is taken to be on the [0, 1] scale already (e.g. after a float-space augmentation).
    x = x.float().div(255.0) if not torch.is_floating_point(x) else x.float()
    mean = torch.tensor(meta["mean"], dtype=torch.float32, device=x.device).view(-1, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32, device=x.device).view(-1, 1, 1)
    return (x - mean) / std
