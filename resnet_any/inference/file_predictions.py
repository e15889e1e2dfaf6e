"""Top-k predictions for the FILE arguments of predict: image files, CSV files of series."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from resnet_any.errors import UserError
from resnet_any.inference.inputs import open_image, read_series_csv
from resnet_any.inference.predictor import Predictor


def predict_files(pred: Predictor, files: Sequence[str], top_k: int = 5) -> list[dict[str, Any]]:
    """One {"file", "row" (a row of a univariate series file), "top": [(class, probability)]} per prediction."""
    domain = pred.meta["domain"]
    items: list[tuple[str, int | None, torch.Tensor]] = []
    if domain == "image":
        images = [open_image(f) for f in files]
        probs = pred.predict_images(images)
        items = [(f, None, probs[i]) for i, f in enumerate(files)]
    elif domain == "series":
        channels = int(pred.data.get("channels", 1))
        for f in files:
            rows = read_series_csv(f, channels)
            probs = pred.predict_series(rows)
            items += [(f, i + 1 if channels == 1 else None, probs[i]) for i in range(len(rows))]
    else:
        hint = ("pass --dataset FOLDER (nodes.csv/edges.csv or graphs.csv)" if domain == "graph"
                else "score it with python -m resnet_any.evaluate --checkpoint CKPT --dataset PATH")
        raise UserError(f"predict takes image and series FILEs; this is a {domain} checkpoint: {hint}")
    tops = pred.top_k(torch.stack([it[2] for it in items]), top_k)
    return [{"file": f, "row": row, "top": top} for (f, row, _), top in zip(items, tops)]
