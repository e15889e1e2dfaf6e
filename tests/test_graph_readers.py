"""Graph folders as Parquet beside CSV, and integer node ids looked up by value: the same graph either way."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from resnet_any.data import csv_graphs, infer_domain, load_dataset
from resnet_any.data.graph_files import integer_ids
from resnet_any.errors import DataError


def _tables(n: int = 40, e: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    nodes = pd.DataFrame({"id": np.arange(n) * 3 + 5, "label": rng.choice(["a", "b"], n),
                          "split": rng.choice(["train", "val", "test", None], n), "f0": rng.normal(size=n),
                          "f1": rng.normal(size=n)})
    edges = pd.DataFrame({"source": rng.choice(nodes["id"], e), "target": rng.choice(nodes["id"], e),
                          "weight": rng.uniform(0.1, 3.0, e).round(3)})
    return nodes, edges


def _write(folder: Path, nodes: pd.DataFrame, edges: pd.DataFrame, suffix: str) -> Path:
    folder.mkdir()
    for name, df in (("nodes", nodes), ("edges", edges)):
        if suffix == ".csv":
            df.to_csv(folder / f"nodes{suffix}".replace("nodes", name), index=False)
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _same(a, b) -> None:
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.edge_weight, b.edge_weight)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    for s in ("train", "val", "test"):
        assert torch.equal(a[f"{s}_mask"], b[f"{s}_mask"])


def test_integer_ids_are_plain_integers_only():
    assert integer_ids(["5", "8", "11"]).tolist() == [5, 8, 11]
    for ids in (["5", "08"], ["5", "7.0"], ["5", "a"], ["5", "+7"]):
        assert integer_ids(ids) is None, ids


def test_parquet_integer_and_text_ids_read_the_same_graph(tmp_path):
    nodes, edges = _tables()
    csv = _write(tmp_path / "csv", nodes, edges, ".csv")
    parquet = _write(tmp_path / "parquet", nodes, edges, ".parquet")
    # the same graph with text ids: read through the text path, the reference for the vectorised one
    named = {v: f"n{v}" for v in nodes["id"]}
    text = _write(tmp_path / "text", nodes.assign(id=nodes["id"].map(named)),
                  edges.assign(source=edges["source"].map(named), target=edges["target"].map(named)), ".csv")
    assert infer_domain(str(parquet)) == "graph"
    ref = load_dataset("graph", str(text)).graph
    for folder in (csv, parquet):
        _same(load_dataset("graph", str(folder)).graph, ref)
    # a hand check of one edge: both directions, with its weight
    g = load_dataset("graph", str(parquet)).graph
    a, b = (list(nodes["id"]).index(v) for v in (edges["source"][0], edges["target"][0]))
    pairs = list(zip(g.edge_index[0].tolist(), g.edge_index[1].tolist()))
    assert (a, b) in pairs and (b, a) in pairs


@pytest.mark.parametrize("cell, problem", [("", "the source node id is missing"), ("x", "'x' is not in")])
def test_a_non_integer_id_after_the_first_rows_is_read_as_text(tmp_path, cell, problem):
    """The first 1,000 rows look like integer ids; row 1,202 does not: the ids are read again as text."""
    nodes, edges = _tables()
    edges["source"] = edges["source"].astype(object)
    edges.loc[1200, "source"] = cell
    folder = _write(tmp_path / "late", nodes, edges, ".csv")
    with pytest.raises(DataError) as raised:
        csv_graphs.read_nodes(folder)
    assert "edges.csv' row 1202" in str(raised.value) and "column 'source'" in str(raised.value)
    assert problem in str(raised.value)


@pytest.mark.parametrize("suffix, row", [(".csv", 1202), (".parquet", 1201)])
def test_an_unknown_integer_id_names_its_row(tmp_path, suffix, row):
    nodes, edges = _tables()
    edges.loc[1200, "target"] = 999
    folder = _write(tmp_path / "bad", nodes, edges, suffix)
    with pytest.raises(DataError) as raised:
        csv_graphs.read_nodes(folder)
    assert f"edges{suffix}' row {row}" in str(raised.value) and "column 'target'" in str(raised.value)
    assert "'999' is not in" in str(raised.value)


def test_both_formats_of_one_table_is_an_error(tmp_path):
    nodes, edges = _tables()
    folder = _write(tmp_path / "both", nodes, edges, ".csv")
    edges.to_parquet(folder / "edges.parquet", index=False)
    with pytest.raises(DataError, match="both edges.csv and edges.parquet"):
        csv_graphs.read_nodes(folder)


def test_graph_classification_reads_parquet(tmp_path):
    folder = tmp_path / "graphs"
    folder.mkdir()
    graphs = pd.DataFrame({"graph_id": [f"g{i}" for i in range(12)], "label": ["a", "b"] * 6})
    edges = pd.DataFrame({"graph_id": np.repeat(graphs["graph_id"], 2), "source": [0, 1] * 12, "target": [1, 2] * 12})
    graphs.to_parquet(folder / "graphs.parquet", index=False)
    edges.to_csv(folder / "edges.csv", index=False)
    s = load_dataset("graph", str(folder))
    assert s.layout == "graph" and len(s.train) + len(s.val) + len(s.test) == 12
    assert all(g.num_nodes == 3 for g in s.train)


@pytest.mark.parametrize("n, e", [(6, 0), (5, 30), (200, 900)])
def test_undirected_equals_pyg_to_undirected(n, e):
    """Duplicates, both directions written and self-loops: the same edges, order and mean weights as PyG's."""
    from torch_geometric.utils import to_undirected

    from resnet_any.data.graph_files import _undirected

    g = torch.Generator().manual_seed(n)
    edge_index, weight = torch.randint(0, n, (2, e), generator=g), torch.rand(e, generator=g)
    ours, ours_w = _undirected(edge_index, weight, n, directed=False)
    theirs, theirs_w = to_undirected(edge_index, weight, num_nodes=n, reduce="mean")
    assert torch.equal(ours, theirs) and torch.allclose(ours_w, theirs_w)
    assert torch.equal(_undirected(edge_index, None, n, directed=False)[0], to_undirected(edge_index, num_nodes=n))
