"""The Classify tab's logic without gradio: checkpoint choices, safe image loading, sketches, cached predictors."""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from resnet_any.app.limits import upload_size
from resnet_any.app.messages import PublicError
from resnet_any.errors import UserError
from resnet_any.train.plan.notes import confidence_cap

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SHIPPED_FILE = ASSETS / "mnist_resnet.pt"
SHIPPED = "shipped/mnist_resnet.pt"  # the dropdown value of the model that ships with the package
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# A 10 MB PNG of one flat colour can declare 400 megapixels; refuse before decoding, well under PIL's own bomb limit.
MAX_PIXELS = 40_000_000
CACHE_SIZE = 4
TOP_K = 5
# Ink below this (0-255) is canvas noise from anti-aliasing, not part of the drawing.
INK_THRESHOLD = 24
# MNIST glyphs fit a 20x20 box centred by mass in 28x28 (LeCun et al.); drawings are framed the same way.
GLYPH_BOX, GLYPH_CANVAS = 20, 28


# ---------------------------------------------------------------- checkpoint choices

def _run_domain(run: Path) -> str | None:
    """The domain a run directory trained, from its config.json (cheap, no checkpoint load)."""
    try:
        return json.loads((run / "config.json").read_text(encoding="utf-8")).get("domain")
    except (OSError, ValueError, AttributeError):
        return None


def list_checkpoints(runs_dir: str | Path) -> list[tuple[str, str]]:
    """(label, value) choices: the shipped model, then each image run's best.pt and last.pt, newest first."""
    choices = [("mnist_resnet (shipped)", SHIPPED)] if SHIPPED_FILE.is_file() else []
    root = Path(runs_dir)
    if not root.is_dir():
        return choices
    runs = [d for d in root.iterdir() if d.is_dir() and _run_domain(d) == "image"]
    for run in sorted(runs, key=lambda d: d.stat().st_mtime, reverse=True):
        for name in ("best.pt", "last.pt"):
            if (run / name).is_file():
                choices.append((f"{run.name}/{name}", f"{run.name}/{name}"))
    return choices


def resolve_checkpoint(choice: str | None, runs_dir: str | Path) -> Path:
    """Map a dropdown value to a file, refusing anything outside the runs dir (values can come from any API client)."""
    if not choice or choice == SHIPPED:
        if not SHIPPED_FILE.is_file():
            raise PublicError("the shipped model is missing from this installation; train one in the Train tab")
        return SHIPPED_FILE
    # only values the list offers: resolving a typed path (.., links) would answer differently for places
    # that exist, and so tell a client about the server's folders
    if str(choice) not in {value for _, value in list_checkpoints(runs_dir)}:
        raise PublicError("the checkpoint is not one of the listed models; pick one from the list (refresh it)")
    path = (Path(runs_dir) / str(choice)).resolve()
    if not path.is_relative_to(Path(runs_dir).resolve()) or not path.is_file():
        raise PublicError("the checkpoint is not one of the listed models; pick one from the list (refresh it)")
    return path


class PredictorCache:
    """A few loaded predictors keyed by file identity, so a rewritten best.pt is reloaded and nothing else is."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        # one load at a time: concurrent first requests must not each unpickle the same file
        self._lock = threading.Lock()

    def get(self, path: Path) -> Any:
        """The Predictor of an image checkpoint of any task (weights_only load), from cache when the file is unchanged."""
        from resnet_any.inference.predictor import Predictor

        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            predictor = Predictor.from_checkpoint(path, device="cpu")
            if predictor.meta.get("domain") != "image":
                raise PublicError(f"{path.name} is a {predictor.meta.get('domain')} checkpoint; pick an image model")
            self._items[key] = predictor
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return predictor


# ---------------------------------------------------------------- inputs

def open_upload(path: str | Path | None) -> Image.Image:
    """Open an uploaded file as a fully decoded PIL image, or raise a PublicError that names no server path."""
    if path is None:
        raise PublicError("no image given; upload, paste or draw one")
    p = Path(path)
    upload_size(p, MAX_UPLOAD_BYTES, "upload a PNG, JPEG, GIF, BMP, TIFF or WebP image")
    try:
        with Image.open(p) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise PublicError(f"the image is {w}x{h} pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels")
            img.load()
            return img.copy()
    except UserError:
        raise
    except Image.DecompressionBombError:
        raise PublicError(f"the image declares too many pixels to decode safely (limit "
                        f"{MAX_PIXELS // 1_000_000} megapixels)") from None
    except UnidentifiedImageError:
        raise PublicError("the file is not an image this app can read; upload a PNG, JPEG, GIF, BMP, TIFF or "
                        "WebP image") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        reason = " ".join(str(e).replace(str(p), "").split())[:120] or type(e).__name__
        raise PublicError(f"the image is corrupt or truncated ({reason})") from None


def _frame_glyph(ink: np.ndarray) -> np.ndarray | None:
    """Crop a drawing to its strokes and centre it by mass in a square with MNIST's 20-in-28 margin."""
    mask = ink > INK_THRESHOLD
    if not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float64)
    h, w = crop.shape
    side = max(int(round(max(h, w) * GLYPH_CANVAS / GLYPH_BOX)), 1)
    total = crop.sum()
    cy = (crop.sum(1) * np.arange(h)).sum() / total
    cx = (crop.sum(0) * np.arange(w)).sum() / total
    oy = int(np.clip(round(side / 2 - cy), 0, side - h))
    ox = int(np.clip(round(side / 2 - cx), 0, side - w))
    canvas = np.zeros((side, side), dtype=np.uint8)
    canvas[oy:oy + h, ox:ox + w] = np.clip(np.round(crop), 0, 255).astype(np.uint8)
    return canvas


def sketch_to_image(value: dict | None, data_meta: dict) -> Image.Image | None:
    """A Sketchpad value (RGBA layers on a transparent canvas) -> the image a `data_meta` model expects; None if blank.

    Light-ink models (MNIST, digits: bright strokes on black) get stroke coverage as brightness, whatever the
    stroke colour, framed like MNIST; other models get the strokes in their colours composited onto white.
    """
    if not value:
        return None
    layers = [im for im in (value.get("layers") or []) if im is not None]
    base = value.get("background")
    parts = ([base] if base is not None else []) + layers
    if not parts:
        parts = [value["composite"]] if value.get("composite") is not None else []
    if not parts:
        return None
    size = parts[0].size
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    for part in parts:
        part = part.convert("RGBA")
        if part.size != size:
            part = part.resize(size)
        canvas = Image.alpha_composite(canvas, part)
    rgba = np.asarray(canvas)
    alpha = rgba[..., 3]
    if alpha.min() == 255:
        # an opaque background was given: ink is whatever differs from the background tone at the border
        gray = np.asarray(canvas.convert("L")).astype(np.int16)
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        ink = np.abs(gray - int(np.median(border))).astype(np.uint8)
    else:
        ink = alpha
    if not (ink > INK_THRESHOLD).any():
        return None
    if data_meta.get("ink") == "light":
        glyph = _frame_glyph(ink)
        return None if glyph is None else Image.fromarray(glyph, "L")
    white = Image.new("RGBA", size, (255, 255, 255, 255))
    return Image.alpha_composite(white, canvas).convert("RGB")


# ---------------------------------------------------------------- prediction

def top_k(predictor: Any, image: Image.Image, k: int = TOP_K) -> tuple[dict[str, float] | str, float]:
    """What the Label shows for one PIL image, and the inference time in ms.

    Classes: the k most likely {name: probability}; tags (multilabel): every tag's probability (the k most
    likely shown; which are on is in describe's line); values (regress): one line "name value" per target in
    the user's units, as text (a gr.Label shows a string as its heading).
    """
    t0 = time.perf_counter()
    out = predictor.predict_images([image])
    ms = (time.perf_counter() - t0) * 1000.0
    task = getattr(predictor, "task", "classify")
    if task == "regress":
        return value_text(predictor, out[0]), ms
    if task == "multilabel":
        return {name: round(float(p), 6) for name, p in zip(predictor.class_names, out[0].tolist())}, ms
    return {name: round(p, 6) for name, p in predictor.top_k(out, k)[0]}, ms


def value_text(predictor: Any, values: Any) -> str:
    """Regressed values in the user's units: "age 31.25" (one target), "a 1.5 · b 2.25" (several)."""
    return " · ".join(f"{name} {float(v):.6g}" for name, v in zip(predictor.class_names, values.tolist()))


def tag_line(predictor: Any, image: Image.Image) -> str:
    """A multilabel checkpoint's tag set for one image: the tags at or above their thresholds."""
    tags = predictor.tags(predictor.predict_images([image]))[0]
    return "tags: **" + (", ".join(tags) or "none") + "** (each at or above its threshold)"


def _enlarged(img: Image.Image, display: int) -> Image.Image:
    scale = max(1, display // max(img.size))
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def model_input(predictor: Any, image: Image.Image, display: int = 112) -> Image.Image:
    """What the network sees (the preprocessed uint8 tensor), enlarged with nearest-neighbour to about `display` px."""
    from resnet_any.data import preprocess_image

    x = preprocess_image(image, predictor.data).numpy()
    return _enlarged(Image.fromarray(x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0)), display)


def looked_at(predictor: Any, image: Image.Image, display: int = 112) -> Image.Image:
    """Where the network looked for its top class: the attribution (resnet_any.explain) over what it saw."""
    from resnet_any.data import normalize, preprocess_image
    from resnet_any.explain import attribute
    from resnet_any.explain.pictures import overlay

    seen = preprocess_image(image, predictor.data)
    a = attribute(predictor.model, normalize(seen[None], predictor.data).to(predictor.device))[0].cpu().numpy()
    pixels = seen.numpy()
    return _enlarged(Image.fromarray(overlay(pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0), a)),
                     display)


def describe(predictor: Any, choice: str, ms: float) -> str:
    """Markdown: model name, where it came from, parameter count and inference time; why confidence is capped."""
    params = sum(p.numel() for p in predictor.model.parameters())
    best = predictor.meta.get("best") or {}
    acc = best.get("val_acc")
    acc_text = f" · val acc {acc:.3f}" if isinstance(acc, (int, float)) and acc >= 0 else ""
    task = getattr(predictor, "task", "classify")
    kind = {"regress": " · predicts values", "multilabel": " · predicts tags"}.get(task, "")
    line = (f"**{predictor.meta.get('model')}** ({choice}){kind} · {params:,} parameters{acc_text} · "
            f"inference {ms:.1f} ms")
    eps = float((predictor.meta.get("config") or {}).get("label_smoothing") or 0.0)
    if eps > 0:
        cap = confidence_cap(eps, len(predictor.class_names))
        line += (f"  \ntrained with label smoothing {eps:g}: its confidence tops out near {cap:.0%}, even for a "
                 "clear case")
    return line
