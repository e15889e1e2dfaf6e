"""`python -m resnet_any.evaluate --checkpoint PATH`: test metrics, per-class scores and a picture.

The metrics and the picture follow the checkpoint's task: classes get accuracy & co and a confusion matrix;
numbers (regress) RMSE, MAE and R² per target with predicted-vs-true and residual plots; tag sets (multilabel)
mAP, F1 and AUROC with per-tag precision/recall bars. The command line only: the scoring is
resnet_any.inference (evaluation.py, confusion.py, task_plots.py).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

from resnet_any.errors import Parser, UserError, command
from resnet_any.inference.checkpoint_data import checkpoint_data
from resnet_any.inference.confusion import (confusion_matrix, default_png_folder, plot_confusion,
                                           write_confusion_png)
from resnet_any.inference.evaluation import SPLITS, evaluate_checkpoint
from resnet_any.inference.task_plots import write_result_png

# the library names this module has always offered to Python callers
__all__ = ["SPLITS", "build_parser", "checkpoint_data", "confusion_matrix", "evaluate_checkpoint", "main",
           "plot_confusion"]


def build_parser() -> Parser:
    """Every flag of `python -m resnet_any.evaluate`."""
    p = Parser(prog="python -m resnet_any.evaluate", description="Test metrics of a trained checkpoint.")
    p.add_argument("--checkpoint", required=True, help="a best.pt or last.pt written by resnet_any.train")
    p.add_argument("--dataset", help="another dataset of the same classes (default: the one it was trained on)")
    p.add_argument("--data-dir", help="where that dataset's files are")
    p.add_argument("--split", help="train, val, test or all (default: test of the run's own dataset, all of another)")
    p.add_argument("--label-column", help="the label column of a series table, if not the one training read")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--out", help="folder for the PNG (confusion matrix, regression or per-tag plots; default: beside "
                                 "the checkpoint)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def _num(v: Any) -> str:
    return "-" if v is None else f"{v:.4f}"


def task_report(result: dict[str, Any]) -> str:
    """A regress or multilabel result as the terminal shows it: the averages, then one line per target or tag."""
    head = f"{result['model']} on {result['dataset']} {result['split']} ({result['n']} samples): "
    width = max(len("target"), *(len(str(n)) for n in result["class_names"]))
    if result["task"] == "regress":
        lines = [head + f"rmse {_num(result['rmse'])}  mae {_num(result['mae'])}  r2 {_num(result['r2'])}  "
                        f"loss {_num(result['loss'])}", f"  {'target':>{width}}    rmse     mae      r2      n"]
        lines += [f"  {name:>{width}}  {_num(c['rmse']):>6}  {_num(c['mae']):>6}  {_num(c['r2']):>6}  {c['n']:5d}"
                  for name, c in result["per_class"].items()]
    else:
        lines = [head + f"map {_num(result['map'])}  micro_f1 {_num(result['micro_f1'])}  macro_f1 "
                        f"{_num(result['macro_f1'])}  auroc {_num(result['auroc'])}  subset_accuracy "
                        f"{_num(result['accuracy'])}  loss {_num(result['loss'])}",
                 f"  {'tag':>{width}}  threshold  precision  recall      f1      ap  support"]
        lines += [f"  {name:>{width}}  {c['threshold']:9.4f}  {c['precision']:9.4f}  {c['recall']:6.4f}  "
                  f"{c['f1']:6.4f}  {_num(c['ap']):>6}  {c['support']:7d}" for name, c in result["per_class"].items()]
    lines.append(f"{'regression plots' if result['task'] == 'regress' else 'per-tag precision/recall'} -> "
                 f"{result['figure_png']}")
    return "\n".join(lines)


def report(result: dict[str, Any]) -> str:
    """The result as the terminal shows it: one summary line, then precision, recall and F1 per class."""
    if result.get("task", "classify") != "classify":
        return task_report(result)
    auroc = result["auroc"]
    lines = [f"{result['model']} on {result['dataset']} {result['split']} ({result['n']} samples): "
             f"accuracy {result['accuracy']:.4f}  balanced_accuracy {result['balanced_accuracy']:.4f}  "
             f"macro_f1 {result['macro_f1']:.4f}  auroc {'-' if auroc is None else f'{auroc:.4f}'}  "
             f"loss {result['loss']:.4f}"]
    width = max(len("class"), *(len(str(n)) for n in result["class_names"]))
    # recall is the class's accuracy; "-" where the split has no sample of the class
    lines.append(f"  {'class':>{width}}  precision  recall      f1  support")
    for name, c in result["per_class"].items():
        recall = "-" if not c["support"] else f"{c['recall']:.4f}"
        lines.append(f"  {name:>{width}}  {c['precision']:9.4f}  {recall:>6}  {c['f1']:6.4f}  {c['support']:7d}")
    lines.append(f"confusion matrix -> {result['confusion_png']}")
    return "\n".join(lines)


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate a checkpoint from the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    result = evaluate_checkpoint(args.checkpoint, args.dataset, args.data_dir, args.split, args.batch_size,
                                 args.device, label_column=args.label_column, keep_outputs=True)
    if result.get("warning"):
        print(f"warning: {result['warning']}", file=sys.stderr)
    out = Path(args.out) if args.out else default_png_folder(args.checkpoint)
    if result["task"] == "classify":
        result["confusion_png"] = str(write_confusion_png(result, out))
    else:
        result["figure_png"] = str(write_result_png(result, out))
    result.pop("outputs", None), result.pop("targets", None)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
