"""`python -m resnet_any.predict --checkpoint PATH FILE...`: top-k classes for image files or CSV series rows."""
from __future__ import annotations

import csv
import warnings
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from resnet_any.errors import Parser, UserError, read_text_file, run_cli
from resnet_any.train.checkpoint import load_checkpoint
from resnet_any.train.trainer import pick_device


class Predictor:
    """A loaded checkpoint plus the exact preprocessing of its training data; the app and the CLI share it."""

    def __init__(self, model: nn.Module, meta: dict[str, Any], device: str | torch.device = "cpu") -> None:
        self.model = model.eval()
        self.meta = meta
        self.data = meta.get("data") or {}
        self.device = torch.device(device)
        self.class_names = [str(c) for c in meta["class_names"]]

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu") -> "Predictor":
        """Load a checkpoint (weights_only) for inference."""
        dev = pick_device(device)
        model, meta = load_checkpoint(path, dev)
        return cls(model, meta, dev)

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax over classes for a prepared batch."""
        return torch.softmax(self.model(x.to(self.device)).float(), dim=1).cpu()

    def predict_images(self, images: Sequence[Any]) -> torch.Tensor:
        """Class probabilities (N, K) for PIL images of any mode and size."""
        from resnet_any.data import normalize, preprocess_image

        if self.meta["domain"] != "image":
            raise UserError(f"this is a {self.meta['domain']} checkpoint; it does not classify images")
        x = torch.stack([preprocess_image(img, self.data) for img in images])
        return self.probabilities(normalize(x, self.data))

    def predict_series(self, series: Sequence[Any]) -> torch.Tensor:
        """Class probabilities (N, K) for series given as (L,) or (C, L) arrays."""
        from resnet_any.data import preprocess_series

        if self.meta["domain"] != "series":
            raise UserError(f"this is a {self.meta['domain']} checkpoint; it does not classify series")
        return torch.cat([self.probabilities(preprocess_series(s, self.data)[None]) for s in series])

    def top_k(self, probs: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
        """The k most likely (class name, probability) pairs per row."""
        values, idx = probs.topk(min(k, probs.shape[1]), dim=1)
        return [[(self.class_names[i], float(v)) for v, i in zip(vs.tolist(), ids.tolist())]
                for vs, ids in zip(values, idx)]


def open_image(path: str | Path) -> Any:
    """Open and fully decode an image file, or raise a UserError naming it."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"image file {str(p)!r} does not exist")
    try:
        with warnings.catch_warnings():
            # PIL only warns between its limit and twice it: a 150-megapixel file would still be decoded
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                img.load()
                return img.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"image {str(p)!r} is too large to decode safely ({e})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise UserError(f"cannot read image {str(p)!r}: {' '.join(str(e).split()) or type(e).__name__}") from None


def read_series_csv(path: str | Path, channels: int = 1) -> list[np.ndarray]:
    """Series from a CSV file: one series per row (univariate), or one series of `channels` rows per file."""
    p = Path(path)
    text = read_text_file(p, "series file")
    rows = []
    dialect = "excel-tab" if "\t" in text else "excel"
    for n, row in enumerate(csv.reader(text.splitlines(), dialect=dialect), 1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells:
            continue
        try:
            rows.append(np.array([float(c) for c in cells]))
        except ValueError:
            raise UserError(f"{str(p)!r} line {n}: series values must be numbers, got {row[:3]!r}...") from None
    if not rows:
        raise UserError(f"series file {str(p)!r} holds no rows")
    if channels == 1:
        return rows
    if len(rows) != channels or len({len(r) for r in rows}) != 1:
        raise UserError(f"{str(p)!r}: a {channels}-channel model needs {channels} rows of equal length per file")
    return [np.stack(rows)]


def main(argv: Sequence[str] | None = None) -> int:
    """Predict from the command line; returns the exit code."""
    p = Parser(prog="python -m resnet_any.predict", description="Top-k classes for image files or CSV series.")
    p.add_argument("--checkpoint", required=True, help="a best.pt or last.pt written by resnet_any.train")
    p.add_argument("files", nargs="+", metavar="FILE", help="images (image models) or CSV files, a series per row")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    args = p.parse_args(argv)
    if args.top_k < 1:
        raise UserError(f"--top-k must be >= 1, got {args.top_k}")
    pred = Predictor.from_checkpoint(args.checkpoint, args.device)
    domain = pred.meta["domain"]
    items: list[tuple[str, int | None, torch.Tensor]] = []
    if domain == "image":
        images = [open_image(f) for f in args.files]
        probs = pred.predict_images(images)
        items = [(f, None, probs[i]) for i, f in enumerate(args.files)]
    elif domain == "series":
        channels = int(pred.data.get("channels", 1))
        for f in args.files:
            rows = read_series_csv(f, channels)
            probs = pred.predict_series(rows)
            items += [(f, i + 1 if channels == 1 else None, probs[i]) for i in range(len(rows))]
    else:
        raise UserError(f"predict handles image and series checkpoints; this one is {domain} "
                        "(use python -m resnet_any.evaluate)")
    tops = pred.top_k(torch.stack([it[2] for it in items]), args.top_k)
    if args.json:
        print(json.dumps([{"file": f, **({"row": row} if row else {}),
                           "top": [{"label": c, "prob": round(pr, 6)} for c, pr in top]}
                          for (f, row, _), top in zip(items, tops)], indent=1))
        return 0
    for (f, row, _), top in zip(items, tops):
        print(f"{f if row is None else f'{f}:{row}'}: " + ", ".join(f"{c} {pr:.3f}" for c, pr in top))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
