"""Export: ONNX checked with onnxruntime against PyTorch; TorchScript and torch.export round trips."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch_geometric.datasets import KarateClub

from resnet_any import UserError, create_model
from resnet_any.export import export

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

IMAGE_META = {"domain": "image", "model": "resnet18", "class_names": [str(i) for i in range(10)],
              "model_kwargs": {"in_channels": 1}, "data": {"image_size": 28, "channels": 1}}
SERIES_META = {"domain": "series", "model": "series_resnet", "class_names": ["a", "b", "c"],
               "model_kwargs": {"in_channels": 2}, "data": {"length": 150, "channels": 2}}


def _image_model():
    torch.manual_seed(0)
    return create_model("resnet18", in_channels=1, num_classes=10, stem="cifar", width=8).eval()


def _series_model():
    torch.manual_seed(0)
    return create_model("series_resnet", in_channels=2, num_classes=3, width=16).eval()


@pytest.mark.parametrize("build, meta, shape", [
    (_image_model, IMAGE_META, (5, 1, 28, 28)),      # another batch size than exported with
    (_series_model, SERIES_META, (3, 2, 97)),        # another batch size and another length
])
def test_onnx_matches_pytorch_with_dynamic_axes(tmp_path, build, meta, shape):
    model = build()
    path = export(model, meta, "onnx", tmp_path / "m.onnx")
    x = torch.randn(*shape)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.abs(got - expected).max() <= 1e-4
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props["resnet_any.class_names"]) == meta["class_names"]


def test_onnx_without_the_onnx_package_says_what_to_install(tmp_path, monkeypatch):
    """One line naming the install command, and no file, instead of torch's traceback."""
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # what `import onnx` sees when the export extra is missing
    with pytest.raises(UserError, match=r"pip install 'resnet_any\[export\]'"):
        export(_image_model(), IMAGE_META, "onnx", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("fmt, suffix", [("torchscript", "pt"), ("exported", "pt2")])
def test_torchscript_and_exported_round_trip(tmp_path, fmt, suffix):
    model = _image_model()
    path = export(model, IMAGE_META, fmt, tmp_path / f"m.{suffix}")
    loaded = torch.jit.load(str(path)) if fmt == "torchscript" else torch.export.load(str(path)).module()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)


def test_graph_models_export_with_torch_export_and_refuse_onnx_clearly(tmp_path):
    data = KarateClub()[0]
    model = create_model("gcn_resnet", in_channels=34, num_classes=4, depth=3).eval()
    meta = {"domain": "graph", "model_kwargs": {"in_channels": 34}}
    path = export(model, meta, "exported", tmp_path / "g.pt2")
    with torch.no_grad():
        assert torch.allclose(torch.export.load(str(path)).module()(data.x, data.edge_index),
                              model(data.x, data.edge_index), atol=1e-5)
    with pytest.raises(UserError, match="not supported"):
        export(model, meta, "onnx", tmp_path / "g.onnx")
    with pytest.raises(UserError, match="unknown export format 'tflite'"):
        export(model, meta, "tflite", tmp_path / "g.tflite")


def test_exporting_a_weighing_graph_model_says_the_weights_are_not_an_input(tmp_path, capsys):
    """A GCN's export is traced on (x, edge_index): the command says edge weights cannot reach it."""
    from resnet_any.export import main as export_main
    from resnet_any.train.cli import main as train_main

    out = tmp_path / "run"
    assert train_main(["--domain", "graph", "--dataset", "karate", "--epochs", "1", "--out", str(out), "--quiet",
                       "--device", "cpu"]) == 0
    capsys.readouterr()
    assert export_main(["--checkpoint", str(out / "best.pt"), "--format", "exported", "--out",
                        str(tmp_path / "g.pt2")]) == 0
    assert "edge weights are not an input" in capsys.readouterr().out
