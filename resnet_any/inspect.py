"""`python -m resnet_any.inspect`: parameters, MACs, stage shapes, feature maps and gradient flow of a model."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from resnet_any.domains import create_model, model_domain
from resnet_any.errors import Parser, UserError, command

# a typical input per domain, without the batch axis
DEFAULT_SIZES = {"image": (3, 224, 224), "series": (1, 150), "volume": (3, 16, 112, 112), "graph": (34, 34)}


def example_inputs(domain: str, size: tuple[int, ...], batch: int = 1) -> tuple[Tensor, ...]:
    """Random inputs of `size` for a model of `domain` (graphs: a random graph of size[0] nodes)."""
    if domain != "graph":
        return (torch.randn(batch, *size),)
    nodes, features = size
    g = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, nodes, (2, 4 * nodes), generator=g)
    return torch.randn(nodes, features, generator=g), torch.cat([edge_index, edge_index.flip(0)], dim=1)


def count_macs(model: nn.Module, inputs: tuple[Tensor, ...]) -> int:
    """Multiply-accumulates of one forward pass (matmuls and convolutions; graph scatter ops excluded)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*inputs)
    return counter.get_total_flops() // 2


def stage_shapes(model: nn.Module, inputs: tuple[Tensor, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """Output shape after the stem and after each stage."""
    with torch.no_grad():
        features = model.forward_stages(*inputs)
    return list(zip(["stem", *model.stage_names], (tuple(f.shape) for f in features)))


def gradient_norms(model: nn.Module, inputs: tuple[Tensor, ...], num_classes: int, seed: int = 0) -> list[tuple[str, float]]:
    """Gradient norm of every weight (dim >= 2) for one random-label batch, input to output order."""
    torch.manual_seed(seed)
    model.train()
    out = model(*inputs)
    target = torch.randint(0, num_classes, (out.shape[0],))
    nn.functional.cross_entropy(out, target).backward()
    return [(n, p.grad.norm().item()) for n, p in model.named_parameters() if p.dim() >= 2 and p.grad is not None]


def save_feature_grid(feature: Tensor, path: str, max_maps: int = 64) -> None:
    """Write the channels of one sample's 2D feature map as a PNG grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maps = feature[0, :max_maps].detach()
    cols = int(maps.shape[0] ** 0.5 + 0.999)
    rows = (maps.shape[0] + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.2), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, m in zip(axes.flat, maps):
        ax.imshow(m.numpy(), cmap="viridis")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_gradient_plot(runs: dict[str, list[tuple[str, float]]], path: str) -> None:
    """Plot per-layer gradient norms (log scale), one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for label, norms in runs.items():
        ax.semilogy([v for _, v in norms], marker=".", label=label)
    ax.set_xlabel("layer (input -> output)")
    ax.set_ylabel("gradient norm")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _parse_size(text: str) -> tuple[int, ...]:
    try:
        size = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise UserError(f"--input-size must be comma-separated integers like 3,224,224, got {text!r}") from None
    if not size or min(size) < 1:
        raise UserError(f"--input-size must be positive integers, got {text!r}")
    return size


def _load_image(path: str, channels: int, size: tuple[int, ...]) -> Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path).convert("L" if channels == 1 else "RGB").resize((size[-1], size[-2]))
    except (OSError, UnidentifiedImageError) as e:
        raise UserError(f"cannot read image {path!r}: {e}") from None
    x = torch.tensor(list(img.getdata()), dtype=torch.float32).reshape(size[-2], size[-1], -1)
    return ((x / 255.0 - 0.5) / 0.25).permute(2, 0, 1).unsqueeze(0)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = Parser(prog="python -m resnet_any.inspect", description=__doc__)
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
        inputs = (_load_image(args.image, size[0], size),)
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
