"""One explanation of one prepared input as (PNG, JSON record): what the CLI writes and the app shows.

What is explained follows the checkpoint's task: a class (default: the predicted one), a regressed value
(default: the first target) or a tag (default: the most probable one). The record's "summary" says the
prediction in one phrase for the CLI and the app.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Sequence

import torch

from resnet_any.explain import attribute, explain_graph, pictures
from resnet_any.errors import UserError


def _task(pred: Any) -> str:
    return getattr(pred, "task", None) or "classify"


def default_target(pred: Any, out: torch.Tensor) -> int:
    """The output explained without --target: the predicted class, the first target, the most probable tag."""
    return 0 if _task(pred) == "regress" else int(out.argmax())


def summary(pred: Any, out: torch.Tensor) -> str:
    """The prediction in one phrase: "cat (0.912)", "age 31.2", "tags cat;dog"."""
    names, task = pred.class_names, _task(pred)
    if task == "regress":
        return ", ".join(f"{n} {float(v):.4g}" for n, v in zip(names, out.tolist()))
    if task == "multilabel":
        return "tags " + (";".join(pred.tags(out[None])[0]) or "(none)")
    top = int(out.argmax())
    return f"{names[top]} ({float(out[top]):.3f})"


def record(pred: Any, name: str, method: str, probs: torch.Tensor, target: int, attribution: Any,
           **extra: Any) -> dict[str, Any]:
    """The JSON of one explanation: the prediction (classes and probabilities, values, or tags) and the attribution."""
    names, task = pred.class_names, _task(pred)
    decoded = {n: round(float(p), 6) for n, p in zip(names, probs.tolist())}
    if task == "regress":
        told = {"predicted": {n: float(v) for n, v in zip(names, probs.tolist())}, "values": decoded}
    elif task == "multilabel":
        told = {"predicted": pred.tags(probs[None])[0], "probabilities": decoded}
    else:
        told = {"predicted": names[int(probs.argmax())], "probabilities": decoded}
    return {"input": name, "domain": pred.meta.domain, "model": pred.meta.model, "task": task, "method": method,
            **told, "target": names[target], "summary": summary(pred, probs), **extra, "attribution": attribution}


def title(pred: Any, probs: torch.Tensor, target: int, method: str) -> str:
    """The picture's title: the prediction, and the class, target or tag explained when it is not the default."""
    names, task = pred.class_names, _task(pred)
    top = default_target(pred, probs)
    if task == "regress":
        why = "" if len(names) == 1 else f"; explaining {names[target]}"
    else:
        why = "" if target == top else f"; explaining {names[target]} ({float(probs[target]):.3f})"
    return f"predicted {summary(pred, probs)}{why} · {method}"


def explain_grid_input(pred: Any, x: torch.Tensor, name: str, target: int | None = None, method: str | None = None,
                       seen: torch.Tensor | None = None, **extra: Any) -> tuple[bytes, dict[str, Any]]:
    """An image or series `x` (1, C, ...) prepared for `pred`'s model; `seen`: an image's uint8 (C, H, W) pixels."""
    from resnet_any.explain.grid import default_method

    x = x.to(pred.device)
    probs = pred.probabilities(x)[0]
    t = default_target(pred, probs) if target is None else target
    used = method or default_method(pred.model, x)
    a = attribute(pred.model, x, target=t, method=used)[0].cpu().numpy()
    heading = f"{name}: {title(pred, probs, t, used)}"
    if seen is not None:
        image = seen.numpy()
        png = pictures.image_png(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0), a, heading)
    else:
        png = pictures.series_png(x[0].cpu().numpy(), a, heading)
    return png, record(pred, name, used, probs, t, a.round(6).tolist(), **extra)


def explain_graph_input(pred: Any, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor | None,
                        index: int, names: Sequence[str], name: str, target: int | None = None,
                        method: str | None = None, edge_weight: torch.Tensor | None = None
                        ) -> tuple[bytes, dict[str, Any]]:
    """Node `index` of one graph (node models, no `batch`) or graph `index` of `batch`; `names`: the nodes' ids.

    `edge_weight`: the graph's edge weights, given to a model whose forward takes them (domains.graph.edge_inputs).
    """
    from resnet_any.domains.graph import edge_inputs
    from resnet_any.explain.graph import default_graph_method

    used = method or default_graph_method()
    x, edge_index = x.float().to(pred.device), edge_index.to(pred.device)
    batch = None if batch is None else batch.to(pred.device)
    weight = edge_inputs(pred.model, SimpleNamespace(edge_weight=edge_weight)).get("edge_weight")
    weight = None if weight is None else weight.to(pred.device)
    with torch.no_grad():
        logits = pred.model(x, edge_index, *(() if batch is None else (batch,)),
                            **({} if weight is None else {"edge_weight": weight}))
    probs = pred.decode(logits[index][None])[0] if hasattr(pred, "decode") else torch.softmax(logits[index].float(), 0).cpu()
    a = explain_graph(pred.model, x, edge_index, batch, index=index, target=target, method=used, task=_task(pred),
                      edge_weight=weight)
    nodes = a.nodes.cpu().tolist()
    inside = set(nodes)
    edges = [(u, v, round(float(w), 6)) for (u, v), w in zip(edge_index.cpu().t().tolist(), a.edge_mask.cpu().tolist())
             if u in inside and v in inside]
    node_values = {n: float(a.node_mask[n]) for n in nodes}
    png = pictures.graph_png([(u, v) for u, v, _ in edges], node_values, [w for _, _, w in edges],
                             {n: names[n] for n in nodes}, f"{name}: {title(pred, probs, a.target, used)}",
                             center=index if batch is None else None)
    extra = {"nodes": [names[n] for n in nodes],
             "edges": [{"source": names[u], "target": names[v], "importance": w} for u, v, w in edges]}
    return png, record(pred, name, used, probs, a.target, [round(node_values[n], 6) for n in nodes], **extra)


def explain_test_sample(pred: Any, splits: Any, n: int) -> tuple[bytes, dict[str, Any]]:
    """Test sample `n` of `splits` (an image, a series, a node or a graph), explained for its predicted class."""
    from resnet_any.data import normalize

    if splits.layout == "node":
        test = splits.graph.test_mask.nonzero().view(-1).tolist() if splits.has("test") else []
    else:
        test = splits.test if splits.test is not None else []
    if not 0 <= n < len(test):
        raise UserError(f"test sample {n} is out of range: the test split holds {len(test)} (0..{len(test) - 1})")
    if splits.layout == "node":
        g = splits.graph
        return explain_graph_input(pred, g.x, g.edge_index, None, test[n], [str(i) for i in range(g.num_nodes)],
                                   f"test node {test[n]}", edge_weight=getattr(g, "edge_weight", None))
    if splits.layout == "graph":
        g = test[n]
        return explain_graph_input(pred, g.x, g.edge_index, torch.zeros(g.num_nodes, dtype=torch.long), 0,
                                   [str(i) for i in range(g.num_nodes)], f"test graph {n}",
                                   edge_weight=getattr(g, "edge_weight", None))
    x = test[n][0]
    if pred.meta.domain == "image":
        return explain_grid_input(pred, normalize(x[None], pred.data), f"test image {n}", seen=x)
    return explain_grid_input(pred, x[None].float(), f"test series {n}")
