"""The benchmark suites in seconds-long smoke modes: the JSON schema, sane figures, clear errors on bad args."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from resnet_any.bench.__main__ import main
from resnet_any.bench.table import KEYS, format_table, make_row, seeds_row
from resnet_any.bench.tu import default_root as tu_root


def run_suite(tmp_path, *argv: str) -> list[dict]:
    """Run `python -m resnet_any.bench ARGV --json` in-process; the rows it wrote."""
    path = tmp_path / "rows.json"
    assert main([*argv, "--json", str(path)]) == 0
    rows = json.loads(path.read_text())
    assert rows, "a suite returned no rows"
    for row in rows:
        assert set(KEYS) <= set(row), row
        assert isinstance(row["ours"], float) and math.isfinite(row["ours"]), row
        assert row["anchor"] is None or isinstance(row["anchor"], float)
        if row["unit"] == "fraction":
            assert 0.0 <= row["ours"] <= 1.0, row
            assert row["anchor"] is None or 0.0 <= row["anchor"] <= 1.0, row
        if "n" in row:
            assert row["n"] >= 1 and row["std"] >= 0.0 and abs(row["mean"] - row["ours"]) < 1e-9 or \
                row.get("stat") == "median", row
    return rows


def test_table_prints_figure_anchor_and_gap():
    rows = [seeds_row("s", "cora@2", "test_accuracy", [0.80, 0.82], 0.815, goal=0.80),
            make_row("s", "resnet18/train", "ratio", 0.97, 1.0, "x", goal=0.98)]
    text = format_table(rows)
    assert "0.810 ± 0.014" in text and "+0.005" not in text and "-0.005" in text  # (0.80+0.82)/2 - 0.815
    assert ">=0.800 ok" in text and ">=0.980 MISS" in text and "-3.0%" in text
    timed = format_table([make_row("s", "graph", "wall_time", 61.0, None, "s", limit=60.0),
                          make_row("s", "image", "wall_time", 99.5, None, "s", limit=120.0)])
    assert "<=60.0 MISS" in timed and "<=120.0 ok" in timed


def test_defaults_runs_the_users_command_and_reads_its_summary(tmp_path):
    # one epoch of the out-of-the-box graph command, in a fresh interpreter as a user would run it
    rows = run_suite(tmp_path, "defaults", "--quick", "--domains", "graph")
    acc, wall = rows
    assert (acc["case"], acc["metric"], acc["goal"]) == ("graph", "test_accuracy", 0.80)
    assert acc["dataset"].lower() == "cora" and acc["model"] == "gcn_resnet"
    # the command's wall time includes start-up, so it exceeds the trainer's own clock
    assert (wall["metric"], wall["limit"]) == ("wall_time", 60.0) and wall["ours"] > wall["training_seconds"][0]


def test_defaults_rejects_unknown_domain(capsys):
    assert main(["defaults", "--domains", "image,audio"]) == 2
    assert "'audio'" in capsys.readouterr().err


def test_speed_smoke_ratio_rows(tmp_path):
    rows = run_suite(tmp_path, "speed", "--quick", "--models", "resnet18", "--image-size", "32", "--batch-size", "2",
                     "--rounds", "2", "--steps", "1", "--warmup", "0", "--no-trainer", "--control", "--threads", "1",
                     "--no-recipe")
    cases = {(r["case"], r["metric"]) for r in rows}
    for mode in ("train", "forward"):
        assert (f"resnet18/{mode}", "ratio") in cases and (f"resnet18/{mode}", "samples_per_s") in cases
        assert (f"resnet18/{mode}/A-A", "ratio") in cases
    for r in rows:
        assert r["ours"] > 0 and r["anchor"] > 0
        if r["metric"] == "ratio":  # the A/A control measures noise and has no goal
            assert r.get("goal") == (None if r["case"].endswith("/A-A") else 0.98) and r["n"] == 2


def test_speed_trainer_row_compares_with_the_bare_step(tmp_path):
    rows = run_suite(tmp_path, "speed", "--quick", "--models", "resnet18", "--modes", "train", "--image-size", "32",
                     "--batch-size", "2", "--rounds", "1", "--steps", "1", "--warmup", "0", "--threads", "1",
                     "--trainer-size", "8", "--trainer-width", "8", "--no-recipe")
    trainer = [r for r in rows if r["case"].startswith("trainer/")]
    assert {r["metric"] for r in trainer} == {"samples_per_s", "ratio"}
    assert all(r["ours"] > 0 for r in trainer)


def test_speed_recipe_rows_compare_the_default_step_with_plain_fp32(tmp_path):
    rows = run_suite(tmp_path, "speed", "--quick", "--models", "resnet18", "--modes", "train", "--image-size", "32",
                     "--batch-size", "2", "--rounds", "2", "--steps", "1", "--warmup", "1", "--threads", "1",
                     "--no-trainer")
    recipe = {(r["case"], r["metric"]): r for r in rows if r["case"].startswith("recipe/")}
    for case in ("resnet18-32px", "resnet18-64px", "series_resnet-L150", "gcn-cora"):
        ratio = recipe[(f"recipe/{case}", "ratio")]
        assert ratio["n"] == 2 and ratio["ours"] > 0 and "goal" not in ratio  # --quick: small models, no goal
    # graphs stay fp32 by the rule (train/plan/hardware.py); the image default is whatever this CPU computes natively
    assert recipe[("recipe/gcn-cora", "ratio")]["default"] == ["fp32"]
    assert "cl" in recipe[("recipe/resnet18-32px", "ratio")]["default"]
    (acc,) = [r for r in recipe.values() if r["metric"] == "test_accuracy"]
    assert acc["case"] == "recipe/digits/accuracy" and acc["ours"] > 0.5 and acc["anchor"] > 0.5


def test_startup_times_fresh_processes_against_import_torch(tmp_path):
    rows = run_suite(tmp_path, "startup", "--rounds", "1")
    seconds = {r["case"]: r["ours"] for r in rows if r["metric"] == "seconds"}
    ratios = {r["case"]: r for r in rows if r["metric"] == "ratio"}
    assert set(seconds) == {"import torch", "import torch + one Adam step", "import torch_geometric, torchmetrics",
                            "train --help", "train --domain graph --epochs 1"}
    for case, row in ratios.items():  # one round: the ratio is the two times' quotient
        assert row["ours"] == pytest.approx(seconds[case] / seconds["import torch"])
    # the run imports torch and more, and trains: it cannot beat the bare import
    assert seconds["train --domain graph --epochs 1"] > seconds["import torch"]
    assert ratios["train --domain graph --epochs 1"]["limit"] == 2.0


def test_gpu_suite_smoke_runs_its_paths_on_the_cpu(tmp_path):
    rows = run_suite(tmp_path, "gpu", "--smoke", "--skip", "ddp")
    assert not [r for r in rows if r["metric"] == "error"], rows
    cases = {r["case"] for r in rows}
    assert {"resnet18/train/fp32", "resnet18/train/fp32+cl", "resnet18/train/bf16+cl", "digits/resnet18-w8",
            "trainer/image", "trainer/graph"} <= cases
    trainer = {r["case"]: r for r in rows if r["case"].startswith("trainer/")}
    assert trainer["trainer/graph"]["amp"] == "off" and trainer["trainer/image"]["channels_last"] is True
    assert trainer["trainer/graph"]["ours"] > 0.2  # one epoch of Cora's default: above the 7-class chance


def test_gpu_suite_refuses_a_cpu_outside_smoke_mode(capsys):
    assert main(["gpu", "--device", "cpu"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


def test_planetoid_smoke_cora_beats_chance(tmp_path):
    rows = run_suite(tmp_path, "planetoid", "--depths", "2", "--seeds", "1", "--first-seed", "3", "--epochs", "40",
                     "--threads", "1")
    (row,) = rows
    assert row["case"] == "cora@2" and row["anchor"] == 0.815 and row["goal"] == 0.80 and row["seeds_run"] == [3]
    assert row["ours"] > 0.5  # 7 classes: chance is about 0.14-0.30


@pytest.mark.skipif(tu_root() is None, reason="MUTAG is kept in ../shared/data/TUDataset, absent here")
def test_tu_smoke_mutag_folds(tmp_path):
    rows = run_suite(tmp_path, "tu", "--quick", "--threads", "1")
    assert {r["case"] for r in rows} == {"mutag/3-fold/refit", "mutag/3-fold/shared-epoch", "mutag/3-fold/fold-epoch",
                                         "mutag/3-fold/test-epoch-selected"}
    for r in rows:
        assert r["n"] == 3 and r["anchor"] == 0.894 and len(r["epochs_chosen"]) == 3
        assert r["ours"] >= 0.5  # a real model on real molecules, not noise
        # only validation-selected rows are held to the goal; the test-selected one is a labelled diagnostic
        assert ("goal" in r) != bool(r.get("diagnostic"))
    by_case = {r["case"]: r["ours"] for r in rows}
    assert by_case["mutag/3-fold/test-epoch-selected"] >= by_case["mutag/3-fold/shared-epoch"]


def test_ucr_smoke_gunpoint(tmp_path):
    rows = run_suite(tmp_path, "ucr", "--datasets", "GunPoint", "--seeds", "2", "--epochs", "2", "--threads", "1")
    gp = next(r for r in rows if r["case"] == "GunPoint")
    assert gp["n"] == 2 and gp["anchor"] == 0.991 and gp["anchors"]["InceptionTime"] == 1.0
    assert any(r["case"].startswith("mean(") and r["goal"] == gp["anchor"] for r in rows)
    # Fawaz et al.'s batch, min(n_train / 10, 16): GunPoint has 50 training series
    assert gp["batch_size"] == 5 and gp["select"] == "train-loss" and len(gp["best_epochs"]) == 2


def test_image_smoke_digits_beats_chance(tmp_path):
    rows = run_suite(tmp_path, "image", "--quick", "--threads", "1")
    acc = next(r for r in rows if r["metric"] == "test_accuracy")
    assert acc["case"] == "digits" and acc["ours"] > 0.3  # ten classes
    assert next(r for r in rows if r["metric"] == "train_time")["ours"] > 0


@pytest.mark.parametrize("argv, words", [
    (["nosuch"], "invalid choice: 'nosuch'"),
    (["speed", "--models", "resnet17"], "resnet17"),
    (["speed", "--modes", "train,jog"], "unknown mode 'jog'"),
    (["speed", "--variants", "fp32+turbo"], "unknown variant flag 'turbo'"),
    (["speed", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["planetoid", "--depths", "2,x"], "--depths"),
    (["planetoid", "--dataset", "reddit"], "unknown --dataset 'reddit'"),
    (["planetoid", "--dataset", "citeseer", "--data-dir", "/nonexistent/planetoid"], "/nonexistent/planetoid"),
    (["tu", "--folds", "1"], "--folds must be >= 2"),
    (["ucr", "--datasets", "NoSuchSet"], "NoSuchSet"),
    (["image", "--datasets", "imagenet"], "unknown dataset 'imagenet'"),
    (["speed", "--quick", "--json", "/proc/no/such/dir/rows.json"], "--json"),
    (["startup", "--rounds", "0"], "--rounds must be >= 1"),
])
def test_bad_args_give_one_stderr_line_and_exit_2(argv, words, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and lines[0].startswith("error: "), captured.err
    assert captured.out == ""


def test_command_line_exit_code():
    proc = subprocess.run([sys.executable, "-m", "resnet_any.bench", "speed", "--threads", "-3"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --threads must be >= 1, got -3"]


def test_generalize_citation_variants_are_what_they_claim(tmp_path):
    """The panel's Cora-shaped graphs, read back through the CSV loader, against Cora itself."""
    from resnet_any.bench.generalize import cora_variant
    from resnet_any.data import load_dataset

    cora = load_dataset("graph", "cora").graph
    n_edges = cora.edge_index.shape[1]
    wide = load_dataset("graph", str(cora_variant("words3703")(tmp_path, tmp_path)), cache_dir=tmp_path).graph
    assert wide.num_features == 3703 and torch.equal(wide.train_mask, cora.train_mask)
    sparse = load_dataset("graph", str(cora_variant("edges60")(tmp_path, tmp_path)), cache_dir=tmp_path).graph
    assert sparse.num_nodes == cora.num_nodes and 0.55 < sparse.edge_index.shape[1] / n_edges < 0.65
    split = load_dataset("graph", str(cora_variant("random-split")(tmp_path, tmp_path)), cache_dir=tmp_path)
    g = split.graph
    assert int(g.train_mask.sum()) == 140 and not (g.train_mask & (g.val_mask | g.test_mask)).any()
    assert not torch.equal(g.train_mask, cora.train_mask) and split.class_counts("train") == [20] * 7
    folded = load_dataset("graph", str(cora_variant("3-classes")(tmp_path, tmp_path)), cache_dir=tmp_path)
    assert folded.num_classes == 3 and list(folded.class_counts("train")) == [20] * 3


def test_explain_quick_gives_map_and_random_drops_per_domain_and_k(tmp_path):
    # a probability drop may be negative (a deletion can help the class), so the rows are read here, not by
    # run_suite's fraction check
    path = tmp_path / "rows.json"
    assert main(["explain", "--quick", "--json", str(path)]) == 0
    rows = json.loads(path.read_text())
    grid = [f"{d} k={k}% {b}" for d in ("digits", "gunpoint") for b in ("zero", "mean") for k in (10, 20, 50)]
    assert [r["case"] for r in rows] == grid + [f"cora k={k}% mean" for k in (10, 20, 50)]
    assert {r["method"] for r in rows} == {"gradcam", "cam", "gnnexplainer"}
    for r in rows:
        assert r["metric"] == "prob_drop" and -1 <= r["ours"] <= 1 and -1 <= r["anchor"] <= 1, r
        assert -1 <= r["scattered"] <= 1 and r["baseline"] in ("zero", "mean"), r
        # images and series: the anchor is the map's own mask shifted; a graph has no grid, random nodes are
        assert r["anchor"] == (r["shifted"] if "cora" not in r["case"] else r["scattered"]), r


def test_explain_shifted_control_is_the_maps_mask_moved_by_hand() -> None:
    """The shifted control deletes the same number of positions in the same shape as the map's mask, elsewhere."""
    from resnet_any.bench.explain import shifted

    g = torch.Generator().manual_seed(0)
    series = torch.zeros(3, 12, dtype=torch.bool)
    series[:, [2, 3, 4, 8]] = True  # a run of 3 time steps and a lone one, 4 apart
    out = shifted(series, g)
    for row in out:
        assert int(row.sum()) == 4
        # some offset d != 0 moves the hand-made mask onto it: the same runs, at the same distance
        assert [d for d in range(1, 12) if torch.equal(series[0].roll(d), row)], row
    assert len({tuple(row.nonzero().view(-1).tolist()) for row in out}) > 1  # each sample its own offset
    image = torch.zeros(2, 5, 6, dtype=torch.bool)
    image[:, 1:3, 1:4] = True  # a 2x3 block of pixels
    for mask in shifted(image, g):
        assert int(mask.sum()) == 6 and not torch.equal(mask, image[0])
        assert [(dy, dx) for dy in range(5) for dx in range(6) if torch.equal(image[0].roll((dy, dx), (0, 1)), mask)]
    # the control on a model, by hand: deleting (zeroing) the map's top step drops its probability, a shift of it
    # onto a step the model ignores drops nothing
    from resnet_any.bench.explain import grid_controls

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0]]))
    x = torch.ones(1, 1, 4)
    drops = grid_controls(model, x, torch.tensor([[1.0, 0, 0, 0]]), {"zero": torch.zeros(1, 4)}, torch.tensor([0]),
                          fractions=(0.25,), repeats=1, generator=g)["zero"][0.25]
    p = torch.softmax(torch.tensor([1.0, 0.0]), 0)[0].item()
    assert drops["map"] == pytest.approx(p - 0.5) and drops["shifted"] == pytest.approx(0.0)


def test_generalize_task_cases_read_back_as_their_targets(tmp_path, shared_data):
    """The panel's regression tables and tag manifest, read by the loaders, infer their task and keep the targets."""
    import numpy as np

    from resnet_any.bench.generalize import canvas_manifest, regression_tables
    from resnet_any.bench.tasks_data import canvases, extrinsic, load_mnist
    from resnet_any.data import load_dataset

    covid = load_dataset("series", str(regression_tables("Covid3Month")(shared_data, tmp_path)))
    ref = extrinsic("Covid3Month")
    assert covid.task == "regress" and "inferred from non-integer" in covid.task_note
    assert np.allclose(np.sort(covid.labels("test").numpy().ravel()), np.sort(ref.y_test), atol=1e-9)
    manifest = canvas_manifest(30)(shared_data, tmp_path)
    tags = load_dataset("image", str(manifest), cache_dir=str(tmp_path / "cache"))
    images, labels = load_mnist(shared_data, train=True)
    made = canvases(images, labels, 30, size=80, seed=0)
    assert tags.task == "multilabel" and set(tags.class_names) <= {str(d) for d in range(10)}
    total = sum(int((tags.labels(s) == 1).sum()) for s in ("train", "val", "test"))
    assert total == int(made.tags.sum())
