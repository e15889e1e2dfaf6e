"""`python demos/ship_model.py RUN/best.pt resnet_any/assets/mnist_resnet.pt`: keep only what inference needs.

A training checkpoint also holds the optimizer's momentum, scheduler and RNG states (twice the weights' size);
the shipped model drops them and stays a resnet_any checkpoint that `load_checkpoint` reads with weights_only.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Everything load_checkpoint and the app read; the rest exists only to resume training.
KEEP = ("format", "version", "model_name", "model_kwargs", "model", "epoch", "best", "config", "class_names",
        "num_classes", "domain", "task", "data", "history")


def ship(src: str | Path, dst: str | Path) -> dict:
    """Write the inference-only copy of checkpoint `src` to `dst` and return its meta, checked by reloading it."""
    from resnet_any.files import read_checkpoint, save_checkpoint
    from resnet_any.domains.weights import load_checkpoint

    ckpt = read_checkpoint(src)
    save_checkpoint(dst, {k: ckpt[k] for k in KEEP if k in ckpt})
    _, meta = load_checkpoint(dst)
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    from resnet_any.errors import UserError

    try:
        meta = ship(*args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = Path(args[1]).stat().st_size
    print(f"{args[1]}: {meta['model']} {meta['model_kwargs']} on {meta['config']['dataset']}, epoch {meta['epoch']}, "
          f"val acc {meta['best']['val_acc']:.4f}, {size / 2**20:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
