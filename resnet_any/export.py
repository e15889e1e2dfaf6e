"""`python -m resnet_any.export`: a trained checkpoint to ONNX, TorchScript or a torch.export program.

The command line only: the export is resnet_any.inference.export.
"""
from __future__ import annotations

import sys
from typing import Sequence

from resnet_any.errors import Parser, UserError, command
from resnet_any.inference.export import FORMATS, example_inputs, export

# the library names this module has always offered to Python callers
__all__ = ["FORMATS", "build_parser", "example_inputs", "export", "main"]


def build_parser() -> Parser:
    """Every flag of `python -m resnet_any.export`."""
    p = Parser(prog="python -m resnet_any.export", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="a best.pt or last.pt written by resnet_any.train")
    p.add_argument("--format", default="onnx", help=f"one of {', '.join(FORMATS)}")
    p.add_argument("--out", required=True, help="the file to write (e.g. model.onnx, model.pt, model.pt2)")
    return p


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Export a checkpoint from the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    from resnet_any.domains.weights import load_checkpoint

    if args.format not in FORMATS:
        raise UserError(f"unknown export format {args.format!r}; valid: {', '.join(FORMATS)}")
    model, meta = load_checkpoint(args.checkpoint)
    path = export(model, meta, args.format, args.out)
    print(f"wrote {path} ({args.format}, {path.stat().st_size / 1e6:.1f} MB)")
    if meta.domain == "graph":
        from resnet_any.train.run.sampling import takes_weights

        if takes_weights(model):
            # the exported program is traced on (x, edge_index[, batch]): a weighted graph's weights cannot reach it
            print("note: the exported graph takes x and edge_index only; its convolutions weigh every edge 1 "
                  "(edge weights are not an input of the export)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
