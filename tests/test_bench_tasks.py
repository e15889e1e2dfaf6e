"""bench tasks: its data builders against hand-computed facts, its references' metrics against scikit-learn's."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest

from resnet_any.bench import tasks
from resnet_any.bench.tasks_data import (canvases, cycle_rank, extrinsic, ink_crop, load_mnist, mutag_rings,
                                         window_set, windows)
from resnet_any.bench.tasks_refs import (mean_predictor, minirocket, multilabel_metrics, persistence,
                                         regression_metrics)


def _undirected(pairs: list[tuple[int, int]]) -> np.ndarray:
    """PyG's edge_index: each bond in both directions."""
    return np.array([[a for a, b in pairs] + [b for a, b in pairs], [b for a, b in pairs] + [a for a, b in pairs]])


def test_windows_take_w_values_and_the_mean_of_the_next_k_split_by_time():
    s = np.arange(20.0) ** 2
    x_tr, y_tr, x_te, y_te = windows(s, w=4, k=2)
    # 15 windows; the last round(0.3 * 15) = 4 test, the k - 1 = 1 before them is dropped
    assert len(x_tr) == 10 and len(x_te) == 4 and x_tr.shape[1:] == (1, 4)
    assert x_tr[0, 0].tolist() == [0, 1, 4, 9] and y_tr[0] == (16 + 25) / 2
    assert x_tr[-1, 0].tolist() == [81, 100, 121, 144] and y_tr[-1] == (169 + 196) / 2  # target steps 13, 14
    assert x_te[0, 0].tolist() == [121, 144, 169, 196] and y_te[0] == (225 + 256) / 2    # target steps 15, 16
    assert y_te[-1] == (324 + 361) / 2


def test_airline_windows_hold_the_published_passenger_numbers():
    d = window_set("Airline-w24-k3")
    # Box & Jenkins' airline series: 1949 starts 112, 118, 132; 1951 January-March 145, 150, 178
    assert d.x_train[0, 0, :3].tolist() == [112, 118, 132]
    assert d.y_train[0] == pytest.approx((145 + 150 + 178) / 3)
    assert len(d.y_train) + len(d.y_test) + 2 == 144 - 24 - 3 + 1
    assert d.y_train.max() < d.y_test.max()  # later windows, higher traffic: the split is by time


def test_canvas_tags_and_counts_are_the_digits_pasted_where_they_were_pasted(shared_data):
    images, labels = load_mnist(shared_data, train=False)
    c = canvases(images[:500], labels[:500], 30, size=64, seed=3)
    assert c.x.shape == (30, 1, 64, 64) and c.x.dtype == np.uint8
    for i in range(30):
        assert 2 <= len(c.picks[i]) <= 4 and c.count[i, 0] == len(c.picks[i])
        assert [int(labels[j]) for j in c.picks[i]] == c.digits[i]
        assert set(np.flatnonzero(c.tags[i]).tolist()) == {int(labels[j]) for j in c.picks[i]}
        covered = np.zeros((64, 64), bool)
        for j, (r, col, h, w) in zip(c.picks[i], c.boxes[i]):
            assert not covered[r:r + h, col:col + w].any()  # no two digits overlap
            covered[r:r + h, col:col + w] = True
            assert np.array_equal(c.x[i, 0, r:r + h, col:col + w], ink_crop(images[j]))
        assert not c.x[i, 0][~covered].any()  # nothing outside the digits


def test_canvas_tags_read_back_from_the_pixels_alone():
    # digit d drawn as a solid block of value 10 * (d + 1): the pixels say which digits were pasted
    images = np.zeros((10, 28, 28), np.uint8)
    for d in range(10):
        images[d, 5:15, 8:16] = 10 * (d + 1)
    c = canvases(images, np.arange(10, dtype=np.uint8), 20, size=64, seed=0)
    for i in range(20):
        seen = {int(v) // 10 - 1 for v in np.unique(c.x[i]) if v}
        assert seen == set(np.flatnonzero(c.tags[i]).tolist())
        assert (c.x[i, 0] > 0).sum() == c.count[i, 0] * 10 * 8  # count blocks of 10 x 8 pixels


def test_ink_crop_cuts_to_the_bounding_box():
    a = np.zeros((6, 7), np.uint8)
    a[2, 3], a[4, 1] = 9, 5
    assert ink_crop(a).tolist() == [[0, 0, 9], [0, 0, 0], [5, 0, 0]]


def test_cycle_rank_counts_rings_by_hand():
    assert cycle_rank(_undirected([(0, 1), (1, 2), (2, 0)]), 3) == 1       # triangle
    assert cycle_rank(_undirected([(0, 1), (1, 2), (2, 3)]), 5) == 0       # a chain and a lone atom
    benzene = [(i, (i + 1) % 6) for i in range(6)]
    assert cycle_rank(_undirected(benzene), 6) == 1
    # naphthalene: two fused six-rings, 10 carbons, 11 bonds
    naphthalene = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (4, 6), (6, 7), (7, 8), (8, 9), (9, 5)]
    assert cycle_rank(_undirected(naphthalene), 10) == 2
    # two separate triangles: E - N + C = 6 - 6 + 2
    assert cycle_rank(_undirected([(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)]), 6) == 2


def test_mutag_ring_targets_match_networkx_cycle_bases(shared_data):
    import networkx as nx
    from torch_geometric.utils import to_networkx

    g = mutag_rings(shared_data)
    assert [len(g[k]) for k in ("train", "val", "test")] == [113, 38, 37]
    everything = g["train"] + g["val"] + g["test"]
    for d in everything:
        assert d.y.shape == (1,) and d.y.dtype.is_floating_point
        assert d.y.item() == len(nx.cycle_basis(to_networkx(d, to_undirected=True)))
    # MUTAG's nitroaromatics hold 1 to 7 rings, most of them 2 or 3 (counted by the builder across all 188)
    counts = np.bincount([int(d.y.item()) for d in everything])
    assert counts.tolist() == [0, 28, 57, 43, 37, 20, 2, 1]


def test_regression_metrics_equal_sklearn_and_the_formulas_on_the_mean_predictor():
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    d = extrinsic("Covid3Month")
    pred = mean_predictor(d.y_train, len(d.y_test))
    assert np.all(pred == d.y_train.mean())
    m = regression_metrics(d.y_test, pred)
    err = d.y_test - d.y_train.mean()
    assert m["rmse"] == pytest.approx(math.sqrt(np.mean(err ** 2)), rel=1e-12)
    assert m["rmse"] == pytest.approx(math.sqrt(mean_squared_error(d.y_test, pred)), rel=1e-12)
    assert m["mae"] == pytest.approx(np.abs(err).mean(), rel=1e-12) == mean_absolute_error(d.y_test, pred)
    ss_tot = np.sum((d.y_test - d.y_test.mean()) ** 2)
    assert m["r2"] == pytest.approx(1 - np.sum(err ** 2) / ss_tot, rel=1e-9) == r2_score(d.y_test, pred)
    assert m["r2"] <= 0  # a constant is no better than the test set's own mean


def test_multilabel_metrics_by_hand():
    tags = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    scores = np.array([[0.9, 0.2], [0.4, 0.8], [0.6, 0.7], [0.1, 0.6]])
    m = multilabel_metrics(tags, scores)
    # label 0 at 0.5: predicted {0, 2}, true {0, 1}: precision 1/2, recall 1/2, F1 0.5; label 1: predicted
    # {1, 2, 3}, true {1, 2}: F1 2 * (2/3 * 1) / (2/3 + 1) = 0.8
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8) / 2)
    assert m["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))  # tp 3, fp 2, fn 1
    # label 0 ranks 0.9 (pos), 0.6 (neg), 0.4 (pos): AP = 1 * 1/2 + 2/3 * 1/2; label 1: 0.8, 0.7 pos first: AP 1
    assert m["map"] == pytest.approx(((0.5 + 1 / 3) + 1) / 2)
    assert m["auroc"] == pytest.approx((0.75 + 1.0) / 2)
    assert m["subset_accuracy"] == pytest.approx(1 / 4)  # only row 0 is exactly right


def test_minirocket_and_persistence_on_a_tiny_slice_score_as_sklearn_says():
    from sklearn.metrics import mean_squared_error, r2_score

    d = window_set("solar-w48-k6")
    pred = minirocket(d.x_train[::3], d.y_train[::3], d.x_test[:20], seed=0)
    assert pred.shape == (20,) and np.std(pred) > 0
    m = regression_metrics(d.y_test[:20], pred)
    assert m["rmse"] == pytest.approx(math.sqrt(mean_squared_error(d.y_test[:20], pred)))
    assert m["r2"] == pytest.approx(r2_score(d.y_test[:20], pred))
    last = persistence(d.x_test, 6)
    assert last[0] == pytest.approx(d.x_test[0, 0, -6:].mean())


def _args(**kw) -> argparse.Namespace:
    base = dict(parts="series", series="Covid3Month", data_dir=None, canvas=None, image_sizes=None,
                image_epochs=None, series_epochs=None, graph_epochs=None, seed=0, threads=None, quick=True)
    return argparse.Namespace(**{**base, **kw})


def test_series_rows_score_the_references_predictions_and_record_a_failing_core(monkeypatch):
    # the resnet_any run is replaced by a failure: its row records the error, the references are still scored
    monkeypatch.setattr(tasks, "fit_ours", lambda *a, **k: (None, "UserError: fit: unknown key 'task'", 0.1, 0.1))
    rows = tasks.run(_args(), lambda m: None)
    by = {r["case"]: r for r in rows}
    ours = by["Covid3Month / resnet_any"]
    assert ours["ours"] is None and "unknown key 'task'" in ours["error"]
    d = extrinsic("Covid3Month")
    y_tr, x_tr, y_te, x_te = d.y_train[:40], d.x_train[:40], d.y_test[:30], d.x_test[:30]  # --quick's slice
    mean = by["Covid3Month / mean"]
    assert mean["ours"] == pytest.approx(math.sqrt(np.mean((y_te - y_tr.mean()) ** 2)), rel=1e-12)
    rocket = minirocket(x_tr, y_tr, x_te, seed=0)
    assert by["Covid3Month / MiniRocket"]["ours"] == pytest.approx(regression_metrics(y_te, rocket)["rmse"], rel=1e-9)
    assert by["Covid3Month / MiniRocket"]["r2"] == pytest.approx(regression_metrics(y_te, rocket)["r2"], rel=1e-9)
    assert rows[-1]["case"] == "suite" and rows[-1]["quick"] is True
    from resnet_any.bench import format_table

    assert "not measured: UserError" in format_table(rows)


def test_bad_options_are_one_user_error():
    from resnet_any.errors import UserError

    with pytest.raises(UserError, match="--parts"):
        tasks.run(_args(parts="audio"), lambda m: None)
    with pytest.raises(UserError, match="--image-sizes"):
        tasks.settings(_args(image_sizes="10,5"))


def test_graph_part_quick_runs_the_core_beside_the_gcn(one_thread):
    # the real fit(..., domain="graph", task="regress") on 40 MUTAG molecules for 2 epochs: the contract's keys
    rows = tasks.run(_args(parts="graph"), lambda m: None)
    by = {r["case"]: r for r in rows}
    ours = by["MUTAG rings / resnet_any"]
    assert ours["ours"] is not None and ours["ours"] > 0, ours.get("error")
    assert ours["anchor"] == by["MUTAG rings / PyG GCN"]["ours"] and math.isfinite(ours["r2"])
    assert by["MUTAG rings / mean"]["n_train"] == 40


def test_readme_table_is_the_committed_results() -> None:
    """The README's bench tasks table is generated from results/tasks.json, so figures and text cannot drift."""
    import json

    from resnet_any.bench.tasks_table import RESULTS, markdown

    table = markdown(json.loads(RESULTS.read_text(encoding="utf-8")))
    assert table.count("\n") >= 3 and "| Covid3Month | RMSE |" in table
    assert table in (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
