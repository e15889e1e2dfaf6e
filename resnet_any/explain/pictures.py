"""Pictures of attributions: a heat map over the image as the network saw it, series coloured by activation,
a graph neighbourhood with node size and colour by importance. Each returns PNG bytes (matplotlib, Agg)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from resnet_any.figures import figure, png_bytes

CMAP = "jet"  # Grad-CAM's customary map: red where the class's evidence is


def scaled(values: np.ndarray) -> np.ndarray:
    """Values mapped to [0, 1] by their own range (a flat map becomes 0)."""
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values, dtype=float)


def overlay(image: np.ndarray, attribution: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """An RGB uint8 picture: the image (H, W) or (H, W, 3) uint8 blended with the attribution's colour map."""
    from matplotlib import colormaps

    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
    heat = colormaps[CMAP](scaled(attribution))[..., :3] * 255.0
    return np.clip((1 - alpha) * rgb + alpha * heat, 0, 255).astype(np.uint8)


def image_png(image: np.ndarray, attribution: np.ndarray, title: str) -> bytes:
    """The image as the network saw it, beside the same image under its attribution heat map."""
    fig = figure(7.0, 3.8)
    left, right = fig.subplots(1, 2)
    gray = image.ndim == 2
    left.imshow(image, cmap="gray" if gray else None, vmin=0, vmax=255, interpolation="nearest")
    left.set_title("input as the network saw it", fontsize=9)
    right.imshow(image, cmap="gray" if gray else None, vmin=0, vmax=255, interpolation="nearest")
    im = right.imshow(attribution, cmap=CMAP, alpha=0.5, interpolation="bilinear")
    right.set_title("attribution", fontsize=9)
    fig.colorbar(im, ax=right, fraction=0.046, pad=0.04)
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return png_bytes(fig)


def series_png(series: np.ndarray, attribution: np.ndarray, title: str) -> bytes:
    """One panel per channel: the series (C, L) as a line coloured by the attribution (L,) at each time step."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    channels, length = series.shape
    fig = figure(8.0, 1.2 + 1.8 * channels)
    axes = np.atleast_1d(fig.subplots(channels, 1, sharex=True, squeeze=False)[:, 0])
    norm = Normalize(float(attribution.min()), float(attribution.max()))
    t = np.arange(length)
    lines = None
    for c, ax in enumerate(axes):
        points = np.stack([t, series[c]], axis=1)
        segments = np.stack([points[:-1], points[1:]], axis=1)
        # each segment takes the mean of its two ends' attributions
        lines = LineCollection(segments, cmap=CMAP, norm=norm, linewidths=2.5)
        lines.set_array((attribution[:-1] + attribution[1:]) / 2)
        ax.add_collection(lines)
        ax.set_xlim(0, length - 1)
        pad = 0.05 * (float(np.ptp(series[c])) or 1.0)
        ax.set_ylim(float(series[c].min()) - pad, float(series[c].max()) + pad)
        ax.set_ylabel(f"channel {c}" if channels > 1 else "value (as prepared)")
    axes[-1].set_xlabel("time step")
    fig.colorbar(lines, ax=list(axes), label="attribution")
    fig.suptitle(title, fontsize=10)
    return png_bytes(fig)


def graph_png(edges: Sequence[tuple[int, int]], node_values: dict[int, float], edge_values: Sequence[float],
              labels: dict[int, str], title: str, center: int | None = None) -> bytes:
    """A graph drawn with node size and colour by importance and edge width by importance; `center` ringed."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(node_values)
    weights: dict[tuple[int, int], float] = {}
    for (u, v), w in zip(edges, edge_values):
        if u != v and u in node_values and v in node_values:
            key = (min(u, v), max(u, v))
            weights[key] = max(weights.get(key, 0.0), float(w))
    g.add_edges_from(weights)
    pos = nx.spring_layout(g, seed=0)
    nodes = list(g.nodes)
    values = np.array([node_values[n] for n in nodes], dtype=float)
    size = 80 + 520 * scaled(values)
    fig = figure(7.0, 6.0)
    ax = fig.subplots()
    ew = np.array([weights[(min(u, v), max(u, v))] for u, v in g.edges], dtype=float)
    nx.draw_networkx_edges(g, pos, ax=ax, width=0.5 + 3.0 * scaled(ew) if len(ew) else 1.0, alpha=0.6,
                           edge_color="gray")
    lo, hi = float(values.min()), float(values.max())
    drawn = nx.draw_networkx_nodes(g, pos, ax=ax, node_size=size, node_color=values, cmap=CMAP, vmin=lo,
                                   vmax=hi if hi > lo else lo + 1, edgecolors=["black" if n == center else "none"
                                                                               for n in nodes],
                                   linewidths=[2.5 if n == center else 0 for n in nodes])
    if len(nodes) <= 40:
        nx.draw_networkx_labels(g, pos, {n: labels[n] for n in nodes}, ax=ax, font_size=7)
    fig.colorbar(drawn, ax=ax, label="importance")
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    return png_bytes(fig)
