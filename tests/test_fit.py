"""resnet_any.fit: any model and any data through the one trainer, checked against hand-computed steps and real runs."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import resnet_any
from resnet_any import BASIC, BOTTLENECK, GridOps, ResNet, UserError
from resnet_any.data import load_dataset
from resnet_any.train.run.callbacks import Callback
from resnet_any.files import read_checkpoint


class TinyNet(nn.Module):
    """A user's own model: no registry name, no resnet_any parts."""

    def __init__(self, features: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(features, 32), nn.ReLU())
        self.fc = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


class StopAfter(Callback):
    """Stops a run after some epoch, as a kill or the app's Stop button would (the schedule still spans all epochs)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer, record) -> None:
        if record["epoch"] == self.epoch:
            trainer.request_stop(early=False)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    d = load_digits()
    return (d.images / 16.0).astype(np.float32)[:, None], d.target


def test_one_full_batch_step_equals_plain_sgd_by_hand(digits, tmp_path: Path, one_thread) -> None:
    """fit trains exactly the given model on exactly the given data: one SGD step over the whole train split."""
    x, y = digits
    train, val = (x[:1000], y[:1000]), (x[1000:1200], y[1000:1200])
    torch.manual_seed(0)
    model = TinyNet()
    expected = copy.deepcopy(model)
    lr = 0.5
    summary = resnet_any.fit(model, train, val, out=tmp_path / "run", epochs=1, batch_size=1000, optimizer="sgd",
                             lr=lr, momentum=0.0, weight_decay=0.0, schedule="none", label_smoothing=0.0,
                             seed=0, quiet=True)
    # the same step with plain torch
    loss = nn.functional.cross_entropy(expected(torch.from_numpy(train[0])), torch.from_numpy(train[1]))
    loss.backward()
    with torch.no_grad():
        for p in expected.parameters():
            p -= lr * p.grad
    for (name, got), want in zip(model.state_dict().items(), expected.state_dict().values()):
        assert torch.allclose(got.cpu(), want, atol=1e-6), name
    assert summary["test_accuracy"] is None and summary["best_epoch"] == 1  # no test split was given
    assert summary["model"] == f"{__name__}.TinyNet" and summary["domain"] == "image"
    assert abs(summary["best_train_loss"] - loss.item()) < 1e-5


def test_own_model_checkpoint_loads_into_an_instance_and_resume_equals_uninterrupted(digits, tmp_path: Path,
                                                                                      one_thread) -> None:
    x, y = digits
    data = dict(train=(x[:1200], y[:1200]), val=(x[1200:1500], y[1200:1500]), test=(x[1500:], y[1500:]))
    opts = dict(epochs=6, batch_size=64, lr=0.01, seed=3, quiet=True)
    torch.manual_seed(1)
    whole = TinyNet()
    start = copy.deepcopy(whole.state_dict())
    full = resnet_any.fit(whole, **data, out=tmp_path / "full", **opts)

    half_model = TinyNet()
    half_model.load_state_dict(start)
    resnet_any.fit(half_model, **data, out=tmp_path / "half", **opts, stop=None, callbacks=[StopAfter(3)])
    again = TinyNet()  # a fresh instance: resume loads its weights, optimizer and RNG from last.pt
    resumed = resnet_any.fit(again, **data, out=tmp_path / "half", resume=True, quiet=True)
    for k, v in whole.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    assert resumed["test_accuracy"] == full["test_accuracy"] and resumed["epochs"] == 6
    assert full["test_accuracy"] > 0.85  # a 2-layer MLP on 8x8 digits: scikit-learn's MLP reaches ~0.95

    loaded, meta = resnet_any.load_checkpoint(tmp_path / "full" / "best.pt", model=TinyNet())
    best = read_checkpoint(tmp_path / "full" / "best.pt")
    for k, v in best["model"].items():
        assert torch.equal(loaded.state_dict()[k], v)
    assert meta["domain"] == "image" and meta["class_names"] == [str(i) for i in range(10)]
    with pytest.raises(UserError, match=r"load_checkpoint\(path, model="):
        resnet_any.load_checkpoint(tmp_path / "full" / "best.pt")
    with pytest.raises(UserError, match="do not fit model TinyNet"):
        resnet_any.load_checkpoint(tmp_path / "full" / "best.pt", model=TinyNet(classes=3))
    from resnet_any.evaluate import evaluate_checkpoint

    with pytest.raises(UserError, match="trained on data passed from Python"):
        evaluate_checkpoint(tmp_path / "full" / "best.pt", model=TinyNet())
    with pytest.raises(UserError, match="trained a .*TinyNet, not a .*Linear"):
        resnet_any.fit(nn.Linear(64, 10), **data, out=tmp_path / "half", resume=True, epochs=5)


def test_core_built_2d_resnet_on_spectrograms(tmp_path: Path, one_thread) -> None:
    """The README's custom domain: log-spectrograms of BasicMotions (aeon) through a ResNet assembled from the core."""
    splits = load_dataset("series", "BasicMotions")

    def spectro(x: torch.Tensor) -> torch.Tensor:
        n, c, length = x.shape
        s = torch.stft(x.reshape(n * c, length), 16, 4, window=torch.hann_window(16), return_complex=True).abs()
        return torch.log1p(s).reshape(n, c, *s.shape[1:])

    data = [(spectro(ds.x), ds.y) for ds in (splits.train, splits.val, splits.test)]
    model = ResNet(GridOps(2), BASIC, layers=(1, 1), widths=(16, 32), in_channels=6, num_classes=4, stem="cifar",
                   attn="se")
    summary = resnet_any.fit(model, *data, out=tmp_path / "spectro", epochs=15, batch_size=8, seed=0, quiet=True)
    assert summary["test_accuracy"] >= 0.9, summary  # 4 activities, chance 0.25; series_resnet scores 1.0


def test_volumes_train_with_resnet3d18(tmp_path: Path, one_thread) -> None:
    """Volumes from real data: four handwritten digits of one class stacked in depth, class = the digit."""
    d = load_digits()
    vols, labels = [], []
    for k in range(10):
        imgs = d.images[d.target == k][:160]
        for i in range(0, len(imgs) - 3, 4):
            vols.append(imgs[i:i + 4] / 16.0)
            labels.append(k)
    x = torch.tensor(np.stack(vols), dtype=torch.float32)[:, None]  # (N, 1, 4, 8, 8)
    y = torch.tensor(labels)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    n = len(y)
    test = (x[: n // 5], y[: n // 5])
    model = resnet_any.create_model("resnet3d18", in_channels=1, num_classes=10, width=8)
    summary = resnet_any.fit(model, (x[n // 5:], y[n // 5:]), test=test, out=tmp_path / "vol", epochs=8,
                             batch_size=16, seed=0, quiet=True)
    assert summary["domain"] == "volume" and summary["test_accuracy"] >= 0.6, summary  # chance 0.1
    ckpt = read_checkpoint(tmp_path / "vol" / "best.pt")
    assert ckpt["model_name"] is None and ckpt["model_class"].endswith("ResNet")


def test_pyg_gcn_on_cora_and_graph_lists(tmp_path: Path, shared_data: Path, one_thread) -> None:
    """PyG's own GCN trained full-batch by our trainer on Cora's public split reaches GCN's published ~0.81."""
    from torch_geometric.nn.models import GCN

    cora = load_dataset("graph", "cora").graph
    gcn = GCN(cora.num_features, 16, num_layers=2, out_channels=7, dropout=0.5)
    summary = resnet_any.fit(gcn, cora, out=tmp_path / "gcn", epochs=200, lr=0.01, weight_decay=5e-4,
                             optimizer="adam", schedule="none", seed=0, quiet=True)
    assert summary["domain"] == "graph" and 0.77 <= summary["test_accuracy"] <= 0.84, summary

    import shutil

    root = tmp_path / "tu"
    shutil.copytree(shared_data / "TUDataset", root)
    graphs = load_dataset("graph", "MUTAG", str(root), cache_dir=str(tmp_path / "cache"))
    mutag = graphs.train + graphs.val + graphs.test
    model = resnet_any.create_model("gcn_resnet", in_channels=graphs.in_channels, num_classes=2, width=16, depth=2)
    summary = resnet_any.fit(model, mutag[:150], test=mutag[150:], out=tmp_path / "mutag", epochs=15, seed=0,
                             quiet=True)
    assert summary["domain"] == "graph" and summary["test_accuracy"] >= 0.5, summary  # a degenerate run: 0.34
    # a list of graphs without val: 20% carved per class for validation; no test is invented
    from resnet_any.data.python import as_splits

    carved = as_splits(mutag)
    assert (len(carved.train), len(carved.val), carved.test) == (150, 38, None)
    labels = [int(g.y) for g in carved.val]
    assert sum(labels) == round(0.2 * sum(int(g.y) for g in mutag))  # stratified: MUTAG is 125 positive of 188


def test_registry_name_and_dataset_name(tmp_path: Path, one_thread) -> None:
    """fit("series_resnet", "GunPoint") is `train --domain series --model series_resnet --dataset GunPoint`."""
    summary = resnet_any.fit("series_resnet", "GunPoint", domain="series", out=tmp_path / "gp", epochs=3, width=8,
                             seed=0, quiet=True)
    assert summary["model"] == "series_resnet" and summary["dataset"] == "GunPoint"
    x, y = np.random.default_rng(0).normal(size=(40, 3, 50)).astype(np.float32), np.arange(40) % 2
    summary = resnet_any.fit("resnet1d18", (x, y), out=tmp_path / "r1d", epochs=1, width=4, quiet=True)
    assert summary["domain"] == "series" and summary["model"] == "resnet1d18"


@pytest.mark.parametrize("call, match", [
    (lambda m, d, t: resnet_any.fit(m, "not a dataset", out=t, domain="image"), "unknown image dataset 'not a dataset'"),
    (lambda m, d, t: resnet_any.fit(m, "GunPoint", out=t), r"choose a domain \(domain= or --domain\): image, series"),
    (lambda m, d, t: resnet_any.fit(m, {1: 2}, out=t), "cannot train on dict; pass a tuple"),
    (lambda m, d, t: resnet_any.fit(m, d, out=t, width=8), "--width builds or loads a registry model"),
    (lambda m, d, t: resnet_any.fit(m, (d[0][:5], d[1][:4]), out=t), "X has 5 samples but y has 4"),
    (lambda m, d, t: resnet_any.fit(m, d, out=t, learning_rate=0.1), "fit: unknown key 'learning_rate'"),
    (lambda m, d, t: resnet_any.fit(m, d, (d[0][:9], np.full(9, 11)), out=t), "val: label 11 is not among train's classes 0..9"),
    (lambda m, d, t: resnet_any.fit(42, d, out=t), "model must be an nn.Module"),
])
def test_bad_calls_are_one_clear_error(digits, tmp_path: Path, call, match: str) -> None:
    with pytest.raises(UserError, match=match):
        call(TinyNet(), digits, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing written for a refused call


def test_bottleneck_3d_core_model_from_the_readme() -> None:
    """The README's 3D example builds and runs on (N, C, D, H, W)."""
    scans = ResNet(GridOps(3), BOTTLENECK, layers=(1, 1), widths=(8, 16), in_channels=1, num_classes=2)
    assert scans(torch.randn(2, 1, 8, 16, 16)).shape == (2, 2)


def test_volume_domain_trains_and_evaluates_from_the_cli(tmp_path: Path, one_thread) -> None:
    """`train --domain volume --dataset vol.npz` (resnet3d18 by default), then `evaluate` on the checkpoint."""
    from resnet_any.evaluate import evaluate_checkpoint
    from resnet_any.train.cli import main

    d = load_digits()
    vols, labels = [], []
    for k in range(10):
        imgs = d.images[d.target == k][:160]
        for i in range(0, len(imgs) - 3, 4):
            vols.append(imgs[i:i + 4])
            labels.append(k)
    np.savez(tmp_path / "vol.npz", x=np.stack(vols).astype(np.float32), y=np.array(labels))
    out = tmp_path / "run"
    assert main(["--domain", "volume", "--dataset", str(tmp_path / "vol.npz"), "--width", "8", "--epochs", "8",
                 "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "resnet3d18" and summary["domain"] == "volume"
    assert summary["test_accuracy"] >= 0.6, summary  # 10 classes, chance 0.1 (0.875 measured at seed 0)
    result = evaluate_checkpoint(out / "best.pt")
    assert result["accuracy"] == pytest.approx(summary["test_accuracy"]) and result["n"] == 80


def test_string_labels_are_numbered_and_said_integer_labels_stay_indices(digits, tmp_path: Path) -> None:
    x, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y]
    summary = resnet_any.fit(TinyNet(), (x[:300], names[:300]), out=tmp_path / "a", epochs=1, quiet=True)
    assert any(n.startswith("labels numbered in sorted order: eight -> 0, five -> 1") for n in summary["notes"])
    _, meta = resnet_any.load_checkpoint(tmp_path / "a" / "best.pt", model=TinyNet())
    assert meta["class_names"][:3] == ["eight", "five", "four"]
    # integer labels keep their meaning: class 7 is output 7, even when train lacks class 0
    summary = resnet_any.fit(TinyNet(), (x[y > 0][:300], y[y > 0][:300]), out=tmp_path / "b", epochs=1, quiet=True)
    assert not any("labels numbered in sorted order" in n for n in summary["notes"])
    assert any("class(es) 0 have no training sample" in n for n in summary["notes"])
    assert resnet_any.load_checkpoint(tmp_path / "b" / "best.pt", model=TinyNet())[1]["num_classes"] == 10
    with pytest.raises(UserError, match=r"outputs shape \(\d+, 3\).* must output \(\d+, 10\)"):
        resnet_any.fit(TinyNet(classes=3), (x[:300], y[:300]), out=tmp_path / "c", epochs=1, quiet=True)


def test_mnist_shaped_bytes_are_images_and_resume_keeps_the_carved_split(tmp_path: Path) -> None:
    """(N, H, W) uint8 arrays, as MNIST is stored, are 1-channel images; a resume carves val as the run did."""
    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)[:400]
    y = d.target[:400]
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    first = resnet_any.fit(net, (x, y), out=tmp_path / "run", epochs=2, val_fraction=0.5, quiet=True,
                           callbacks=[StopAfter(1)])
    assert first["domain"] == "image" and any("domain image inferred" in n for n in first["notes"])
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["dataset"] == "<in-memory>" and config["val_fraction"] == 0.5
    # the same call minus val_fraction: the resumed run still holds out half, as its config says
    again = resnet_any.fit(net, (x, y), out=tmp_path / "run", resume=True, quiet=True)
    assert again["epochs"] == 2
    with pytest.raises(UserError, match="--val-fraction cannot change on --resume"):
        resnet_any.fit(net, (x, y), out=tmp_path / "run", resume=True, val_fraction=0.25, epochs=3)
    with pytest.raises(UserError, match="the data's train split holds 150 samples, the run's held 200"):
        resnet_any.fit(net, (x[:300], y[:300]), out=tmp_path / "run", resume=True, epochs=3)


KILL_SCRIPT = '''
import sys, time
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn
import resnet_any
from resnet_any.train.run.callbacks import Callback


class Slow(Callback):
    def on_epoch_end(self, trainer, record):
        print(f"epoch {record['epoch']}", flush=True)
        time.sleep(0.4)  # room for the test to kill between and during checkpoint writes


torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
d = load_digits()
x = (d.images / 16.0).astype(np.float32)[:, None]
resnet_any.fit(model, (x[:1200], d.target[:1200]), (x[1200:1500], d.target[1200:1500]), out=sys.argv[1],
               epochs=8, batch_size=32, lr=0.01, seed=1, quiet=True, resume=sys.argv[2] == "resume",
               callbacks=[Slow()])
'''


def test_fit_killed_with_sigkill_resumes_to_the_uninterrupted_weights(tmp_path: Path) -> None:
    """A user's script calling fit, killed -9 mid-run and run again with resume=True, ends bit-identical."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "user_script.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = lambda out, mode: subprocess.run([sys.executable, str(script), str(out), mode], env=env,  # noqa: E731
                                           capture_output=True, text=True, timeout=300)
    whole = run(tmp_path / "whole", "fresh")
    assert whole.returncode == 0, whole.stderr[-2000:]
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "killed"), "fresh"], env=env,
                            stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:  # kill -9 once three epochs have finished
        if line.startswith("epoch 3"):
            time.sleep(0.2)
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = run(tmp_path / "killed", "resume")
    assert done.returncode == 0, done.stderr[-2000:]
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 8
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    rows = [json.loads(r) for r in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 9))  # each epoch once


def test_fit_with_bf16_autocast_on_the_cpu(digits, tmp_path: Path, one_thread) -> None:
    """amp passes through fit: bf16 autocast trains a user's model on the CPU to its fp32 accuracy within noise."""
    x, y = digits
    data = dict(train=(x[:1200], y[:1200]), val=(x[1200:1500], y[1200:1500]), test=(x[1500:], y[1500:]))
    accs = {}
    for amp in ("off", "bf16"):
        torch.manual_seed(0)
        summary = resnet_any.fit(TinyNet(), **data, out=tmp_path / amp, epochs=8, lr=0.01, amp=amp, quiet=True)
        assert json.loads((tmp_path / amp / "config.json").read_text())["amp"] == amp
        accs[amp] = summary["test_accuracy"]
    assert accs["off"] > 0.85 and abs(accs["bf16"] - accs["off"]) <= 0.03, accs
