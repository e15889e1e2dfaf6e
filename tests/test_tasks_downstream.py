"""Downstream of training, numbers and tag sets: predict, evaluate, export, explain and the app's Classify tab.

Real data, targets computed from it (nothing here is synthetic noise):
- GunPoint (the embedded UCR set: 40 train, 10 val, 150 test series of a hand's x-coordinate, z-scored per
  series, 150 steps). Regression, two targets: "peak_step", the time step at which the hand is highest (when
  the gesture peaks, 0-149), and "mid_level", the hand's mean height over steps 50-99 on a made-up scale
  100 + 15 * (z-scored mean): both far from mean 0 / std 1, so a missed standardization round trip shows.
  Multi-label, three tags: "gun" (GunPoint's first class, Gun: the actor draws a replica gun), "late" (the peak
  comes after step 75), "high" (the peak exceeds 1.8 standard deviations).
- scikit-learn's digits (the embedded image set, 8x8 uint8) for the app: target "ink", the image's mean pixel
  value (0-255), how much ink the digit uses.
Tiny models, 3 epochs: the tests check that every tool reads the same numbers in the user's units, not skill.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import resnet_any
from resnet_any.data import load_dataset
from resnet_any.data.python import as_splits
from resnet_any.errors import UserError
from resnet_any.inference.evaluation import evaluate_checkpoint
from resnet_any.inference.predictor import Predictor

sk = pytest.importorskip("sklearn.metrics")
TINY = {"epochs": 3, "width": 8, "quiet": True, "seed": 0}


def _regress_targets(x: torch.Tensor) -> torch.Tensor:
    s = x[:, 0]
    return torch.stack([s.argmax(1).float(), 100 + 15 * s[:, 50:100].mean(1)], 1)


def _tags(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    s = x[:, 0]
    return torch.stack([(y == 0).float(), (s.argmax(1) > 75).float(), (s.max(1).values > 1.8).float()], 1)


@pytest.fixture(scope="module")
def gunpoint():
    s = load_dataset("series")
    return {name: (getattr(s, name).x.float(), getattr(s, name).y) for name in ("train", "val", "test")}, s.class_names


@pytest.fixture(scope="module")
def regress_run(gunpoint, tmp_path_factory):
    data, _ = gunpoint
    pairs = {k: (x, _regress_targets(x)) for k, (x, _) in data.items()}
    out = tmp_path_factory.mktemp("reg") / "run"
    summary = resnet_any.fit(None, pairs["train"], pairs["val"], pairs["test"], out=str(out), task="regress", **TINY)
    return out, summary, pairs


@pytest.fixture(scope="module")
def multilabel_run(gunpoint, tmp_path_factory):
    data, _ = gunpoint
    pairs = {k: (x, _tags(x, y)) for k, (x, y) in data.items()}
    out = tmp_path_factory.mktemp("ml") / "run"
    # validation kept (select on its loss), so the thresholds are chosen on it
    summary = resnet_any.fit(None, pairs["train"], pairs["val"], pairs["test"], out=str(out), select="val_loss",
                             **TINY)
    return out, summary, pairs


def _series_csv(x: torch.Tensor, path: Path) -> Path:
    np.savetxt(path, x[:, 0].numpy().astype(np.float64), delimiter=",", fmt="%.9g")
    return path


def _predict_json(ckpt: Path, csv: Path, capsys) -> list[dict]:
    from resnet_any.predict import main

    assert main(["--checkpoint", str(ckpt), str(csv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_regression_round_trips_to_the_users_units_in_summary_evaluate_and_predict(regress_run, tmp_path, capsys):
    out, summary, pairs = regress_run
    assert summary["task"] == "regress"
    ckpt = out / "best.pt"
    splits = as_splits(pairs["train"], pairs["val"], pairs["test"])
    r = evaluate_checkpoint(ckpt, splits=splits, keep_outputs=True, device="cpu")
    # evaluate's numbers are the run's test numbers
    for key in ("rmse", "mae", "r2"):
        assert r[key] == pytest.approx(summary[f"test_{key}"], rel=1e-6, abs=1e-9)
    # ... and scikit-learn's on the same predictions, per target and averaged
    values, y = r["outputs"].double().numpy(), pairs["test"][1].double().numpy()
    assert r["rmse"] == pytest.approx(np.mean([np.sqrt(sk.mean_squared_error(y[:, j], values[:, j])) for j in range(2)]))
    assert r["mae"] == pytest.approx(sk.mean_absolute_error(y, values))
    assert r["r2"] == pytest.approx(sk.r2_score(y, values), rel=1e-6)
    # the outputs are in the user's units: the model's raw output times the training targets' std plus their mean
    pred = Predictor.from_checkpoint(ckpt)
    mean, std = torch.tensor(pred.data["target_mean"]), torch.tensor(pred.data["target_std"])
    train_y = pairs["train"][1]
    assert torch.allclose(mean, train_y.mean(0), atol=1e-3) and float(std[0]) > 5  # peak steps spread widely
    with torch.no_grad():
        raw = pred.model(pairs["test"][0][:8])
    assert torch.allclose(r["outputs"][:8], raw * std + mean, atol=1e-4)
    # predict on the test series as a CSV file: the same values
    got = _predict_json(ckpt, _series_csv(pairs["test"][0], tmp_path / "test.csv"), capsys)
    values_cli = np.array([[g["values"][n] for n in pred.class_names] for g in got])
    np.testing.assert_allclose(values_cli, values, rtol=1e-4, atol=1e-3)
    # evaluate's picture and its terminal report
    from resnet_any.evaluate import report
    from resnet_any.inference.task_plots import write_result_png

    r["figure_png"] = str(write_result_png(r, tmp_path))
    assert Path(r["figure_png"]).read_bytes()[:4] == b"\x89PNG"
    assert "rmse" in report(r) and pred.class_names[1] in report(r)


def test_regression_onnx_outputs_values_and_carries_the_scaling(regress_run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import onnx

    from resnet_any.domains.weights import load_checkpoint
    from resnet_any.inference.export import export

    out, _, pairs = regress_run
    model, meta = load_checkpoint(out / "best.pt")
    path = export(model, meta, "onnx", tmp_path / "m.onnx")
    props = {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}
    assert props["resnet_any.task"] == "regress" and props["resnet_any.output"] == "values"
    assert props["resnet_any.target_names"] == list(meta.class_names)
    assert props["resnet_any.target_scaling"]["mean"] == pytest.approx(meta.data["target_mean"])
    assert props["resnet_any.target_scaling"]["applied"] is True
    x = pairs["test"][0][:16]
    session = ort.InferenceSession(str(path))
    got = session.run(["values"], {"input": x.numpy()})[0]
    want = Predictor(model, meta).probabilities(x)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-3)


def test_multilabel_metrics_thresholds_tag_sets_and_onnx(multilabel_run, tmp_path, capsys):
    out, summary, pairs = multilabel_run
    assert summary["task"] == "multilabel" and len(summary["thresholds"]) == 3
    ckpt = out / "best.pt"
    r = evaluate_checkpoint(ckpt, splits=as_splits(pairs["train"], pairs["val"], pairs["test"]), keep_outputs=True,
                            device="cpu")
    for key in ("map", "micro_f1", "macro_f1", "auroc"):
        assert r[key] == pytest.approx(summary[f"test_{key}"], rel=1e-5)
    assert r["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert r["thresholds"] == pytest.approx(summary["thresholds"])
    probs, y = r["outputs"].double().numpy(), pairs["test"][1].numpy()
    decided = (probs >= np.array(summary["thresholds"])).astype(int)
    assert r["macro_f1"] == pytest.approx(sk.f1_score(y, decided, average="macro", zero_division=0), rel=1e-5)
    assert r["micro_f1"] == pytest.approx(sk.f1_score(y, decided, average="micro", zero_division=0), rel=1e-5)
    has = y.sum(0) > 0
    assert r["map"] == pytest.approx(sk.average_precision_score(y[:, has], probs[:, has], average="macro"), rel=1e-4)
    # predict's tag sets follow the checkpoint's thresholds: set them by hand and watch the sets move
    ck = torch.load(ckpt, weights_only=False)
    chosen = [0.2, 0.5, 0.8]
    ck["best"]["thresholds"] = chosen
    moved = tmp_path / "moved.pt"
    torch.save(ck, moved)
    got = _predict_json(moved, _series_csv(pairs["test"][0][:20], tmp_path / "t.csv"), capsys)
    names = ["tag_0", "tag_1", "tag_2"]
    for g in got:
        assert g["tags"] == [n for n, t in zip(names, chosen) if g["probs"][n] >= t]
    assert any(g["tags"] for g in got)
    # ONNX: the tag logits, with the tags and thresholds in the metadata
    ort = pytest.importorskip("onnxruntime")
    import onnx

    from resnet_any.domains.weights import load_checkpoint
    from resnet_any.inference.export import export

    model, meta = load_checkpoint(ckpt)
    path = export(model, meta, "onnx", tmp_path / "ml.onnx")
    props = {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}
    assert props["resnet_any.task"] == "multilabel" and props["resnet_any.thresholds"] == pytest.approx(
        summary["thresholds"])
    logits = ort.InferenceSession(str(path)).run(["logits"], {"input": pairs["test"][0][:16].numpy()})[0]
    np.testing.assert_allclose(torch.sigmoid(torch.from_numpy(logits)).numpy(), probs[:16], rtol=1e-4, atol=1e-5)


def test_a_checkpoint_of_another_task_gets_one_clear_line(regress_run, gunpoint):
    out, _, _ = regress_run
    classes = load_dataset("series")  # GunPoint's classes, as a classify run's evaluate reads them
    with pytest.raises(UserError) as e:
        evaluate_checkpoint(out / "best.pt", splits=classes, device="cpu")
    text = str(e.value)
    assert "\n" not in text and "classes" in text and "regress" in text
    with pytest.raises(UserError, match="needs a classify checkpoint; this one is regress"):
        pred = Predictor.from_checkpoint(out / "best.pt")
        pred.top_k(pred.predict_series([gunpoint[0]["test"][0][0, 0].numpy()]))


def test_explain_attributes_a_regressed_value(regress_run, tmp_path, capsys):
    from resnet_any.explain.__main__ import main

    out, _, pairs = regress_run
    csv = _series_csv(pairs["test"][0][:2], tmp_path / "two.csv")
    assert main(["--checkpoint", str(out / "best.pt"), str(csv), "--out", str(tmp_path / "why"),
                 "--target", "1"]) == 0
    rec = json.loads((tmp_path / "why" / "two_row1.json").read_text())
    assert rec["task"] == "regress" and rec["target"] == rec["summary"].split(", ")[1].split(" ")[0]
    assert len(rec["attribution"]) == 150 and set(rec["predicted"]) == set(Predictor.from_checkpoint(
        out / "best.pt").class_names)
    assert main(["--checkpoint", str(out / "best.pt"), str(csv), "--out", str(tmp_path / "why"), "--target", "nope"]) == 2
    assert "valid: a target name" in capsys.readouterr().err


def test_app_classify_shows_the_value_of_a_regress_image_checkpoint(tmp_path):
    pytest.importorskip("gradio")
    from PIL import Image

    from resnet_any.app.dataroot import DataRoot
    from resnet_any.app.handlers import Handlers

    digits = load_dataset("image")
    x, xt = digits.train.x[:300], digits.test.x[:60]
    ink = lambda imgs: imgs.float().mean((1, 2, 3)) + 0.5  # noqa: E731 - mean pixel value (+0.5: never an integer)
    runs = tmp_path / "runs"
    # mixup=0: the derived image recipe turns mixup on, which a regress run then refuses (reported to the core)
    resnet_any.fit(None, (x, ink(x)), None, (xt, ink(xt)), out=str(runs / "image-ink"), task="regress", mixup=0.0,
                   **TINY)
    png = tmp_path / "digit.png"
    Image.fromarray(xt[0, 0].numpy()).save(png)
    h = Handlers(runs, DataRoot(tmp_path / "data"), max_epochs=3, max_upload_bytes=10**6, max_uploads_bytes=None,
                 classify_per_minute=None, train_per_minute=None)
    label, line, *_ = h.classify_upload(str(png), "image-ink/best.pt")
    value = Predictor.from_checkpoint(runs / "image-ink" / "best.pt").predict_images([Image.open(png)])[0, 0]
    assert isinstance(label, str) and label.startswith("target ") and float(label.split()[1]) == pytest.approx(
        float(value), rel=1e-4)
    assert "predicts values" in line


def test_graph_explanations_of_one_output_run_in_regression_mode():
    pytest.importorskip("torch_geometric")
    from resnet_any.domains import create_model
    from resnet_any.explain.graph import explain_graph

    torch.manual_seed(0)
    model = create_model("gcn_resnet", in_channels=5, num_classes=2).eval()
    x, edges = torch.randn(6, 5), torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4, 4, 5], [1, 0, 2, 1, 3, 2, 4, 3, 5, 4]])
    for task in ("regress", "multilabel"):
        a = explain_graph(model, x, edges, None, index=2, target=1, task=task)
        assert a.target == 1 and a.node_mask.shape == (6,) and float(a.node_mask.sum()) > 0
    assert explain_graph(model, x, edges, None, index=2, task="regress").target == 0  # the first target by default
