"""`python -m resnet_any.explain --checkpoint CKPT INPUT... --out DIR`: a PNG and a JSON per input.

INPUTs are what `python -m resnet_any.predict` takes: image files for image checkpoints, CSV files of series
(one a row, or one of C rows per file) for series checkpoints. For graph checkpoints they are node ids
(node classification) or graph ids (graph classification) of `--dataset`: a folder of graph CSV files as
predict reads them, or by default the run's own dataset (whose nodes, and test graphs, are numbered from 0).
The command line only: the work is resnet_any.explain.inputs.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from resnet_any.errors import cli_environment

if __name__ == "__main__":
    cli_environment()  # before torch loads

from resnet_any.errors import Parser, UserError, command  # noqa: E402
from resnet_any.explain import GRAPH_METHODS, GRID_METHODS  # noqa: E402
from resnet_any.explain.inputs import (class_index, explain_graphs, explain_images, explain_inputs,  # noqa: E402
                                       explain_series, write_results)
from resnet_any.inference.predictor import Predictor  # noqa: E402

# the library names this module has always offered to Python callers
__all__ = ["Predictor", "build_parser", "class_index", "explain_graphs", "explain_images", "explain_series", "main"]


def build_parser() -> Parser:
    """Every flag of `python -m resnet_any.explain`."""
    p = Parser(prog="python -m resnet_any.explain",
               description="What the network looked at: a PNG and a JSON (raw attribution, the prediction) "
                           "per input.")
    p.add_argument("--checkpoint", required=True, help="a best.pt or last.pt written by resnet_any.train")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, CSV files of series, or node / graph ids of a graph checkpoint's dataset")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG and JSON files")
    p.add_argument("--target", metavar="NAME",
                   help="explain this class, regressed target or tag (name or number; default: the predicted class, "
                        "the first target, the most probable tag)")
    p.add_argument("--method", metavar="NAME",
                   help=f"grids: {', '.join(GRID_METHODS)}; graphs: {', '.join(GRAPH_METHODS)} (default: the domain's)")
    p.add_argument("--dataset", metavar="PATH",
                   help="graph checkpoints: a folder of graph CSV files (default: the run's own dataset)")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda")
    return p


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Explain predictions from the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    pred = Predictor.from_checkpoint(args.checkpoint, args.device)
    domain = pred.meta.domain
    valid = GRAPH_METHODS if domain == "graph" else GRID_METHODS
    if args.method is not None and args.method not in valid:
        raise UserError(f"unknown --method {args.method!r} for this {domain} checkpoint; valid: {', '.join(valid)}")
    if args.dataset is not None and domain != "graph":
        raise UserError(f"--dataset goes with graph checkpoints; a {domain} checkpoint explains INPUT files")
    out = Path(args.out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create --out {str(out)!r}: {e.strerror or e}") from None
    results = explain_inputs(pred, args.inputs, args.target, args.method, args.dataset, args.checkpoint)
    for rec, stem in write_results(results, out):
        print(f"{rec['input']}: {rec['summary']}, "
              f"explaining {rec['target']} with {rec['method']} -> {stem}.png, .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
