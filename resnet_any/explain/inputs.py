"""explain's INPUTs, each to a (name, PNG, JSON): image files, series CSV files, node or graph ids of a graph dataset.

INPUTs are what `python -m resnet_any.predict` takes: image files for image checkpoints, CSV files of series
(one a row, or one of C rows per file) for series checkpoints. For graph checkpoints they are node ids
(node classification) or graph ids (graph classification) of `--dataset`: a folder of graph CSV files as
predict reads them, or by default the run's own dataset (whose nodes, and test graphs, are numbered from 0).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from resnet_any.errors import UserError
from resnet_any.explain.render import explain_graph_input, explain_grid_input
from resnet_any.files import atomic_write, atomic_write_text
from resnet_any.inference.checkpoint_data import checkpoint_data
from resnet_any.inference.inputs import image_paths, open_image, read_series_csv
from resnet_any.inference.predictor import Predictor


WHAT = {"classify": "class", "regress": "target", "multilabel": "tag"}


def class_index(value: str | None, names: Sequence[str], task: str = "classify") -> int | None:
    """A --target given as a name or a number (of a class, a regressed target or a tag), as an index; None stays None."""
    if value is None:
        return None
    if value in names:
        return list(names).index(value)
    if value.lstrip("-").isdigit() and 0 <= int(value) < len(names):
        return int(value)
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    raise UserError(f"unknown --target {value!r}; valid: a {WHAT.get(task, 'class')} name ({shown}) or a number "
                    f"0..{len(names) - 1}")


def explain_images(pred: Predictor, files: Sequence[str], target: str | None,
                   method: str | None) -> list[tuple[str, bytes, dict]]:
    """One (name, PNG, JSON) per image file (a folder: per image under it)."""
    from resnet_any.data import normalize, preprocess_image

    cls = class_index(target, pred.class_names, pred.task)
    out = []
    for f in image_paths(files):  # a folder stands for its images, as in predict
        seen = preprocess_image(open_image(f), pred.data)
        png, rec = explain_grid_input(pred, normalize(seen[None], pred.data), Path(f).name, cls, method, seen=seen)
        out.append((Path(f).stem, png, {**rec, "input": f}))
    return out


def explain_series(pred: Predictor, files: Sequence[str], target: str | None,
                   method: str | None) -> list[tuple[str, bytes, dict]]:
    """One (name, PNG, JSON) per series: each row of a univariate file, each file of a multichannel one."""
    from resnet_any.data import preprocess_series

    cls = class_index(target, pred.class_names, pred.task)
    channels = int(pred.data.get("channels", 1))
    out = []
    for f in files:
        for i, row in enumerate(read_series_csv(f, channels)):
            label = Path(f).name + (f" row {i + 1}" if channels == 1 else "")
            png, rec = explain_grid_input(pred, preprocess_series(row, pred.data)[None], label, cls, method,
                                          **({"row": i + 1} if channels == 1 else {}))
            out.append((Path(f).stem + (f"_row{i + 1}" if channels == 1 else ""), png, {**rec, "input": f}))
    return out


def _graph_source(pred: Predictor, dataset: str | None, checkpoint: str) -> tuple[list[str], Any, list[str], list[Any]]:
    """(node ids, one graph) for node models or (graph ids, graphs) for graph models, read as training did."""
    from resnet_any.inference.inputs import graph_folder, node_folder

    task = pred.meta.layout
    p = Path(dataset).expanduser() if dataset is not None else None
    if p is not None and p.is_dir():
        if task == "node":
            table, graph = node_folder(p, pred.data)
            return [str(i) for i in table.ids], graph, [], []
        gt = graph_folder(p, pred.data)
        return [], None, [str(i) for i in gt.graph_ids], list(gt.graphs)

    splits = checkpoint_data(checkpoint, pred.meta, dataset)
    if task == "node":
        return [str(i) for i in range(int(splits.graph.num_nodes))], splits.graph, [], []
    test = list(splits.test or [])
    return [], None, [str(i) for i in range(len(test))], test


def explain_graphs(pred: Predictor, inputs: Sequence[str], target: str | None, method: str | None,
                   dataset: str | None, checkpoint: str) -> list[tuple[str, bytes, dict]]:
    """One (name, PNG, JSON) per node id (node models) or graph id (graph models)."""
    node_ids, graph, graph_ids, graphs = _graph_source(pred, dataset, checkpoint)
    ids = node_ids or graph_ids
    where = {v: i for i, v in enumerate(ids)}
    cls = class_index(target, pred.class_names, pred.task)
    out = []
    for item in inputs:
        if item not in where:
            kind = "node" if node_ids else "graph"
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise UserError(f"no {kind} {item!r} in the dataset; its {kind} ids are {shown} ({len(ids)} in all)")
        i = where[item]
        if node_ids:
            png, rec = explain_graph_input(pred, graph.x, graph.edge_index, None, i, node_ids, f"node {item}", cls,
                                           method, getattr(graph, "edge_weight", None))
        else:
            g = graphs[i]
            names = [str(v) for v in getattr(g, "node_ids", range(g.num_nodes))]
            png, rec = explain_graph_input(pred, g.x, g.edge_index, torch.zeros(g.num_nodes, dtype=torch.long), 0,
                                           names, f"graph {item}", cls, method, getattr(g, "edge_weight", None))
        out.append((f"{'node' if node_ids else 'graph'}_{item}", png, rec))
    return out


def _safe(name: str) -> str:
    # a node id or file name as a file name: nothing that could leave --out or trip a filesystem
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "input"


def explain_inputs(pred: Predictor, inputs: Sequence[str], target: str | None, method: str | None,
                   dataset: str | None, checkpoint: str) -> list[tuple[str, bytes, dict]]:
    """One (name, PNG, JSON) per INPUT of the checkpoint's domain."""
    domain = pred.meta.domain
    if domain == "image":
        return explain_images(pred, inputs, target, method)
    if domain == "series":
        return explain_series(pred, inputs, target, method)
    if domain == "graph":
        return explain_graphs(pred, inputs, target, method, dataset, checkpoint)
    raise UserError(f"explain covers image, series and graph checkpoints; this is a {domain} checkpoint")


def write_results(results: Sequence[tuple[str, bytes, dict]], out: Path) -> Iterator[tuple[dict, Path]]:
    """Write each result as <name>.png and <name>.json in `out`, yielding (JSON record, path without suffix) as written."""
    used: set[str] = set()
    for name, png, rec in results:
        stem, n = _safe(name), 2
        while stem in used:  # two inputs of one name (a.png in two folders) keep both pictures
            stem, n = f"{_safe(name)}_{n}", n + 1
        used.add(stem)
        atomic_write(out / f"{stem}.png", lambda f, png=png: f.write(png))
        atomic_write_text(out / f"{stem}.json", json.dumps(rec) + "\n")
        yield rec, out / stem
