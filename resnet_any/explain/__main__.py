"""`python -m resnet_any.explain --checkpoint CKPT INPUT... --out DIR`: a PNG and a JSON per input.

INPUTs are what `python -m resnet_any.predict` takes: image files for image checkpoints, CSV files of series
(one a row, or one of C rows per file) for series checkpoints. For graph checkpoints they are node ids
(node classification) or graph ids (graph classification) of `--dataset`: a folder of graph CSV files as
predict reads them, or by default the run's own dataset (whose nodes, and test graphs, are numbered from 0).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

from resnet_any.errors import cli_environment

if __name__ == "__main__":
    cli_environment()  # before torch loads

import torch  # noqa: E402

from resnet_any.errors import Parser, UserError, run_cli  # noqa: E402
from resnet_any.explain import GRAPH_METHODS, GRID_METHODS  # noqa: E402
from resnet_any.explain.render import explain_graph_input, explain_grid_input  # noqa: E402
from resnet_any.predict import Predictor  # noqa: E402
from resnet_any.files import atomic_write, atomic_write_text  # noqa: E402


def class_index(value: str | None, names: Sequence[str]) -> int | None:
    """A --target given as a class name or a class number, as an index; None stays None."""
    if value is None:
        return None
    if value in names:
        return list(names).index(value)
    if value.lstrip("-").isdigit() and 0 <= int(value) < len(names):
        return int(value)
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    raise UserError(f"unknown --target {value!r}; valid: a class name ({shown}) or a number 0..{len(names) - 1}")


def explain_images(pred: Predictor, files: Sequence[str], target: str | None,
                   method: str | None) -> list[tuple[str, bytes, dict]]:
    """One (name, PNG, JSON) per image file."""
    from resnet_any.data import normalize, preprocess_image
    from resnet_any.predict import open_image

    cls = class_index(target, pred.class_names)
    out = []
    for f in files:
        seen = preprocess_image(open_image(f), pred.data)
        png, rec = explain_grid_input(pred, normalize(seen[None], pred.data), Path(f).name, cls, method, seen=seen)
        out.append((Path(f).stem, png, {**rec, "input": f}))
    return out


def explain_series(pred: Predictor, files: Sequence[str], target: str | None,
                   method: str | None) -> list[tuple[str, bytes, dict]]:
    """One (name, PNG, JSON) per series: each row of a univariate file, each file of a multichannel one."""
    from resnet_any.data import preprocess_series
    from resnet_any.predict import read_series_csv

    cls = class_index(target, pred.class_names)
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
    from resnet_any.data import csv_graphs

    task = pred.meta.get("task")
    p = Path(dataset).expanduser() if dataset is not None else None
    if p is not None and p.is_dir():
        directed = bool(pred.data.get("directed", False))
        if task == "node":
            table = csv_graphs.read_nodes(p, directed=directed, labels=False)
            graph = csv_graphs.node_data(table)
            csv_graphs.features_for_model([graph], table.feature_columns, pred.data, p / csv_graphs.NODES)
            return [str(i) for i in table.ids], graph, [], []
        gt = csv_graphs.read_graphs(p, directed=directed, labels=False)
        csv_graphs.features_for_model(gt.graphs, gt.feature_columns, pred.data,
                                      p / (csv_graphs.NODES if gt.has_nodes_file else csv_graphs.EDGES))
        return [], None, [str(i) for i in gt.graph_ids], list(gt.graphs)
    from resnet_any.evaluate import checkpoint_data

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
    cls = class_index(target, pred.class_names)
    out = []
    for item in inputs:
        if item not in where:
            kind = "node" if node_ids else "graph"
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise UserError(f"no {kind} {item!r} in the dataset; its {kind} ids are {shown} ({len(ids)} in all)")
        i = where[item]
        if node_ids:
            png, rec = explain_graph_input(pred, graph.x, graph.edge_index, None, i, node_ids, f"node {item}", cls,
                                           method)
        else:
            g = graphs[i]
            names = [str(v) for v in getattr(g, "node_ids", range(g.num_nodes))]
            png, rec = explain_graph_input(pred, g.x, g.edge_index, torch.zeros(g.num_nodes, dtype=torch.long), 0,
                                           names, f"graph {item}", cls, method)
        out.append((f"{'node' if node_ids else 'graph'}_{item}", png, rec))
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "input"


def main(argv: Sequence[str] | None = None) -> int:
    """Explain predictions from the command line; returns the exit code."""
    p = Parser(prog="python -m resnet_any.explain",
               description="What the network looked at: a PNG and a JSON (raw attribution, classes, probabilities) "
                           "per input.")
    p.add_argument("--checkpoint", required=True, help="a best.pt or last.pt written by resnet_any.train")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, CSV files of series, or node / graph ids of a graph checkpoint's dataset")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG and JSON files")
    p.add_argument("--target", metavar="CLASS", help="explain this class (name or number; default: the predicted one)")
    p.add_argument("--method", metavar="NAME",
                   help=f"grids: {', '.join(GRID_METHODS)}; graphs: {', '.join(GRAPH_METHODS)} (default: the domain's)")
    p.add_argument("--dataset", metavar="PATH",
                   help="graph checkpoints: a folder of graph CSV files (default: the run's own dataset)")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda")
    args = p.parse_args(argv)
    pred = Predictor.from_checkpoint(args.checkpoint, args.device)
    domain = pred.meta["domain"]
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
    if domain == "image":
        results = explain_images(pred, args.inputs, args.target, args.method)
    elif domain == "series":
        results = explain_series(pred, args.inputs, args.target, args.method)
    elif domain == "graph":
        results = explain_graphs(pred, args.inputs, args.target, args.method, args.dataset, args.checkpoint)
    else:
        raise UserError(f"explain covers image, series and graph checkpoints; this is a {domain} checkpoint")
    used: set[str] = set()
    for name, png, rec in results:
        stem, n = _safe(name), 2
        while stem in used:  # two inputs of one name (a.png in two folders) keep both pictures
            stem, n = f"{_safe(name)}_{n}", n + 1
        used.add(stem)
        atomic_write(out / f"{stem}.png", lambda f, png=png: f.write(png))
        atomic_write_text(out / f"{stem}.json", json.dumps(rec) + "\n")
        print(f"{rec['input']}: {rec['predicted']} ({rec['probabilities'][rec['predicted']]:.3f}), "
              f"explaining {rec['target']} with {rec['method']} -> {out / stem}.png, .json")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
