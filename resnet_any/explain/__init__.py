"""What the network looked at: attributions for images, series and graphs, their pictures and a faithfulness test.

`attribute(model, x, *ctx, target=None, method=None)` returns the attribution with the input's batch and
spatial shape and no channel axis: (N, H, W) for images, (N, L) for series, (N, D, H, W) for volumes, and
one value per node for graphs. Grid methods: "cam" (exact for our GAP + linear heads, the default where
the last stage keeps at least 4 positions an axis) and "gradcam". Graph methods: "gnnexplainer" and, with
captum installed, "saliency" and "integrated_gradients".
"""
from __future__ import annotations

from torch import Tensor, nn

from resnet_any.errors import UserError
from resnet_any.explain.graph import GRAPH_METHODS, GraphAttribution, explain_graph
from resnet_any.explain.grid import GRID_METHODS, attribute_grid

__all__ = ["GRAPH_METHODS", "GRID_METHODS", "GraphAttribution", "attribute", "explain_graph"]


def attribute(model: nn.Module, x: Tensor, *ctx, target: Tensor | int | None = None, method: str | None = None,
              index: int | None = None) -> Tensor:
    """The attribution of class `target` (default: the predicted class) for input `x` of `model`.

    Grids: `x` is a prepared batch (N, C, *spatial). Graphs: `ctx` is (edge_index,) for a node model, then
    `index` names the node explained, or (edge_index, batch) for a graph model, with `index` the graph
    (default 0); the result has one value per node of `x`.
    """
    from resnet_any.core import GraphOps, ResNet

    if (isinstance(model, ResNet) and isinstance(model.ops, GraphOps)) or ctx:
        if not ctx:
            raise UserError("a graph model needs edge_index: attribute(model, x, edge_index, index=NODE)")
        batch = ctx[1] if len(ctx) > 1 else None
        if batch is not None and index is None:
            index = 0
        return explain_graph(model, x, ctx[0], batch, index=index, target=target, method=method).node_mask
    return attribute_grid(model, x, target, method)
