"""Graph classification defaults (issue 26): the graph-level rules, the panel's set writers, the same-run GIN, MUTAG."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from resnet_any.train.plan.derive import Profile, derive


def _graphs(n_train: int, nodes: int, classes: int = 2, n_test: int = 50) -> Profile:
    counts = tuple([n_train // classes] * classes)
    return Profile("graph", "graph", sum(counts), sum(counts) // 4, classes, counts, nodes=nodes, features=4,
                   n_test=n_test)


def test_rules_on_a_small_set_of_small_graphs() -> None:
    """150 graphs of 18 nodes (MUTAG's shape): GIN's batch 32 and 350 epochs halved every 50; 37 val a class -> merged."""
    v = derive(_graphs(150, 18))
    assert (v["batch_size"], v["epochs"], v["step_size"], v["select"]) == (32, 350, 50, "train_loss")


def test_rules_on_a_large_set_of_large_graphs() -> None:
    """5,000 graphs of 300 nodes: batch 128; 1.5 M training nodes an epoch -> the floor of 100 epochs, halving every 14."""
    v = derive(_graphs(5000, 300))
    assert (v["batch_size"], v["epochs"], v["step_size"], v["select"]) == (128, 100, 14, "val")
    # 1,000 graphs of 200 nodes: 350 x 100,000 / 200,000 = 175 epochs
    assert derive(_graphs(1000, 200))["epochs"] == 175


def test_a_users_epochs_keep_the_seven_halvings_and_val_stays_without_test() -> None:
    """--epochs 70 halves every 10; with no test split validation is what judges the run, so it is kept."""
    assert derive(_graphs(150, 18), {"epochs": 70})["step_size"] == 10
    assert derive(_graphs(150, 18, n_test=0))["select"] == "val"


def test_node_tasks_get_no_graph_level_rule() -> None:
    """The graph-level block reads graphs; a node task's profile is left to the node rules."""
    node = Profile("graph", "node", 140, 500, 7, (20,) * 7, nodes=2708, features=1433, n_test=1000)
    assert not {"step_size", "epochs"} & set(derive(node))


def test_written_sets_read_back_as_pyg_reads_mutag(tmp_path: Path, shared_data: Path) -> None:
    """MUTAG written as graphs.csv + edges.csv + nodes.csv and read by resnet_any's reader: PyG's TUDataset graphs."""
    from resnet_any.bench.graph_sets import mutag_graphs, write_graph_tables
    from resnet_any.data import load_dataset

    graphs = mutag_graphs(shared_data)
    folder = write_graph_tables(graphs, tmp_path / "mutag", seed=1)
    splits = load_dataset("graph", str(folder), seed=0, val_fraction=0.2)
    read = [*splits.train, *splits.val, *splits.test]
    assert len(read) == 188 and splits.in_channels == 7 and splits.num_classes == 2
    # PyG's TUDataset: 3,371 nodes and 7,442 directed edges in all (the TU file lists each bond both ways)
    assert sum(int(g.num_nodes) for g in read) == 3371
    assert sum(int(g.edge_index.shape[1]) for g in read) == 7442
    # another order puts other graphs in test
    other = load_dataset("graph", str(write_graph_tables(graphs, tmp_path / "mutag2", seed=2)), seed=0)
    assert sorted(int(g.num_nodes) for g in other.test) != sorted(int(g.num_nodes) for g in splits.test)


def test_protein_like_classes_differ_as_documented() -> None:
    """size-density: class 1 is larger and denser on average; motif: class 1 has more sheet nodes; labels are noisy."""
    from resnet_any.bench.graph_sets import protein_like

    sd = protein_like("size-density", 400)
    size = {c: np.mean([len(x) for x, _, lab in sd if lab == c]) for c in ("class0", "class1")}
    density = {c: np.mean([len(e) / len(x) for x, e, lab in sd if lab == c]) for c in ("class0", "class1")}
    assert size["class1"] > size["class0"] + 4 and density["class1"] > density["class0"]
    motif = protein_like("motif", 400)
    sheets = {c: np.mean([x[:, 1].mean() for x, _, lab in motif if lab == c]) for c in ("class0", "class1")}
    assert sheets["class1"] > sheets["class0"] + 0.05
    labels = [lab for _, _, lab in motif]
    flipped = sum(lab != f"class{i % 2}" for i, lab in enumerate(labels)) / len(labels)
    assert 0.05 < flipped < 0.2  # about the 10% noise the kind names


def test_gin_reference_learns_a_generated_set(tmp_path: Path, one_thread: None) -> None:
    """The same-run GIN separates rings of 6-12 nodes from rings of 18-24 (a sum readout counts nodes) in 100 epochs."""
    from resnet_any.bench.gin_ref import gin_reference
    from resnet_any.bench.graph_sets import write_graph_tables

    rng = np.random.default_rng(0)
    graphs = []
    for i in range(160):
        n = int(rng.integers(6, 13)) + 12 * (i % 2)
        ring = np.stack([np.arange(n), (np.arange(n) + 1) % n], 1)
        graphs.append((np.eye(3)[rng.integers(0, 3, n)], ring, f"c{i % 2}"))
    folder = write_graph_tables(graphs, tmp_path / "rings", seed=0)
    assert gin_reference(folder, 0, epochs=100) >= 0.9


def test_default_learns_mutag(tmp_path: Path, shared_data: Path) -> None:
    """A short real run of the graph default on MUTAG as CSV (GIN-style residual net) beats the majority class."""
    import subprocess
    import sys

    from resnet_any.bench.graph_sets import mutag_graphs, write_graph_tables
    from resnet_any.data import load_dataset

    folder = write_graph_tables(mutag_graphs(shared_data), tmp_path / "mutag", seed=0)
    out = tmp_path / "run"
    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-m", "resnet_any.train", "--dataset", str(folder), "--epochs", "40",
                    "--out", str(out), "--quiet", "--sampling", "full"], check=True, env=env)
    summary = json.loads((out / "summary.json").read_text())
    test = load_dataset("graph", str(folder), seed=0).test
    majority = max(np.bincount([int(g.y) for g in test])) / len(test)
    assert summary["model"] == "gin_resnet" and summary["test_accuracy"] > majority + 0.05
    assert any(n.startswith("recipe derived from the data") and "step-size 5" in n for n in summary["notes"])
    # a node-task option on graph-level data is said to be ignored, not dropped silently
    assert any(n.startswith("--sampling applies to node classification") for n in summary["notes"])
