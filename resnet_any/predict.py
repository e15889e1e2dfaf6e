"""`python -m resnet_any.predict --checkpoint PATH FILE...`: predictions for image files or CSV series rows.

What a prediction says follows the checkpoint's task (inference/answers.py): the top-k classes (classify), the
values in the user's units, one per target (regress), or the tag set (tags at or above the per-tag thresholds
chosen on validation, 0.5 without) with every tag's probability (multilabel).

`--dataset PATH` predicts a whole dataset of the user's files and writes one CSV row per item
(to --out, else stdout): a folder of graph CSV files for graph checkpoints (one row per node, or
per graph), a series table (.csv, .tsv, .parquet, .npz; labels optional) for series checkpoints.
The command line only: reading and predicting is resnet_any.inference (predictor.py, inputs.py,
file_predictions.py, dataset_predictions.py).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from resnet_any.errors import Parser, UserError, command
from resnet_any.inference.answers import as_json, as_text
from resnet_any.inference.dataset_predictions import predict_dataset, write_csv
from resnet_any.inference.file_predictions import predict_files
from resnet_any.inference.inputs import open_image, read_series_csv
from resnet_any.inference.predictor import Predictor

# the library names this module has always offered to Python callers
__all__ = ["Predictor", "build_parser", "main", "open_image", "predict_dataset", "read_series_csv", "write_csv"]


def build_parser() -> Parser:
    """Every flag of `python -m resnet_any.predict`."""
    p = Parser(prog="python -m resnet_any.predict", description="Top-k classes, values or tag sets for image files or CSV series.")
    p.add_argument("--checkpoint", required=True, help="a best.pt or last.pt written by resnet_any.train")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="images or folders of images (image models); CSV files, a series per row, or tables with a "
                        "header row as --dataset reads them (series models)")
    p.add_argument("--dataset", metavar="PATH",
                   help="predict a whole dataset, one CSV row per item: a folder of graph CSV files (nodes.csv/edges.csv, "
                        "or graphs.csv/edges.csv[/nodes.csv]) for graph checkpoints, a table (.csv .tsv .parquet .npz, "
                        "labels optional) for series checkpoints")
    p.add_argument("--out", metavar="CSV", help="with --dataset: write the predictions here (default: print them)")
    p.add_argument("--top-k", type=int, default=5, help="classes shown per prediction (classify checkpoints)")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    return p


def _check(args: argparse.Namespace) -> None:
    """The flag combinations predict refuses, before the checkpoint is read."""
    if args.top_k < 1:
        raise UserError(f"--top-k must be >= 1, got {args.top_k}")
    if args.dataset is not None and args.files:
        raise UserError("pass FILE arguments or --dataset PATH, not both")
    if args.dataset is None and not args.files:
        raise UserError("nothing to predict: pass FILE arguments (images, or CSV files of series) or --dataset PATH")
    if args.dataset is None and args.out is not None:
        raise UserError("--out goes with --dataset (FILE predictions print to the terminal)")
    if args.dataset is not None and args.json:
        raise UserError("--dataset writes CSV; drop --json")


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Predict from the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    _check(args)
    pred = Predictor.from_checkpoint(args.checkpoint, args.device)
    if args.dataset is not None:
        header, rows = predict_dataset(pred, args.dataset, args.top_k)
        write_csv(header, rows, args.out)
        return 0
    found = predict_files(pred, args.files, args.top_k)
    if args.json:
        print(json.dumps([{"file": it["file"], **({"row": it["row"]} if it["row"] else {}),
                           **({"id": it["id"]} if "id" in it else {}),
                           **as_json(it)} for it in found], indent=1))
        return 0
    for it in found:
        within = it["row"] if it["row"] is not None else it.get("id")
        name = it["file"] if within is None else f"{it['file']}:{within}"
        print(f"{name}: {as_text(it)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
