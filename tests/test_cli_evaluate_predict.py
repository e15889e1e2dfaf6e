"""`python -m resnet_any.evaluate` and `python -m resnet_any.predict` on a trained digits checkpoint."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_any import evaluate, predict
from resnet_any.data import load_dataset, normalize
from resnet_any.predict import Predictor
from resnet_any.train import TrainConfig, load_checkpoint, train
from resnet_any.errors import run_cli

REPO = Path(__file__).resolve().parents[1]


def cli(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("digits") / "run"
    summary = train(TrainConfig(domain="image", width=8, epochs=2, out=str(out)))
    return out, summary


def test_evaluate_matches_the_run_and_draws_the_confusion_matrix(digits_run, tmp_path: Path) -> None:
    out, summary = digits_run
    proc = cli("resnet_any.evaluate", "--checkpoint", str(out / "best.pt"), "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-6)
    assert result["n"] == 359 and result["dataset"] == "digits" and result["split"] == "test"
    cm = np.array(result["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 359
    assert np.trace(cm) / cm.sum() == pytest.approx(result["accuracy"], abs=1e-6)
    support = cm.sum(1)
    for i, name in enumerate(result["class_names"]):
        assert result["per_class_accuracy"][name] == pytest.approx(cm[i, i] / support[i])
    assert Path(result["confusion_png"]).read_bytes()[:4] == b"\x89PNG"



def test_evaluate_writes_into_the_current_directory_not_beside_the_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The shipped checkpoint sits inside the package: its confusion PNG must land where the user is."""
    import resnet_any

    shipped = Path(resnet_any.__file__).parent / "assets" / "mnist_resnet.pt"
    before = set(shipped.parent.iterdir())
    monkeypatch.chdir(tmp_path)
    assert run_cli(evaluate.main, ["--checkpoint", str(shipped), "--dataset", "digits", "--split", "all"]) == 0
    assert set(shipped.parent.iterdir()) == before
    assert list(tmp_path.glob("confusion_digits_all.png")) and "confusion matrix -> " in capsys.readouterr().out


def test_evaluate_text_output(digits_run, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, _ = digits_run
    assert run_cli(evaluate.main, ["--checkpoint", str(out / "best.pt"), "--out", str(tmp_path), "--split", "val"]) == 0
    text = capsys.readouterr().out
    assert "resnet18 on digits val (288 samples): accuracy" in text and (tmp_path / "confusion_digits_val.png").is_file()


def test_predict_png_files_as_the_model_sees_the_dataset(digits_run, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    out, _ = digits_run
    test = load_dataset("image", "digits").test
    files = []
    for i in range(6):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(test.x[i, 0].numpy(), mode="L").save(path)  # lossless: the same uint8 pixels
        files.append(str(path))
    proc = cli("resnet_any.predict", "--checkpoint", str(out / "best.pt"), "--top-k", "3", "--json", *files)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["file"] for r in rows] == files
    model, meta = load_checkpoint(out / "best.pt")
    with torch.no_grad():
        probs = torch.softmax(model(normalize(test.x[:6], meta["data"])), 1)
    for row, p in zip(rows, probs):
        assert len(row["top"]) == 3
        best = int(p.argmax())
        assert row["top"][0]["label"] == meta["class_names"][best]
        assert row["top"][0]["prob"] == pytest.approx(float(p[best]), abs=1e-5)
    assert run_cli(predict.main, ["--checkpoint", str(out / "best.pt"), files[0]]) == 0
    assert capsys.readouterr().out.startswith(f"{files[0]}: {rows[0]['top'][0]['label']} ")
    # an RGB photo of another size goes through the same preprocessing without complaint
    big = Image.fromarray(np.repeat(np.kron(test.x[0, 0].numpy(), np.ones((8, 8), np.uint8))[..., None], 3, 2))
    assert Predictor.from_checkpoint(out / "best.pt").predict_images([big]).shape == (1, 10)


def test_bad_inputs_to_evaluate_and_predict(digits_run, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, _ = digits_run
    bad_png = tmp_path / "bad.png"
    bad_png.write_text("this is text, not a PNG")
    evil = tmp_path / "evil.pt"
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w')",))

    torch.save({"format": "resnet_any", "model": Payload()}, evil)
    ckpt = str(out / "best.pt")
    for main, argv, expected in [
        (predict.main, ["--checkpoint", ckpt, str(bad_png)], "cannot read image"),
        (predict.main, ["--checkpoint", ckpt, str(tmp_path / "no.png")], "does not exist"),
        (predict.main, ["--checkpoint", str(evil), str(bad_png)], "refused to load"),
        (predict.main, ["--checkpoint", ckpt, "--top-k", "0", str(bad_png)], "--top-k must be >= 1"),
        (evaluate.main, ["--checkpoint", str(evil)], "refused to load"),
        (evaluate.main, ["--checkpoint", ckpt, "--dataset", "nosuchset"], "nosuchset"),
        (evaluate.main, ["--checkpoint", ckpt, "--split", "dev"], "unknown --split 'dev'"),
        (evaluate.main, [], "required: --checkpoint"),
    ]:
        assert run_cli(main, argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and expected in err, err
    assert not marker.exists()
    # and as a process: one line, exit 2, no traceback
    proc = cli("resnet_any.predict", "--checkpoint", str(evil), str(bad_png))
    assert proc.returncode == 2 and proc.stderr.startswith("error: refused to load") and "Traceback" not in proc.stderr
