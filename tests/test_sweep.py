"""Sweeps: grid and random plans, real (tiny) trials, ranking on validation, resumability."""
from __future__ import annotations

import csv

import pytest
import yaml

from resnet_any import UserError
from resnet_any.sweep import load_sweep, main, trials
from resnet_any.train.config import load_config_file


def test_random_plan_is_seeded_and_stays_in_range():
    sweep = {"random": {"trials": 20, "seed": 3, "space": {"lr": {"log_uniform": [1e-3, 1e-1]},
                                                          "width": [8, 16], "depth": {"int": [2, 4]}}}}
    plan = trials(sweep)
    assert plan == trials(sweep) and len(plan) == 20
    assert all(1e-3 <= t["lr"] <= 1e-1 and t["width"] in (8, 16) and 2 <= t["depth"] <= 4 for t in plan)
    assert len({t["lr"] for t in plan}) == 20


def test_grid_plan_is_the_cartesian_product():
    assert trials({"grid": {"lr": [0.1, 0.01], "width": [8, 16, 32]}})[-1] == {"lr": 0.01, "width": 32}
    assert len(trials({"grid": {"lr": [0.1, 0.01], "width": [8, 16, 32]}})) == 6


@pytest.mark.parametrize("text, match", [
    ("grid: {lr: [0.1]}\nrandom: {trials: 1, space: {lr: [0.1]}}", "exactly one of grid"),
    ("grid: {learning_rate: [0.1]}", "unknown key 'learning_rate'"),
    ("grid: {lr: [0.1]}\nmetric: test_accuracy", "unknown metric 'test_accuracy'"),
    ("random: {trials: 2, space: {lr: {normal: [0, 1]}}}", "bad search space entry"),
])
def test_bad_sweep_files_are_refused_before_any_run(tmp_path, text, match):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=match):
        load_sweep(path)


def test_grid_sweep_runs_ranks_on_validation_and_resumes(tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({
        "base": {"domain": "graph", "dataset": "karate", "epochs": 3, "seed": 0, "cache_dir": str(tmp_path / "cache")},
        "grid": {"lr": [0.01, 1e-6]}, "parallel": 2}))
    out = tmp_path / "sweep"
    assert main(["--config", str(sweep), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert float(rows[0]["val_acc"]) >= float(rows[1]["val_acc"])
    best = load_config_file(out / "best.yaml")  # the train CLI's own loader accepts it
    assert best.dataset == "karate" and best.lr == float(rows[0]["lr"])
    stamp = (out / "trial-000" / "summary.json").stat().st_mtime_ns
    assert main(["--config", str(sweep), "--out", str(out)]) == 0  # finished trials are skipped
    assert (out / "trial-000" / "summary.json").stat().st_mtime_ns == stamp
