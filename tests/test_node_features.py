"""Node feature scaling and the node rules: hand-computed rows, the rules on small profiles, one short real run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from resnet_any.data.graph_features import feature_stats, repeat_scaling, scale_features
from resnet_any.train.plan.derive import Profile, derive

X = torch.tensor([[1.0, 0.0, 3.0], [0.0, 0.0, 0.0], [2.0, 2.0, 0.0]])


def test_row_normalisation_by_hand() -> None:
    """Each nonzero row divided by its sum (an empty row stays empty), as Kipf & Welling's bag of words."""
    x, meta = scale_features(X, "row")
    assert torch.allclose(x, torch.tensor([[0.25, 0.0, 0.75], [0.0, 0.0, 0.0], [0.5, 0.5, 0.0]]))
    assert meta == {"feature_norm": "row"}


def test_standardisation_by_hand() -> None:
    """Columns to mean 0, sample sd 1: column 0 is 1, 0, 2 (mean 1, sd 1); a constant column stays 0."""
    x = torch.cat([X, torch.full((3, 1), 5.0)], 1)
    z, meta = scale_features(x, "standardize")
    assert torch.allclose(z[:, 0], torch.tensor([0.0, -1.0, 1.0]))
    assert torch.allclose(z[:, 2], torch.tensor([2.0, -1.0, -1.0]) / 3 ** 0.5)  # 3, 0, 0: mean 1, sd sqrt(3)
    assert torch.equal(z[:, 3], torch.zeros(3))
    assert meta["feature_mean"] == pytest.approx([1.0, 2 / 3, 1.0, 5.0])
    # files read for prediction get the training run's numbers, not their own
    assert torch.allclose(repeat_scaling(x[:1], meta), z[:1])


def test_feature_stats() -> None:
    """Density, sign, row sums, and the ratio of the widest to the narrowest column's spread."""
    s = feature_stats(X)
    assert s.density == pytest.approx(4 / 9) and not s.negative and not s.rows_sum_one
    assert s.spread == pytest.approx(3 ** 0.5)  # column sds 1, sqrt(4/3), sqrt(3)
    assert feature_stats(scale_features(X, "row")[0]).rows_sum_one
    assert feature_stats(-X).negative


def _node(**features) -> Profile:
    return Profile("graph", "node", 140, 500, 7, (20,) * 7, nodes=2708, features=1433, n_test=1000,
                   **{"features_from": "columns", "feature_negative": False, "feature_rows_one": False,
                      "feature_spread": 1.0, **features})


@pytest.mark.parametrize("features, norm", [
    (dict(feature_density=0.013, feature_spread=40.0), "none"),             # a bag of words: rare and common words
    (dict(feature_density=0.013, feature_rows_one=True), "none"),           # already row-normalised
    (dict(feature_density=1.0, feature_negative=True), "standardize"),      # signed measurements
    (dict(feature_density=0.05, feature_negative=True), "standardize"),     # sparse but signed: not counts
    (dict(feature_density=0.9, feature_spread=300.0), "standardize"),       # columns in different units
    (dict(feature_density=0.9, feature_spread=2.0), "none"),                # dense, one scale already
    (dict(feature_density=1.0, feature_negative=True, features_from="degree_onehot_10"), "none"),  # the reader's
])
def test_feature_norm_rule(features: dict, norm: str) -> None:
    """The rule's decision on small synthetic profiles, read from the features alone."""
    assert derive(_node(**features))["feature_norm"] == norm
    assert "feature_norm" not in derive(_node(**features), {"feature_norm": "none"})  # the user's value is kept


def test_cora_as_measurements_trains_standardised(tmp_path: Path) -> None:
    """A real run: 700 Cora papers as 32 signed columns in mixed units (a random projection of their words, each
    column scaled and shifted) in nodes.csv: the rule standardises them, says so, and the run learns."""
    import pandas as pd
    from torch_geometric.utils import subgraph

    from resnet_any.data import load_dataset
    from resnet_any.train.cli import main

    g = load_dataset("graph", "cora").graph
    keep = torch.arange(700)
    edges, _ = subgraph(keep, g.edge_index, num_nodes=g.num_nodes)
    gen = torch.Generator().manual_seed(0)
    x = (g.x[keep] > 0).float() @ torch.randn(g.num_features, 32, generator=gen)
    x = x * torch.logspace(-2, 3, 32) + torch.linspace(-500, 2000, 32)  # columns from 0.01 to 1,000 units
    folder = tmp_path / "cora700"
    folder.mkdir()
    nodes = pd.DataFrame(x.numpy(), columns=[f"m{i}" for i in range(32)])
    nodes.insert(0, "label", [f"topic{int(c)}" for c in g.y[keep]])
    nodes.insert(0, "id", keep.numpy())
    nodes.to_csv(folder / "nodes.csv", index=False)
    once = edges[0] < edges[1]
    pd.DataFrame({"source": edges[0][once].numpy(), "target": edges[1][once].numpy()}).to_csv(
        folder / "edges.csv", index=False)
    out = tmp_path / "run"
    assert main(["--dataset", str(folder), "--epochs", "40", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    notes = " ".join(summary["notes"])
    assert "standardised" in notes and "used as given" not in notes
    assert json.loads((out / "config.json").read_text())["feature_norm"] == "standardize"
    # evaluate reads the files again and scales them as the run did: the run's own test scores
    from resnet_any.inference.evaluation import evaluate_checkpoint

    scored = evaluate_checkpoint(out / "best.pt", device="cpu")
    assert abs(scored["accuracy"] - summary["test_accuracy"]) < 1e-6, scored
    # the same files as given: the columns' units swamp the signal
    assert main(["--dataset", str(folder), "--epochs", "40", "--out", str(tmp_path / "given"), "--quiet",
                 "--device", "cpu", "--feature-norm", "none"]) == 0
    given = json.loads((tmp_path / "given" / "summary.json").read_text())
    assert summary["test_accuracy"] > given["test_accuracy"] + 0.05


def test_generated_panel_graphs_are_what_they_claim(tmp_path: Path) -> None:
    """node_panel's block models, written and read back: homophily, degree, feature kind and split as declared."""
    from resnet_any.bench.node_panel import SBM, sbm_builder
    from resnet_any.data import load_dataset

    for spec in (SBM("t-words", 1200, 4, 6.0, 0.8, "words", 300, 6.0), SBM("t-dense", 1200, 4, 6.0, 0.3, "dense", 8, 1.0)):
        splits = load_dataset("graph", str(sbm_builder(spec)(tmp_path, tmp_path)))
        g = splits.graph
        src, dst = g.edge_index
        assert abs(float((g.y[src] == g.y[dst]).float().mean()) - spec.homophily) < 0.05
        assert abs(src.numel() / g.num_nodes - spec.degree) < 1.0  # duplicates and self-loops merged away
        assert list(splits.class_counts("train")) == [20] * 4
        assert (int(g.val_mask.sum()), int(g.test_mask.sum())) == (500, 1200 - 80 - 500)  # Planetoid: 500, then <= 1,000
        stats = feature_stats(g.x)
        assert (stats.negative, stats.density < 0.1) == ((False, True) if spec.features == "words" else (True, False))


def test_gcn_reference_learns_a_homophilous_graph(tmp_path: Path) -> None:
    """The same-run GCN (PyG's GCNConv, Kipf's recipe) on a generated citation-like graph: far above chance (1/4)."""
    from resnet_any.bench.graph_refs import gcn_reference
    from resnet_any.bench.node_panel import SBM, sbm_builder

    path = sbm_builder(SBM("t-ref", 1600, 4, 6.0, 0.85, "words", 300, 8.0))(tmp_path, tmp_path)
    assert gcn_reference(path, seed=0, epochs=60) > 0.6
