"""Issue 16 §1: attributions checked against independent facts, and against random deletion on real data."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_any.domains import create_model
from resnet_any.explain import attribute, explain_graph
from resnet_any.explain.faithfulness import grid_deletion
from resnet_any.explain.grid import cam, gradcam

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "resnet_any" / "assets" / "mnist_resnet.pt"


def _image_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=5, in_channels=3, stem="cifar", width=8).eval()
    with torch.no_grad():  # untrained BatchNorm statistics would make every map nearly flat
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 2.0)
                m.running_mean.normal_(0, 0.1)
    return model


def test_cam_is_the_weighted_sum_whose_mean_is_the_logit():
    model = _image_model()
    x = torch.randn(3, 3, 32, 32)
    target = torch.tensor([0, 2, 4])
    with torch.no_grad():
        maps = cam(model, x, target)
        feats = model.layer4(model.layer3(model.layer2(model.layer1(model.relu(model.bn1(model.conv1(x)))))))
        by_hand = sum(model.fc.weight[target, c].view(3, 1, 1) * feats[:, c] for c in range(feats.shape[1]))
        logits = model(x)
    torch.testing.assert_close(maps, by_hand, rtol=1e-4, atol=1e-5)
    # the head is global average pooling + linear: a class's logit is the map's mean plus the bias
    torch.testing.assert_close(maps.mean((1, 2)) + model.fc.bias[target], logits.gather(1, target[:, None])[:, 0],
                               rtol=1e-4, atol=1e-5)
    a = attribute(model, x, target=target)
    assert a.shape == (3, 32, 32)


def test_gradcam_on_the_last_stage_is_relu_cam_over_positions():
    model = _image_model()
    x = torch.randn(2, 3, 32, 32)
    target = torch.tensor([1, 3])
    last = len(model.stage_names) - 1
    g = gradcam(model, x, target, last)
    with torch.no_grad():
        c = cam(model, x, target)
    torch.testing.assert_close(g, torch.relu(c) / c[0].numel(), rtol=1e-4, atol=1e-6)


def test_series_cam_runs_along_time_and_coarse_images_fall_back_to_gradcam():
    torch.manual_seed(0)
    series = create_model("series_resnet", num_classes=3, in_channels=2, width=8).eval()
    a = attribute(series, torch.randn(4, 2, 100))
    assert a.shape == (4, 100)
    # 8x8 digits reach 1x1 in the last stage: a map there would say nothing about where, so Grad-CAM moves up
    digits = _image_model()
    from resnet_any.explain.grid import default_method, pick_stage

    x = torch.randn(2, 3, 8, 8)
    assert default_method(digits, x) == "gradcam" and pick_stage(digits, x) == 1
    assert attribute(digits, x).shape == (2, 8, 8)


def _digits_as_mnist(n: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The shipped MNIST model and n scikit-learn digits prepared as it prepares images (28 px, normalised)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from resnet_any.data import normalize, preprocess_image
    from resnet_any.domains.weights import load_checkpoint

    model, meta = load_checkpoint(SHIPPED, "cpu")
    d = load_digits()
    # MNIST frames a glyph's 20 px box in 28 px: 8 px digits get the same margin (2 px), 87% are then read right
    images = [Image.fromarray(np.pad((img * 255 / 16).astype(np.uint8), 2)) for img in d.images[:n]]
    x = normalize(torch.stack([preprocess_image(im, meta["data"]) for im in images]), meta["data"])
    return model, x, torch.as_tensor(d.target[:n])


def test_attribution_beats_random_deletion_on_real_digits():
    model, x, y = _digits_as_mnist(120)
    with torch.no_grad():
        pred = model(x).argmax(1)
    assert (pred == y).float().mean() > 0.8  # the model sees digits in them, so there is something to explain
    maps = attribute(model, x, target=pred)
    result = grid_deletion(model, x, maps, x.mean(0), pred, generator=torch.Generator().manual_seed(0))
    for frac, (ranked, random) in result.items():
        assert ranked > random + 0.02, (frac, ranked, random)


def test_graph_attribution_beats_random_deletion_on_cora(tmp_path):
    from torch_geometric.utils import k_hop_subgraph

    from resnet_any import fit
    from resnet_any.data import load_dataset
    from resnet_any.explain.faithfulness import graph_deletion
    from resnet_any.explain.graph import hops

    torch.manual_seed(0)
    g = load_dataset("graph", "cora").graph
    model = create_model("gcn_resnet", in_channels=g.num_features, num_classes=7, depth=2)
    fit(model, "cora", domain="graph", epochs=40, out=tmp_path / "run", quiet=True, seed=0)
    model.eval()
    x, edge_index = g.x.float(), g.edge_index
    nodes = g.test_mask.nonzero().view(-1)[:12].tolist()
    ranked_total = random_total = 0.0
    for v in nodes:
        a = explain_graph(model, x, edge_index, index=v)
        assert a.node_mask.shape == (g.num_nodes,) and a.nodes.numel() >= 1
        assert torch.all(a.node_mask[~torch.isin(torch.arange(g.num_nodes), a.nodes)] == 0)
        outer, sub, mapping, _ = k_hop_subgraph(v, hops(model) + 1, edge_index, relabel_nodes=True,
                                                num_nodes=g.num_nodes)
        with torch.no_grad():  # the subgraph's output at the node is the full graph's
            torch.testing.assert_close(model(x[outer], sub)[mapping[0]], model(x, edge_index)[v], rtol=1e-4,
                                       atol=1e-5)

        def prob(features, outer=outer, sub=sub, mapping=mapping, cls=a.target):
            with torch.no_grad():
                return torch.softmax(model(features[outer], sub), 1)[mapping[0], cls].item()

        result = graph_deletion(prob, x, a.nodes, a.node_mask, x.mean(0), fractions=(0.2,),
                                generator=torch.Generator().manual_seed(0))
        ranked_total += result[0.2][0]
        random_total += result[0.2][1]
    assert ranked_total > random_total, (ranked_total, random_total)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resnet_any.explain", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def test_cli_writes_a_png_and_a_json_per_input(tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    files = []
    for i in range(2):
        f = tmp_path / f"d{i}.png"
        Image.fromarray((d.images[i] * 255 / 16).astype(np.uint8)).save(f)
        files.append(str(f))
    out = tmp_path / "out"
    r = _cli("--checkpoint", str(SHIPPED), *files, "--out", str(out), "--target", "3")
    assert r.returncode == 0, r.stderr
    for i in range(2):
        rec = json.loads((out / f"d{i}.json").read_text())
        assert rec["target"] == "3" and rec["method"] == "cam"
        assert np.array(rec["attribution"]).shape == (28, 28)
        assert abs(sum(rec["probabilities"].values()) - 1) < 1e-3
        assert (out / f"d{i}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["nowhere.png"], "does not exist"),
    (["{img}", "--method", "lime"], "unknown --method 'lime' for this image checkpoint; valid: cam, gradcam"),
    (["{img}", "--target", "eleven"], "unknown --target 'eleven'"),
])
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    from PIL import Image

    img = tmp_path / "a.png"
    Image.new("L", (28, 28)).save(img)
    r = _cli("--checkpoint", str(SHIPPED), *[a.replace("{img}", str(img)) for a in args], "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr


def _train(tmp: Path, *flags: str) -> Path:
    from resnet_any.train.cli import main

    assert main([*flags, "--out", str(tmp), "--quiet", "--seed", "0"]) == 0
    return tmp / "best.pt"


def test_cli_explains_series_rows_and_cora_nodes(tmp_path, capsys):
    from aeon.datasets import load_gunpoint

    from resnet_any.errors import run_cli
    from resnet_any.explain.__main__ import main

    series = _train(tmp_path / "series", "--domain", "series", "--epochs", "5", "--width", "8")
    X, _ = load_gunpoint(split="test")
    np.savetxt(tmp_path / "two.csv", X[:2, 0], delimiter=",")
    assert run_cli(main, ["--checkpoint", str(series), str(tmp_path / "two.csv"), "--out", str(tmp_path / "s")]) == 0
    for row in (1, 2):
        rec = json.loads((tmp_path / "s" / f"two_row{row}.json").read_text())
        assert rec["row"] == row and rec["method"] == "cam" and len(rec["attribution"]) == X.shape[-1]
        assert (tmp_path / "s" / f"two_row{row}.png").stat().st_size > 0

    graph = _train(tmp_path / "graph", "--domain", "graph", "--epochs", "5")
    assert run_cli(main, ["--checkpoint", str(graph), "2487", "--out", str(tmp_path / "g")]) == 0
    rec = json.loads((tmp_path / "g" / "node_2487.json").read_text())
    assert "2487" in rec["nodes"] and len(rec["attribution"]) == len(rec["nodes"])
    assert rec["method"] == "gnnexplainer" and rec["edges"]  # the default, captum installed or not
    capsys.readouterr()
    assert run_cli(main, ["--checkpoint", str(graph), "99999", "--out", str(tmp_path / "g")]) == 2
    assert "no node '99999' in the dataset" in capsys.readouterr().err


def test_graph_explanation_sees_the_edge_weights_the_model_trained_with():
    """A weighted GCN is explained on its weights: all-ones weights explain as no weights, others differently."""
    torch.manual_seed(0)
    model = create_model("gcn_resnet", in_channels=4, num_classes=3, depth=2, norm="none").eval()
    x = torch.randn(6, 4)
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 0, 2], [1, 0, 2, 1, 3, 2, 4, 3, 5, 4, 2, 0]])
    plain = explain_graph(model, x, edge_index, index=2)
    ones = explain_graph(model, x, edge_index, index=2, edge_weight=torch.ones(12))
    heavy = torch.ones(12)
    heavy[[0, 1]] = 5.0  # the 0-1 edge weighs 5: node 0's neighbourhood changes, so node 2's gradients do
    weighted = explain_graph(model, x, edge_index, index=2, edge_weight=heavy)
    assert torch.allclose(plain.node_mask, ones.node_mask, atol=1e-6)
    assert not torch.allclose(plain.node_mask, weighted.node_mask, atol=1e-4)
