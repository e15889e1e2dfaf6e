"""What a model is made of: parameters, MACs, stage shapes, feature maps and gradient flow (`python -m resnet_any.inspect`)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from resnet_any.errors import UserError

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


def load_image(path: str, channels: int, size: tuple[int, ...]) -> Tensor:
    """An image file as a (1, C, H, W) input of `size`, scaled to about zero mean (feature maps of a real picture)."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path).convert("L" if channels == 1 else "RGB").resize((size[-1], size[-2]))
    except (OSError, UnidentifiedImageError) as e:
        raise UserError(f"cannot read image {path!r}: {e}") from None
    x = torch.tensor(list(img.getdata()), dtype=torch.float32).reshape(size[-2], size[-1], -1)
    return ((x / 255.0 - 0.5) / 0.25).permute(2, 0, 1).unsqueeze(0)
