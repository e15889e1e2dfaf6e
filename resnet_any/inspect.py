"""`python -m resnet_any.inspect`: parameters, MACs, stage shapes, feature maps and gradient flow of a model.

The command line only: the measurements are resnet_any.domains.inspection.
"""
from __future__ import annotations

import sys
from pathlib import Path

from resnet_any.domains import create_model, model_domain
from resnet_any.domains.inspection import (DEFAULT_SIZES, count_macs, example_inputs, gradient_norms, load_image,
                                           save_feature_grid, save_gradient_plot, stage_shapes)
from resnet_any.errors import Parser, UserError, command

# the library names this module has always offered to Python callers
__all__ = ["DEFAULT_SIZES", "build_parser", "count_macs", "example_inputs", "gradient_norms", "main",
           "save_feature_grid", "save_gradient_plot", "stage_shapes"]


def _parse_size(text: str) -> tuple[int, ...]:
    try:
        size = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise UserError(f"--input-size must be comma-separated integers like 3,224,224, got {text!r}") from None
    if not size or min(size) < 1:
        raise UserError(f"--input-size must be positive integers, got {text!r}")
    return size


def build_parser() -> Parser:
    """The command-line interface."""
    p = Parser(prog="python -m resnet_any.inspect", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a registered model name (see resnet_any.list_models())")
    p.add_argument("--input-size", help="input size without batch, e.g. 3,224,224 (graphs: nodes,features)")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--image", help="an image file for --feature-maps (default: random input)")
    p.add_argument("--feature-maps", metavar="PNG", help="write the feature maps of --stage as a PNG grid")
    p.add_argument("--stage", type=int, default=1, help="0 = stem, 1.. = stages (for --feature-maps)")
    p.add_argument("--grad-norms", metavar="PNG", help="plot per-layer gradient norms, with and without skips")
    p.add_argument("--no-skip", action="store_true", help="inspect the twin without skip connections")
    return p


@command
def main(argv: list[str] | None = None) -> int:
    """Run the inspection and print its report."""
    args = build_parser().parse_args(argv)
    domain = model_domain(args.model)
    size = _parse_size(args.input_size) if args.input_size else DEFAULT_SIZES.get(domain)
    if size is None:
        raise UserError(f"no default input size for domain {domain!r}; pass --input-size")
    kwargs = {"num_classes": args.num_classes, "in_channels": size[1] if domain == "graph" else size[0]}
    no_skip = {"style": "plain"} if domain == "graph" else {"skip": False}
    model = create_model(args.model, **kwargs, **(no_skip if args.no_skip else {})).eval()
    inputs = example_inputs(domain, size)
    if args.image:
        inputs = (load_image(args.image, size[0], size),)
    params = sum(p.numel() for p in model.parameters())
    print(f"model {args.model} ({domain}{', no skip connections' if args.no_skip else ''})")
    print(f"input {tuple(inputs[0].shape)}")
    print(f"parameters {params:,}")
    print(f"MACs {count_macs(model, inputs):,}")
    for name, shape in stage_shapes(model, inputs):
        print(f"  {name:<8} {shape}")
    if args.feature_maps:
        features = model.forward_stages(*inputs)
        if not 0 <= args.stage < len(features):
            raise UserError(f"--stage {args.stage} out of range; valid: 0..{len(features) - 1}")
        if features[args.stage].dim() != 4:
            raise UserError("--feature-maps draws 2D maps; this model's features are not images")
        save_feature_grid(features[args.stage], args.feature_maps)
        print(f"feature maps of stage {args.stage} -> {args.feature_maps}")
    if args.grad_norms:
        batch = example_inputs(domain, size, batch=8)
        runs = {}
        for label, extra in (("with skips", {}), ("no skips", no_skip)):
            twin = create_model(args.model, **kwargs, **extra)
            runs[label] = gradient_norms(twin, batch, args.num_classes)
        print("layer gradient norms (first / last weight):")
        for label, norms in runs.items():
            print(f"  {label:<10} first {norms[0][1]:.3e}  last {norms[-1][1]:.3e}  "
                  f"ratio {norms[0][1] / max(norms[-1][1], 1e-30):.3e}")
        Path(args.grad_norms).parent.mkdir(parents=True, exist_ok=True)
        save_gradient_plot(runs, args.grad_norms)
        print(f"gradient plot -> {args.grad_norms}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
