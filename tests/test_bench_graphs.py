"""bench graphs: the SBM generator's stated properties, its files read by resnet_any and by the plain PyG script,
and a tiny run of the suite parsed into rows."""
from __future__ import annotations

import argparse
import json
import importlib.util
from pathlib import Path

import pytest
import torch

from resnet_any.bench import sbm


def test_blocks_degree_and_homophily_are_as_stated() -> None:
    k, n = 5, 3000
    g = sbm.generate(n, classes=k, degree=12, homophily=0.75, features=16, seed=1)
    sizes = torch.bincount(g.y, minlength=k)
    assert int(sizes.max() - sizes.min()) <= 1 and int(sizes.sum()) == n
    s, t = g.edges
    assert bool((s < t).all())  # undirected, stored once, no self-loops
    assert len(torch.unique(s * n + t)) == g.edges.shape[1]  # no repeated edge
    assert 2 * g.edges.shape[1] / n == pytest.approx(12, rel=0.05)
    from torch_geometric.utils import homophily  # PyG's own measure, not the module's

    both = torch.cat([g.edges, g.edges.flip(0)], 1)
    assert homophily(both, g.y, method="edge") == pytest.approx(0.75, abs=0.02)
    assert sbm.edge_homophily(g) == pytest.approx(homophily(both, g.y, method="edge"), abs=1e-6)


def test_two_blocks_homophily_is_p_in_over_p_in_plus_p_out() -> None:
    p_in, p_out = 0.01, 0.0025
    g = sbm.generate(2000, classes=2, p_in=p_in, p_out=p_out, features=4, seed=2)
    assert sbm.edge_homophily(g) == pytest.approx(p_in / (p_in + p_out), abs=0.02)
    pairs_in = 2 * 1000 * 999 / 2
    assert g.edges.shape[1] == pytest.approx(p_in * pairs_in + p_out * 1000 * 1000, rel=0.05)


def test_features_depend_on_the_class_and_splits_have_their_shares() -> None:
    g = sbm.generate(4000, classes=4, features=32, signal=1.0, train=0.1, val=0.2, seed=3)
    means = torch.stack([g.x[g.y == c].mean(0) for c in range(4)])
    # class means ~N(0, 1) apart, each estimated from ~1000 N(., 1) rows: far apart against their ~0.03 error
    assert float(torch.cdist(means, means).masked_fill(torch.eye(4, dtype=torch.bool), 1e9).min()) > 3.0
    assert g.split.count("train") == 400 and g.split.count("val") == 800 and g.split.count("test") == 2800


def test_resnet_any_and_the_plain_script_read_the_same_files(tmp_path: Path) -> None:
    from resnet_any.data import load_dataset

    g = sbm.generate(300, classes=3, features=8, degree=6, train=0.3, val=0.2, seed=4)
    folder = sbm.write(g, tmp_path / "g", parquet=False)
    ours = load_dataset("graph", str(folder)).graph
    spec = importlib.util.spec_from_file_location("pyg_gcn", Path(sbm.__file__).with_name("pyg_gcn.py"))
    plain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plain)
    data, classes = plain.load_folder(folder)
    assert classes == 3 and data.num_nodes == ours.num_nodes == 300
    assert data.edge_index.shape[1] == ours.edge_index.shape[1] == 2 * g.edges.shape[1]  # both directions
    assert torch.allclose(data.x, g.x, rtol=1e-4, atol=1e-4)  # written to 5 significant digits
    assert ours.x.shape == data.x.shape  # (its values may be scaled by a rule the run's notes name)
    for s in ("train", "val", "test"):
        assert torch.equal(data[f"{s}_mask"], ours[f"{s}_mask"])
        assert int(data[f"{s}_mask"].sum()) == g.split.count(s)
    assert torch.equal(data.y, g.y)


def test_a_tiny_run_of_the_suite_gives_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from resnet_any.bench import graphs

    monkeypatch.setitem(sbm.SIZES, "tiny", 300)
    args = argparse.Namespace(parts="sbm", sizes="tiny", epochs=2, timeout=300, seed=0, rounds=1, compare=None,
                              modes="full,neighbor")
    rows = graphs.run(args, lambda message: None)
    metrics = {(r["case"].split()[-1], r["metric"]) for r in rows}
    assert {("full-batch", "test_accuracy"), ("full-batch", "epoch seconds"), ("full-batch", "peak RSS")} <= metrics
    for r in rows:
        assert r["suite"] == "graphs" and r["nodes"] == 300 and r["epochs"] == 2
        if r["metric"] == "peak RSS":
            assert r["ours"] > 50 and r["anchor"] > 50  # MB of a whole torch process, from wait4
        if r["metric"] == "test_accuracy":
            assert 0.0 <= r["ours"] <= 1.0 and 0.0 <= r["anchor"] <= 1.0
    with pytest.raises(Exception, match="--sizes"):
        graphs.run(argparse.Namespace(**{**vars(args), "sizes": "5k"}), lambda message: None)


def test_docs_table_is_the_benchmark_json() -> None:
    """docs/graphs.md's bench table is generated from results/graphs.json, so the page cannot drift from the run."""
    from resnet_any.bench.graphs_table import RESULTS, markdown

    page = (Path(__file__).resolve().parents[1] / "docs" / "graphs.md").read_text(encoding="utf-8")
    assert markdown(json.loads(RESULTS.read_text(encoding="utf-8"))) in page
