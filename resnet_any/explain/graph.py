"""Node and edge importance for graph ResNets through `torch_geometric.explain`.

GNNExplainer (Ying et al. 2019) learns a soft mask over nodes and edges that keeps the prediction; with
captum installed, PyG's CaptumExplainer also offers gradient methods (Saliency, Integrated Gradients).
A node's prediction depends only on its k-hop neighbourhood (k = message-passing steps), so node
explanations run on the (k+1)-hop subgraph: one hop more keeps every degree inside the k hops exact, so
the subgraph's output at the node equals the full graph's, at a fraction of the cost on a large graph.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from resnet_any.errors import UserError

GNN_EXPLAINER_EPOCHS = 100
# method name -> captum attribution class (through PyG's CaptumExplainer)
CAPTUM = {"saliency": "Saliency", "integrated_gradients": "IntegratedGradients"}
GRAPH_METHODS = ("gnnexplainer", *CAPTUM)


def has_captum() -> bool:
    """Whether captum is installed (PyG's gradient explainers need it)."""
    return importlib.util.find_spec("captum") is not None


def default_graph_method() -> str:
    """GNNExplainer, always: a default that changed with the packages installed would change a user's figures
    silently (captum's gradient methods are there by name)."""
    return "gnnexplainer"


def hops(model: nn.Module) -> int:
    """Message-passing steps of a model: how far a node's prediction reaches."""
    from torch_geometric.nn import MessagePassing

    return max(sum(isinstance(m, MessagePassing) for m in model.modules()), 1)


@dataclass
class GraphAttribution:
    """Importance per node and per edge of the explained graph; `nodes` is the neighbourhood explained."""

    node_mask: Tensor      # (num_nodes,): one value per node, 0 outside the neighbourhood
    edge_mask: Tensor      # (num_edges,): one value per edge of edge_index, 0 outside the neighbourhood
    nodes: Tensor          # indices of the nodes that can influence the prediction (all, for a graph)
    target: int


class _Output(nn.Module):
    """One output of a model as a (N, 1) regression output: a regressed value or a tag's logit is explained alone."""

    def __init__(self, model: nn.Module, index: int) -> None:
        super().__init__()
        self.model, self.index = model, index

    def forward(self, *args, **kwargs) -> Tensor:
        return self.model(*args, **kwargs)[:, self.index:self.index + 1]


def _explainer(model: nn.Module, method: str, task_level: str, mode: str = "multiclass_classification"):
    from torch_geometric.explain import Explainer
    from torch_geometric.explain.algorithm import CaptumExplainer, GNNExplainer

    if method == "gnnexplainer":
        # one mask value per node: the question is which nodes, and deletion tests remove whole nodes' features
        algorithm, node_mask_type = GNNExplainer(epochs=GNN_EXPLAINER_EPOCHS), "object"
    else:
        if not has_captum():
            raise UserError(f"method {method!r} needs captum: pip install captum (or use --method gnnexplainer)")
        # captum attributes per feature; they are summed per node below
        algorithm, node_mask_type = CaptumExplainer(CAPTUM[method]), "attributes"
    # a class is explained as the phenomenon of that target class; one output of several (a value, a tag's
    # logit) as what the model computes, keeping that output (PyG's regression mode)
    kind = "phenomenon" if mode == "multiclass_classification" else "model"
    return Explainer(model=model, algorithm=algorithm, explanation_type=kind,
                     node_mask_type=node_mask_type, edge_mask_type="object",
                     model_config=dict(mode=mode, task_level=task_level, return_type="raw"))


def explain_graph(model: nn.Module, x: Tensor, edge_index: Tensor, batch: Tensor | None = None, *,
                  index: int | None = None, target: int | None = None, method: str | None = None,
                  seed: int = 0, task: str = "classify", edge_weight: Tensor | None = None) -> GraphAttribution:
    """Explain node `index`'s prediction (node models, no `batch`) or graph `index` of a batch (graph models).

    `target`: the class explained (default: the predicted one); for `task` regress or multilabel, the output
    explained (a target's value or a tag's logit; default: the first target, the most probable tag). GNNExplainer's random start is drawn from
    `seed` in a forked RNG, so explanations repeat and the caller's random state is untouched. `edge_weight` (one per
    edge of `edge_index`) goes to the model with the explained subgraph's edges, as the model trained on them.
    """
    from torch_geometric.utils import k_hop_subgraph, subgraph

    method = method or default_graph_method()
    if method not in GRAPH_METHODS:
        raise UserError(f"unknown method {method!r} for a graph model; valid: {', '.join(GRAPH_METHODS)}")
    n = x.shape[0]
    if batch is None:
        if index is None or not 0 <= int(index) < n:
            raise UserError(f"a node model explains one node: pass a node index in 0..{n - 1}, got {index!r}")
        k = hops(model)
        nodes, _, _, _ = k_hop_subgraph(int(index), k, edge_index, num_nodes=n)
        # one hop more, so that every degree inside the k hops (and so the node's output) is exact
        outer, sub_edges, mapping, edge_keep = k_hop_subgraph(int(index), k + 1, edge_index, relabel_nodes=True,
                                                              num_nodes=n)
        sub_x, sub_batch, sub_index, task_level = x[outer], None, int(mapping[0]), "node"
    else:
        count = int(batch.max()) + 1 if batch.numel() else 0
        if index is None or not 0 <= int(index) < count:
            raise UserError(f"a graph model explains one graph of the batch: pass an index in 0..{count - 1}, "
                            f"got {index!r}")
        nodes = outer = (batch == int(index)).nonzero().view(-1)
        sub_edges, _, edge_keep = subgraph(outer, edge_index, relabel_nodes=True, num_nodes=n, return_edge_mask=True)
        sub_x, sub_batch, sub_index, task_level = x[outer], torch.zeros_like(outer), 0, "graph"
    was_training = model.training
    model.eval()
    try:
        kwargs = {} if sub_batch is None else {"batch": sub_batch}
        if edge_weight is not None:
            kwargs["edge_weight"] = edge_weight[edge_keep]
        with torch.no_grad():
            logits = model(sub_x, sub_edges, **kwargs)
        k_classes = logits.shape[1]
        first = 0 if task == "regress" else int(logits[sub_index].argmax())
        cls = first if target is None else int(target)
        if not 0 <= cls < k_classes:
            raise UserError(f"target {cls} out of range; the model has {k_classes} outputs (0..{k_classes - 1})")
        if task == "classify":
            explainer = _explainer(model, method, task_level)
            wanted = {"target": torch.full((logits.shape[0],), cls, dtype=torch.long, device=logits.device)}
        else:
            explainer, wanted = _explainer(_Output(model, cls), method, task_level, "regression"), {}
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.manual_seed(seed)
            expl = explainer(sub_x.float(), sub_edges, **wanted, index=sub_index, **kwargs)
    finally:
        model.train(was_training)
    node_mask = torch.zeros(n, device=x.device)
    node_mask[outer] = expl.node_mask.detach().float().sum(1)
    keep = torch.zeros(n, dtype=torch.bool, device=x.device)
    keep[nodes] = True
    node_mask[~keep] = 0.0  # the extra hop only fixes degrees; its nodes cannot reach the prediction
    edge_mask = torch.zeros(edge_index.shape[1], device=x.device)
    edge_mask[edge_keep.nonzero().view(-1)] = expl.edge_mask.detach().float()
    return GraphAttribution(node_mask, edge_mask, nodes, cls)
