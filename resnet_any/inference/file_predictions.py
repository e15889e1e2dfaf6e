"""Predictions for the FILE arguments of predict: image files or folders of them, CSV files of series.

Each is the answer of the checkpoint's task (answers.py): top-k classes, values in the user's units, or a tag set
with every tag's probability.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from resnet_any.errors import UserError
from resnet_any.inference.answers import answers
from resnet_any.inference.inputs import image_paths, is_table, open_image, read_series_csv
from resnet_any.inference.predictor import Predictor


def predict_files(pred: Predictor, files: Sequence[str], top_k: int = 5) -> list[dict[str, Any]]:
    """One {"file", "row" or "id" (of a series in a file of several), and the answer} per prediction.

    The answer (answers.py) is "top": [(class, probability)] for classes, "values": {target: value} for
    regression, "tags": [...] and "probs": {tag: probability} for tag sets.

    Image models: a folder stands for every image under it. Series models: a table with a header row (or a
    Parquet or npz file) is read as `--dataset FILE` reads it, its series named by id or row; a CSV file of bare
    numbers holds one series a row (univariate) or one of C rows (C channels).
    """
    domain = pred.meta.domain
    items: list[tuple[str, dict[str, Any], torch.Tensor]] = []
    if domain == "image":
        paths = image_paths(files)
        probs = pred.predict_images([open_image(f) for f in paths])
        items = [(f, {}, probs[i]) for i, f in enumerate(paths)]
    elif domain == "series":
        channels = int(pred.data.get("channels", 1))
        for f in files:
            if is_table(f):
                items += _table_items(pred, f)
                continue
            rows = read_series_csv(f, channels)
            probs = pred.predict_series(rows)
            items += [(f, {"row": i + 1} if channels == 1 else {}, probs[i]) for i in range(len(rows))]
    else:
        hint = ("pass --dataset FOLDER (nodes.csv/edges.csv or graphs.csv)" if domain == "graph"
                else "score it with python -m resnet_any.evaluate --checkpoint CKPT --dataset PATH")
        raise UserError(f"predict takes image and series FILEs; this is a {domain} checkpoint: {hint}")
    found = answers(pred, torch.stack([it[2] for it in items]), top_k)
    return [{"file": f, "row": None, **where, **a} for (f, where, _), a in zip(items, found)]


def _table_items(pred: Predictor, path: str) -> list[tuple[str, dict[str, Any], torch.Tensor]]:
    """(file, {"row": line} or {"id": id}, probabilities) per series of a table, read as --dataset reads it."""
    from resnet_any.data import tables

    st = tables.table_for_model(path, pred.data)
    probs = pred.predict_series_batch(st.series)
    # a table without an id column names its series by row, counted as its reader counts them in messages
    where = [{"row": int(i)} if st.id_column == "row" else {"id": i} for i in st.ids]
    return [(path, w, probs[n]) for n, w in enumerate(where)]
