"""`python -m resnet_any.evaluate --checkpoint PATH`: test metrics, per-class scores and a confusion-matrix PNG."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from resnet_any.errors import Parser, UserError, run_cli
from resnet_any.files import atomic_write
from resnet_any.domains.weights import load_checkpoint
from resnet_any.train.run.metrics import classification_metrics
from resnet_any.train.run.tasks import make_task, predict_split
from resnet_any.train.plan import SPLIT_SEED, pick_device


def confusion_matrix(logits: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts [true class, predicted class]."""
    flat = targets * num_classes + logits.argmax(1)
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


SPLITS = ("train", "val", "test", "all")


def evaluate_checkpoint(checkpoint: str | Path, dataset: str | None = None, data_dir: str | None = None,
                        split: str | None = None, batch_size: int = 256, device: str = "auto",
                        model: Any = None, label_column: str | None = None) -> dict[str, Any]:
    """Score a checkpoint on a split of its own dataset (or of --dataset): loss, accuracy, F1 & co, confusion.

    `split`: train, val, test or all; by default the test split of the run's own dataset, and every sample
    of another one (a holdout file is scored whole, not re-split). `model`: an instance of a model of your
    own (trained with fit) for its weights to load into. `label_column`: a series table's, if not the run's.
    """
    if split is not None and split not in SPLITS:
        raise UserError(f"unknown --split {split!r}; valid: {', '.join(SPLITS)}")
    dev = pick_device(device)
    model, meta = load_checkpoint(checkpoint, dev, model=model)
    own = dataset is None
    split = split or ("test" if own else "all")
    splits = checkpoint_data(checkpoint, meta, dataset, data_dir, label_column)
    task = make_task(splits, dev, batch_size)
    parts = [name for name in ("train", "val", "test") if task.has(name) and task.size(name)] if split == "all" else [split]
    if not parts or not (task.has(parts[0]) and task.size(parts[0])):
        raise UserError(f"dataset {splits.name!r} has an empty {split} split")
    outputs = [predict_split(model, task, name) for name in parts]
    logits, targets = torch.cat([o[0] for o in outputs]), torch.cat([o[1] for o in outputs])
    warning = None
    saved = meta.get("split_sizes")
    if own and saved:
        from resnet_any.train.plan import split_sizes

        now = split_sizes(splits)
        if now != saved:
            # the files changed since training: this "test" split may hold samples the model trained on
            warning = (f"the data's splits hold {now['train']}/{now['val']}/{now['test']} samples, training's held "
                       f"{saved['train']}/{saved['val']}/{saved['test']}: the files changed, so scores may include "
                       "training samples")
    k = meta["num_classes"]
    cm = confusion_matrix(logits, targets, k)
    support = cm.sum(1)
    per_class = {name: (cm[i, i].item() / support[i].item() if support[i] else None)
                 for i, name in enumerate(meta["class_names"])}
    m = classification_metrics(logits, targets, meta["class_names"])
    return {"checkpoint": str(checkpoint), "dataset": splits.name, "split": split, "model": meta["model"],
            "n": m["n"], "accuracy": m["acc"], "loss": m["loss"], "balanced_accuracy": m["balanced_accuracy"],
            "macro_f1": m["macro_f1"], "auroc": m["auroc"], "per_class_accuracy": per_class,
            "per_class": m["per_class"],
            "class_names": list(meta["class_names"]), "confusion_matrix": cm.tolist(),
            **({"warning": warning} if warning else {})}


def checkpoint_data(checkpoint: str | Path, meta: dict[str, Any], dataset: str | None = None,
                    data_dir: str | None = None, label_column: str | None = None) -> Any:
    """The DataSplits a checkpoint is scored on: its run's own dataset (None) or `dataset`, read and prepared as
    training read them, checked against the model's classes and channels."""
    from resnet_any.data import load_dataset

    cfg = meta["config"]
    if dataset is None:
        from resnet_any.data.python import IN_MEMORY

        if cfg["dataset"] == IN_MEMORY:
            raise UserError(f"{str(checkpoint)!r} was trained on data passed from Python (fit), which no file holds; "
                            "pass --dataset NAME or PATH to score it on files")
        dataset, data_dir = cfg["dataset"], data_dir if data_dir is not None else cfg.get("data_dir")
    size = (meta.get("data") or {}).get("image_size")
    # a table's label column and an edge list's direction are read as in training
    readers = {k: cfg[k] for k in ("label_column", "directed") if cfg.get(k) is not None}
    if label_column is not None:
        readers["label_column"] = label_column
    splits = load_dataset(meta["domain"], dataset, data_dir, seed=SPLIT_SEED, val_fraction=cfg["val_fraction"],
                          image_size=size if meta["domain"] == "image" else None, cache_dir=cfg.get("cache_dir"),
                          **readers)
    if splits.num_classes != meta["num_classes"]:
        raise UserError(f"dataset {splits.name!r} has {splits.num_classes} classes but the checkpoint predicts "
                        f"{meta['num_classes']}")
    if splits.in_channels != meta["model_kwargs"].get("in_channels", splits.in_channels):
        raise UserError(f"dataset {splits.name!r} has {splits.in_channels} input channels but the checkpoint's model "
                        f"takes {meta['model_kwargs']['in_channels']}")
    if splits.meta and meta["domain"] == "image":
        # normalise exactly as in training, whatever statistics the evaluated dataset would have
        splits.meta = {**splits.meta, **{k: v for k, v in (meta.get("data") or {}).items() if k in ("mean", "std")}}
    return splits


def plot_confusion(result: dict[str, Any]) -> bytes:
    """PNG bytes of the confusion matrix, counts written in the cells when there are few classes."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    cm = result["confusion_matrix"]
    names = result["class_names"]
    k = len(names)
    # at least 5 inches: a 2-class matrix's title would otherwise be wider than its figure
    side = min(max(3 + 0.45 * k, 5.0), 20)
    fig = Figure(figsize=(side, side), dpi=100, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if k <= 30:
        ax.set_xticks(range(k), names, rotation=90 if k > 10 else 0)
        ax.set_yticks(range(k), names)
    if k <= 20:
        top = max(max(row) for row in cm) or 1
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i][j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i][j] > top / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{result['model']} on {result['dataset']} {result['split']}\naccuracy {result['accuracy']:.4f}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate a checkpoint from the command line; returns the exit code."""
    p = Parser(prog="python -m resnet_any.evaluate", description="Test metrics of a trained checkpoint.")
    p.add_argument("--checkpoint", required=True, help="a best.pt or last.pt written by resnet_any.train")
    p.add_argument("--dataset", help="another dataset of the same classes (default: the one it was trained on)")
    p.add_argument("--data-dir", help="where that dataset's files are")
    p.add_argument("--split", help="train, val, test or all (default: test of the run's own dataset, all of another)")
    p.add_argument("--label-column", help="the label column of a series table, if not the one training read")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--out", help="folder for the confusion-matrix PNG (default: the current directory)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    result = evaluate_checkpoint(args.checkpoint, args.dataset, args.data_dir, args.split, args.batch_size,
                                 args.device, label_column=args.label_column)
    if result.get("warning"):
        print(f"warning: {result['warning']}", file=sys.stderr)
    # never beside the checkpoint by default: the shipped one lives inside the installed package
    out = Path(args.out) if args.out else Path.cwd()
    png = out / f"confusion_{result['dataset']}_{result['split']}.png"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {str(out)!r}: {e.strerror or e}") from None
    data = plot_confusion(result)
    atomic_write(png, lambda f: f.write(data))
    result["confusion_png"] = str(png)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    auroc = result["auroc"]
    print(f"{result['model']} on {result['dataset']} {result['split']} ({result['n']} samples): "
          f"accuracy {result['accuracy']:.4f}  balanced_accuracy {result['balanced_accuracy']:.4f}  "
          f"macro_f1 {result['macro_f1']:.4f}  auroc {'-' if auroc is None else f'{auroc:.4f}'}  "
          f"loss {result['loss']:.4f}")
    width = max(len("class"), *(len(str(n)) for n in result["class_names"]))
    # recall is the class's accuracy; "-" where the split has no sample of the class
    print(f"  {'class':>{width}}  precision  recall      f1  support")
    for name, c in result["per_class"].items():
        recall = "-" if not c["support"] else f"{c['recall']:.4f}"
        print(f"  {name:>{width}}  {c['precision']:9.4f}  {recall:>6}  {c['f1']:6.4f}  {c['support']:7d}")
    print(f"confusion matrix -> {png}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
