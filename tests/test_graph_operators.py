"""Graph operators by name (gcn/sage/gin/gat_resnet) and weighted edges, checked against PyG's own layers."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch_geometric.nn as gnn

from resnet_any import create_model, list_models
from resnet_any.domains.graph import edge_inputs

# a 4-node graph, both directions of each edge, with unequal weights (the same value in both directions)
X = torch.tensor([[1.0, 0.0, 2.0], [0.5, -1.0, 0.0], [0.0, 3.0, 1.0], [2.0, 2.0, -1.0]])
EDGES = torch.tensor([[0, 1, 1, 2, 2, 3, 0, 3], [1, 0, 2, 1, 3, 2, 3, 0]])
WEIGHT = torch.tensor([0.5, 0.5, 2.0, 2.0, 1.0, 1.0, 3.0, 3.0])
PYG = {"gcn_resnet": gnn.GCNConv, "sage_resnet": gnn.SAGEConv, "gin_resnet": gnn.GINConv, "gat_resnet": gnn.GATConv}


def _pyg_layer(name: str, conv: torch.nn.Module) -> torch.nn.Module:
    """A fresh PyG layer of the same kind and shape, given the model's weights."""
    if name == "gin_resnet":
        mlp = torch.nn.Sequential(torch.nn.Linear(conv.nn[0].in_features, conv.nn[0].out_features), torch.nn.ReLU(),
                                  torch.nn.Linear(conv.nn[2].in_features, conv.nn[2].out_features))
        layer = gnn.GINConv(mlp, train_eps=True)
    else:
        cin, cout = conv.in_channels, conv.out_channels
        layer = {"gcn_resnet": lambda: gnn.GCNConv(cin, cout), "sage_resnet": lambda: gnn.SAGEConv(cin, cout),
                 "gat_resnet": lambda: gnn.GATConv(cin, cout, heads=1)}[name]()
    layer.load_state_dict(conv.state_dict())
    return layer


def test_every_operator_has_a_name_in_the_graph_family():
    assert {"gcn_resnet", "sage_resnet", "gin_resnet", "gat_resnet"} <= set(list_models("graph"))
    for name, cls in PYG.items():
        model = create_model(name, in_channels=3, num_classes=2)
        assert isinstance(model.conv1.conv, cls)
    gin = create_model("gin_resnet", in_channels=3, num_classes=2)
    # Xu et al.'s graph classifier: a sum readout over every layer, eps learned
    assert gin.ops.pool_name == "sum" and gin.jk is not None and gin.conv1.conv.eps.requires_grad


@pytest.mark.parametrize("name", list(PYG))
def test_a_plain_two_layer_model_is_two_pyg_layers(name):
    """style plain, no norm, no dropout: fc(relu(conv2(relu(conv1(x))))) with PyG's layers holding the same weights."""
    torch.manual_seed(0)
    model = create_model(name, in_channels=3, num_classes=2, depth=2, style="plain", norm="none", dropout=0.0,
                         jk=False, hidden_channels=5).eval()
    first, second = _pyg_layer(name, model.conv1.conv), _pyg_layer(name, model.layer1[0].conv1.conv)
    weighted = name == "gcn_resnet"
    w = (WEIGHT,) if weighted else ()
    with torch.no_grad():
        h = torch.relu(first(X, EDGES, *w))
        expected = model.fc(torch.relu(second(h, EDGES, *w)))
        got = model(X, EDGES, edge_weight=WEIGHT)
        plain = model(X, EDGES)  # the positional two-argument call explain and ONNX export make
    assert torch.allclose(got, expected, atol=1e-6)
    if weighted:
        assert not torch.allclose(got, plain, atol=1e-4)  # the weights changed the messages
        assert torch.allclose(model(X, EDGES, None, torch.ones(EDGES.shape[1])), plain, atol=1e-6)
    else:
        assert torch.equal(got, plain)  # SAGE, GIN and GAT take no weights


def test_gin_aggregates_by_sum():
    """On the path 0-1-2 with x = 1, 2, 4 and eps 0, GIN's MLP sees x_i + the sum of its neighbours: 3, 7, 6."""
    model = create_model("gin_resnet", in_channels=1, num_classes=2, depth=1)
    conv = model.conv1.conv
    seen = []
    conv.nn.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    with torch.no_grad():
        model(torch.tensor([[1.0], [2.0], [4.0]]), torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
    assert float(conv.eps.detach()) == 0.0
    assert seen[0].view(-1).tolist() == [3.0, 7.0, 6.0]  # a mean would give 3, 4.5, 6


def test_gcn2_takes_the_weights_too():
    torch.manual_seed(0)
    model = create_model("gcn_resnet", in_channels=3, num_classes=2, depth=2, style="gcnii", hidden_channels=4).eval()
    with torch.no_grad():
        assert not torch.allclose(model(X, EDGES, edge_weight=WEIGHT), model(X, EDGES), atol=1e-5)
        assert torch.allclose(model(X, EDGES, edge_weight=torch.ones(EDGES.shape[1])), model(X, EDGES), atol=1e-6)


def test_edge_inputs_give_weights_only_to_a_model_that_takes_them():
    from torch_geometric.data import Data

    class Mine(torch.nn.Module):
        def forward(self, x, edge_index):
            return x

    g = Data(x=X, edge_index=EDGES, edge_weight=WEIGHT)
    assert edge_inputs(Mine(), g) == {}
    assert edge_inputs(create_model("gin_resnet", in_channels=3, num_classes=2), g)["edge_weight"] is WEIGHT
    assert edge_inputs(create_model("gcn_resnet", in_channels=3, num_classes=2), Data(x=X, edge_index=EDGES)) == {}


# ---------------------------------------------------------------- runs: the note, and real data


def _weighted_folder(root: Path) -> Path:
    """Two communities of 12 nodes (features say the community, noisily), weighted edges."""
    rng = np.random.default_rng(0)
    n = 24
    label = np.repeat([0, 1], n // 2)
    feats = rng.normal(size=(n, 4)) + label[:, None]
    src, dst = [], []
    for i in range(n):
        for j in rng.choice(n, 3, replace=False):
            if i != j:
                src.append(i)
                dst.append(int(j))
    folder = root / "weighted"
    folder.mkdir()
    pd.DataFrame({"id": np.arange(n), "label": label, **{f"f{k}": feats[:, k] for k in range(4)}}).to_csv(
        folder / "nodes.csv", index=False)
    pd.DataFrame({"source": src, "target": dst, "weight": rng.uniform(0.5, 2.0, len(src))}).to_csv(
        folder / "edges.csv", index=False)
    return folder


@pytest.mark.parametrize("model, said", [("gcn_resnet", "gcn_resnet uses the edge weights"),
                                         ("gin_resnet", "gin_resnet ignores edge weights: GINConv takes none; "
                                                        "gcn_resnet uses them")])
def test_a_weighted_run_says_whether_its_model_uses_the_weights(tmp_path, one_thread, model, said):
    from resnet_any.train import TrainConfig, train

    summary = train(TrainConfig(dataset=str(_weighted_folder(tmp_path)), domain="graph", model=model, epochs=2,
                                quiet=True, device="cpu", out=str(tmp_path / "run")))
    weights = [n for n in summary["notes"] if "edge weights" in n]
    assert len(weights) == 1 and weights[0].startswith(said), summary["notes"]
    assert not any("unweighted" in n for n in summary["notes"])


def test_weights_reach_the_gcn_in_training(tmp_path, one_thread, monkeypatch):
    """NodeTask hands the Data's edge_weight to the model: the first convolution is called with it."""
    from resnet_any.train import TrainConfig, train
    from torch_geometric.nn import GCNConv

    folder = _weighted_folder(tmp_path)
    seen = []
    original = GCNConv.forward

    def spy(self, x, edge_index, edge_weight=None):
        seen.append((edge_index, edge_weight))
        return original(self, x, edge_index, edge_weight)

    monkeypatch.setattr(GCNConv, "forward", spy)
    train(TrainConfig(dataset=str(folder), domain="graph", model="gcn_resnet", epochs=1, quiet=True, device="cpu",
                      out=str(tmp_path / "run")))
    from resnet_any.data import load_dataset

    read = load_dataset("graph", str(folder)).graph  # the reader's undirected weights (test_data_files checks them)
    from torch_geometric.utils import is_torch_sparse_tensor, to_edge_index

    def weights(structure, weight):
        # a node task hands our graph ResNets a sparse adjacency (rows = targets) whose values are the weights
        if is_torch_sparse_tensor(structure):
            index, weight = to_edge_index(structure)
            structure = index.flip(0)
        assert weight is not None
        return dict(zip(map(tuple, structure.t().tolist()), weight.tolist()))

    expected = dict(zip(map(tuple, read.edge_index.t().tolist()), read.edge_weight.tolist()))
    assert seen and all(weights(*call) == pytest.approx(expected) for call in seen)
    assert len(set(read.edge_weight.tolist())) > 1


def test_gin_resnet_learns_mutag(shared_data, tmp_path, one_thread):
    """A short real run: the test accuracy beats always answering the majority class."""
    from resnet_any.train import TrainConfig, train

    shutil.copytree(shared_data / "TUDataset" / "MUTAG", tmp_path / "tu" / "MUTAG")
    summary = train(TrainConfig(dataset="MUTAG", data_dir=str(tmp_path / "tu"), domain="graph", model="gin_resnet",
                                epochs=30, lr=0.01, quiet=True, device="cpu", out=str(tmp_path / "run"), seed=0))
    from resnet_any.data import load_dataset

    test = load_dataset("graph", "MUTAG", data_dir=str(tmp_path / "tu")).test
    labels = torch.cat([g.y.view(-1) for g in test])
    majority = float(torch.bincount(labels).max()) / len(labels)
    assert summary["test_accuracy"] > majority


def test_a_weighted_checkpoint_predicts_with_the_weights(tmp_path, one_thread):
    """best.pt reloads by its model name and predicts the files' nodes with their edge weights, as training did."""
    from resnet_any.data import csv_graphs
    from resnet_any.inference.predictor import Predictor
    from resnet_any.train import TrainConfig, train

    folder = _weighted_folder(tmp_path)
    train(TrainConfig(dataset=str(folder), domain="graph", model="gcn_resnet", epochs=2, quiet=True, device="cpu",
                      out=str(tmp_path / "run")))
    pred = Predictor.from_checkpoint(tmp_path / "run" / "best.pt")
    g = csv_graphs.node_data(csv_graphs.read_nodes(folder))
    with torch.no_grad():
        weighted = pred.model(g.x, g.edge_index, edge_weight=g.edge_weight).softmax(-1)
        unweighted = pred.model(g.x, g.edge_index).softmax(-1)
    got = pred.predict_nodes(g)
    assert torch.allclose(got, weighted, atol=1e-6) and not torch.allclose(got, unweighted, atol=1e-6)


def test_graph_batches_carry_their_weights_to_the_model(tmp_path, one_thread, monkeypatch):
    """graphs.csv layout: each graph's edge_weight is collated into the batch and reaches every GCNConv."""
    from torch_geometric.nn import GCNConv

    from resnet_any.train import TrainConfig, train

    folder = tmp_path / "molecules"
    folder.mkdir()
    rng = np.random.default_rng(0)
    pd.DataFrame({"graph_id": [f"g{i}" for i in range(16)], "label": ["a", "b"] * 8}).to_csv(
        folder / "graphs.csv", index=False)
    pd.DataFrame({"graph_id": np.repeat([f"g{i}" for i in range(16)], 3), "source": [0, 1, 2] * 16,
                  "target": [1, 2, 0] * 16, "weight": rng.uniform(0.5, 2.0, 48).round(3)}).to_csv(
        folder / "edges.csv", index=False)
    seen = []
    original = GCNConv.forward

    def spy(self, x, edge_index, edge_weight=None):
        seen.append(edge_weight is not None and len(edge_weight) == edge_index.shape[1])
        return original(self, x, edge_index, edge_weight)

    monkeypatch.setattr(GCNConv, "forward", spy)
    # the graph-level default convolves with GIN, which takes no weights: ask for GCN's
    summary = train(TrainConfig(dataset=str(folder), domain="graph", model="gcn_resnet", epochs=1, quiet=True,
                                model_kwargs={"conv": "gcn"}, device="cpu", out=str(tmp_path / "run")))
    assert seen and all(seen)
    assert any(n.startswith("gcn_resnet uses the edge weights") for n in summary["notes"])
