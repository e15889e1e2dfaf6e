"""Graph datasets: Cora from package data and from a copy of shared data, MUTAG, karate, validation."""
from __future__ import annotations

import shutil

import pytest
import torch

from resnet_any.data import list_datasets, load_dataset
from resnet_any.data.graphs import ASSETS, validate_graph
from resnet_any.errors import UserError


def _check_cora(s) -> None:
    g = s.graph
    assert s.layout == "node" and s.name == "Cora" and s.train is None
    assert g.num_nodes == 2708 and s.in_channels == 1433 and g.x.shape == (2708, 1433)
    assert s.num_classes == 7 and len(s.class_names) == 7
    assert g.edge_index.shape == (2, 10556)
    masks = [g.train_mask, g.val_mask, g.test_mask]
    assert [int(m.sum()) for m in masks] == [140, 500, 1000]
    assert not (masks[0] & masks[1]).any() and not (masks[1] & masks[2]).any() and not (masks[0] & masks[2]).any()
    # Public Planetoid split: 20 labelled nodes per class, the first 140 nodes.
    assert torch.bincount(g.y[g.train_mask], minlength=7).tolist() == [20] * 7
    assert g.train_mask[:140].all()
    # Row-normalised features.
    assert torch.allclose(g.x.sum(1)[g.x.sum(1) > 0], torch.ones(1))


def test_cora_default_from_package_data(shared_data, tmp_path):
    s = load_dataset("graph", cache_dir=tmp_path)
    _check_cora(s)
    # The shipped files are byte-identical to the published ones, and loading left shared/ untouched.
    for f in (shared_data / "planetoid" / "Cora" / "raw").iterdir():
        assert (ASSETS / "cora" / "raw" / f.name).read_bytes() == f.read_bytes()
    assert not (ASSETS / "cora" / "processed").exists()
    assert sorted(p.name for p in (shared_data / "planetoid" / "Cora").iterdir()) == ["raw"]


def test_cora_from_copy_of_shared_planetoid(shared_data, tmp_path):
    root = tmp_path / "planetoid"
    shutil.copytree(shared_data / "planetoid", root)
    _check_cora(load_dataset("graph", "CORA", str(root), cache_dir=tmp_path / "cache"))


def test_mutag_from_copy_of_shared_tu(shared_data, tmp_path):
    root = tmp_path / "TUDataset"
    shutil.copytree(shared_data / "TUDataset", root)
    s = load_dataset("graph", "mutag", str(root), cache_dir=tmp_path / "cache")
    assert s.name == "MUTAG" and s.layout == "graph" and s.graph is None
    graphs = s.train + s.val + s.test
    assert len(graphs) == 188 and s.num_classes == 2 and s.in_channels == 7
    labels = torch.cat([g.y for g in graphs])
    # MUTAG: 125 mutagenic, 63 not (README of the TU collection); each graph's y has shape [1].
    assert torch.bincount(labels).tolist() == [63, 125]
    assert all(g.y.shape == (1,) for g in graphs)
    test_labels = torch.cat([g.y for g in s.test])
    assert abs(int((test_labels == 0).sum()) - round(0.2 * 63)) <= 1
    assert s.meta["edge_features"] == 4 and s.meta["node_features"] == "dataset"
    assert not (root / "MUTAG" / "processed").exists()  # PyG wrote into the cache copy only


def test_corrupt_tu_edges_are_a_user_error(shared_data, tmp_path):
    root = tmp_path / "TU"
    shutil.copytree(shared_data / "TUDataset", root)
    a = root / "MUTAG" / "raw" / "MUTAG_A.txt"
    a.chmod(0o644)
    lines = a.read_text().splitlines()
    # Graph 0 has 17 nodes; an edge from node 1 to node 20 (1-based) reaches into graph 1.
    a.write_text("\n".join(["1, 20"] + lines[1:]) + "\n")
    with pytest.raises(UserError, match=r"MUTAG graph 0 .*out of range for 17 nodes"):
        load_dataset("graph", "mutag", str(root), cache_dir=tmp_path / "cache")
    # An extra edge line (no matching edge label) breaks PyG's parser: also one clear line, not a traceback.
    a.write_text("\n".join(lines + ["1, 2"]) + "\n")
    with pytest.raises(UserError, match="cannot read TU dataset MUTAG"):
        load_dataset("graph", "mutag", str(root), cache_dir=tmp_path / "cache")


def test_validate_graph_rejects_out_of_range_edges():
    from torch_geometric.data import Data

    with pytest.raises(UserError, match=r"edge index 5 out of range for 3 nodes"):
        validate_graph(Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 5]])), "toy")
    validate_graph(Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]])), "toy")


def test_karate_masks_are_a_seeded_stratified_partition(tmp_path):
    s = load_dataset("graph", "Karate", cache_dir=tmp_path)
    g = s.graph
    total = g.train_mask.int() + g.val_mask.int() + g.test_mask.int()
    assert (total == 1).all() and s.num_classes == 4 and g.num_nodes == 34
    assert set(g.y[g.train_mask].tolist()) == {0, 1, 2, 3}
    again = load_dataset("graph", "karate", cache_dir=tmp_path)
    assert torch.equal(again.graph.test_mask, g.test_mask)


def test_graph_names_and_errors(tmp_path):
    names = list_datasets("graph")
    assert names[0] == "cora" and {"citeseer", "pubmed", "mutag", "proteins", "enzymes", "karate"} <= set(names)
    with pytest.raises(UserError, match="cora.*mutag"):
        load_dataset("graph", "ogbn-papers")
    with pytest.raises(UserError, match="network is unreachable.*CiteSeer/raw/ind.citeseer"):
        load_dataset("graph", "citeseer", cache_dir=tmp_path)
    with pytest.raises(UserError, match="no Planetoid PubMed files"):
        (tmp_path / "x").mkdir()
        (tmp_path / "x" / "junk.txt").write_text("x")
        load_dataset("graph", "pubmed", str(tmp_path / "x"), cache_dir=tmp_path)
