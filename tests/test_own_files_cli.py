"""Own files from the command line: the domain read from the layout, a holdout file scored whole, a series folder predicted."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from resnet_any.errors import run_cli


def waves(n: int, seed: int) -> pd.DataFrame:
    """Sines and square waves with random phase and noise: learnable, labelled by shape."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 4 * np.pi, 64)
    rows = []
    for i in range(n):
        phase = rng.uniform(0, 2 * np.pi)
        kind = ("sine", "square")[i % 2]
        x = np.sin(t + phase) if kind == "sine" else np.sign(np.sin(t + phase))
        rows.append([kind, *(x + rng.normal(0, 0.1, t.size))])
    return pd.DataFrame(rows, columns=["label", *[f"t{i}" for i in range(t.size)]])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`train --dataset FOLDER` without --domain on a train.csv/test.csv pair, plus a separate holdout file."""
    from resnet_any.train.cli import main

    root = tmp_path_factory.mktemp("waves")
    (root / "waves").mkdir()
    waves(60, 0).to_csv(root / "waves" / "train.csv", index=False)
    waves(20, 1).to_csv(root / "waves" / "test.csv", index=False)
    waves(30, 2).to_csv(root / "holdout.csv", index=False)
    out = root / "run"
    assert main(["--dataset", str(root / "waves"), "--epochs", "8", "--width", "8", "--out", str(out), "--quiet",
                 "--device", "cpu"]) == 0
    return root, out


def test_the_domain_is_read_from_the_files_and_said(run) -> None:
    root, out = run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["domain"] == "series" and summary["model"] == "series_resnet"
    assert any("domain series inferred from the files' layout" in n for n in summary["notes"])
    assert summary["test_accuracy"] >= 0.9  # sine against square: a 1D ResNet separates them in 8 epochs


def test_evaluate_scores_another_file_whole_and_the_own_test_split_by_default(run, capsys) -> None:
    from resnet_any import evaluate

    root, out = run
    # the confusion PNGs go to --out (by default beside the checkpoint)
    pngs = ["--out", str(root / "evaluated")]
    assert run_cli(evaluate.main, ["--checkpoint", str(out / "best.pt"), "--json", *pngs]) == 0
    own = json.loads(capsys.readouterr().out)
    assert own["split"] == "test" and own["n"] == 20
    assert run_cli(evaluate.main, ["--checkpoint", str(out / "best.pt"), "--dataset", str(root / "holdout.csv"),
                                   "--json", *pngs]) == 0
    other = json.loads(capsys.readouterr().out)
    assert other["split"] == "all" and other["n"] == 30  # every row of the holdout, not a 20% re-split of it


def test_predict_a_train_test_folder_row_by_row_with_its_split(run, capsys) -> None:
    from resnet_any import predict

    root, out = run
    assert run_cli(predict.main, ["--checkpoint", str(out / "best.pt"), "--dataset", str(root / "waves"),
                                  "--top-k", "1"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 80 and [r["split"] for r in rows].count("test") == 20
    test = [r for r in rows if r["split"] == "test"]
    correct = sum(r["predicted"] == r["true_label"] for r in test) / len(test)
    summary = json.loads((out / "summary.json").read_text())
    assert correct == pytest.approx(summary["test_accuracy"])  # the same rows, the same model as the run's test pass
