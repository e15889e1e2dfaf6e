"""--ema, --class-weights, --sampler balanced, --mixup and --cutmix in the one loop, on real data (CPU, one thread)."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from resnet_any.data import load_dataset
from resnet_any.errors import UserError
from resnet_any.train import TrainConfig, Trainer, train
from resnet_any.train.plan import make_plan
from resnet_any.train.plan.derive import inverse_frequency_weights
from resnet_any.train.run.regularize import make_mix
from resnet_any.train.state import epoch_generators
from resnet_any.train.run.tasks import predict_split

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[1]

TINY = dict(domain="image", width=8, device="cpu", quiet=True)
# digits' training split (about 115 a class) cut to a steep imbalance: 100 zeros down to 5 nines
KEEP = (100, 80, 60, 45, 35, 25, 20, 15, 10, 5)


@pytest.fixture(scope="module")
def skewed_digits():
    """The embedded digits with an imbalanced training split (real images, every class present)."""
    splits = load_dataset("image", "digits", seed=0)
    y = splits.train.y
    idx = torch.cat([torch.nonzero(y == k).view(-1)[:n] for k, n in enumerate(KEEP)])
    assert len(idx) == sum(KEEP)
    return dataclasses.replace(splits, train=splits.train.subset(idx))


@pytest.fixture(scope="module")
def mutag(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tu") / "TUDataset"
    shutil.copytree(shared_data / "TUDataset" / "MUTAG", root / "MUTAG")  # PyG writes processed/ beside raw/
    return root


@pytest.fixture(scope="module")
def cora(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("planetoid")
    shutil.copytree(shared_data / "planetoid" / "Cora", root / "Cora")
    return root


def trainer_on(splits, tmp_path: Path, **options) -> Trainer:
    return Trainer(make_plan(TrainConfig(out=str(tmp_path / "run"), **{**TINY, "epochs": 1, **options}), data=splits))


def floats(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if v.is_floating_point()}


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


# ---- EMA -------------------------------------------------------------------------------------------------

def test_ema_checkpoint_is_the_average_of_every_step_and_is_what_is_validated(tmp_path: Path) -> None:
    decay = 0.9
    trainer = Trainer(TrainConfig(out=str(tmp_path / "run"), epochs=1, seed=1, ema=decay, **TINY))
    steps: list[dict[str, torch.Tensor]] = []  # the raw weights and BatchNorm statistics after each step
    trainer.optimizer.register_step_post_hook(
        lambda *_: steps.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()}))
    records = list(trainer.run())
    assert len(steps) == trainer.steps_per_epoch > 10
    by_hand = floats(steps[0])  # W_1^EMA = W_1, then W_t^EMA = decay W_{t-1}^EMA + (1 - decay) W_t
    for state in steps[1:]:
        by_hand = {k: decay * v + (1 - decay) * state[k] for k, v in by_hand.items()}

    best, last = (torch.load(tmp_path / "run" / n, weights_only=True) for n in ("best.pt", "last.pt"))
    assert floats(best["model"]).keys() == by_hand.keys()
    for k, v in by_hand.items():
        torch.testing.assert_close(best["model"][k], v, rtol=1e-5, atol=1e-6, msg=k)
    assert not torch.equal(best["model"]["fc.weight"], steps[-1]["fc.weight"])  # the average, not the last step
    for k, v in steps[-1].items():  # last.pt keeps the raw weights and the average's step count for --resume
        assert torch.equal(last["train_model"][k], v), k
    assert last["ema_updates"] == len(steps)
    assert any(n.startswith("EMA of the weights (decay 0.9)") for n in records[0]["notes"])

    # the epoch's validation loss is the averaged weights' (best.pt's "model"), not the raw ones'
    epoch = next(r for r in records if r["type"] == "epoch")
    for weights, same in ((best["model"], True), (last["train_model"], False)):
        trainer.model.load_state_dict(weights)
        with trainer.autocast():  # validation runs in the training precision
            logits, y = predict_split(trainer.model, trainer.task, "val")
        loss = torch.nn.functional.cross_entropy(logits, y).item()
        assert (abs(loss - epoch["val_loss"]) < 1e-5) is same


def test_resume_with_every_regulariser_on_is_exact(tmp_path: Path) -> None:
    """EMA state, mixup/CutMix draws and balanced sampling all replay: stop after epoch 1, resume = uninterrupted."""
    config = dict(TINY, epochs=2, seed=3, drop_path=0.1, lr=0.02, ema=0.8, mixup=0.4, cutmix=1.0,
                  sampler="balanced", class_weights="auto")
    full, part = tmp_path / "full", tmp_path / "part"
    train(TrainConfig(out=str(full), **config))
    stop = threading.Event()
    for rec in Trainer(TrainConfig(out=str(part), **config)).run(stop):
        if rec["type"] == "epoch":
            stop.set()
    assert torch.load(part / "last.pt", weights_only=True)["epoch"] == 1
    train(TrainConfig(out=str(part), resume=True, quiet=True))

    a, b = (torch.load(d / "last.pt", weights_only=True) for d in (full, part))
    assert a["ema_updates"] == b["ema_updates"] > 0
    for key in ("model", "train_model"):
        assert a[key].keys() == b[key].keys()
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), (key, k)
    for ra, rb in zip(rows(full), rows(part), strict=True):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert ra[key] == rb[key], key


def test_ema_and_balanced_sampling_under_ddp_match_one_process(mutag: Path, tmp_path: Path) -> None:
    """2 gloo ranks (each its shard of the balanced draws, each its own EMA) end with one process's weights.

    As in test_ddp.py: a model without BatchNorm, whose per-rank statistics would legitimately differ.
    """
    opts = dict(domain="graph", dataset="MUTAG", data_dir=str(mutag), cache_dir=str(tmp_path / "cache"), epochs=1,
                batch_size=32, optimizer="sgd", lr=0.05, schedule="none", ema=0.8, sampler="balanced",
                class_weights="none", model_kwargs={"hidden_channels": 16, "depth": 2, "norm": "none", "dropout": 0.0},
                device="cpu", quiet=True)
    train(TrainConfig(**opts, out=str(tmp_path / "one")))
    args = [f"--{k.replace('_', '-')}={json.dumps(v) if isinstance(v, dict) else v}" for k, v in opts.items()
            if not isinstance(v, bool)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "resnet_any.train", *args, "--quiet", "--out", str(tmp_path / "two")],
                          capture_output=True, text=True, env=env, timeout=240, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = (torch.load(tmp_path / d / "last.pt", weights_only=True) for d in ("one", "two"))
    assert a["ema_updates"] == b["ema_updates"] > 1
    for key in ("model", "train_model"):  # gradients are summed in another order: float32 rounding only
        assert a[key].keys() == b[key].keys()
        assert max((a[key][k] - b[key][k]).abs().max().item() for k in a[key]) <= 1e-5, key
    assert not torch.equal(a["model"]["fc.weight"], a["train_model"]["fc.weight"])


# ---- class weights ------------------------------------------------------------------------------------------

def test_auto_class_weights_are_scikit_learns_balanced_weights(skewed_digits, mutag: Path, cora: Path,
                                                               tmp_path: Path) -> None:
    trainer = trainer_on(skewed_digits, tmp_path, class_weights="auto")
    y = skewed_digits.train.y.numpy()
    expected = compute_class_weight("balanced", classes=np.arange(10), y=y)
    assert torch.allclose(trainer.objective.weights, torch.tensor(expected, dtype=torch.float32))
    assert expected[9] / expected[0] == pytest.approx(100 / 5)
    assert any(n.startswith("class-weighted loss") and "9 7.9" in n for n in trainer.notes)
    assert trainer_on(skewed_digits, tmp_path, class_weights="none").objective.weights is None

    # graphs (a label per graph) and nodes (the training mask; train_loss adds the imbalanced val nodes)
    for options in (dict(domain="graph", dataset="MUTAG", data_dir=str(mutag), width=8),
                    dict(domain="graph", dataset="cora", data_dir=str(cora), select="train_loss")):
        trainer = Trainer(TrainConfig(out=str(tmp_path / "graph"), class_weights="auto", device="cpu", **options))
        y = trainer.labels("train").numpy()
        expected = compute_class_weight("balanced", classes=np.unique(y), y=y)
        assert len(np.unique(y)) == trainer.splits.num_classes and expected.std() > 0.05  # really imbalanced
        assert torch.allclose(trainer.objective.weights, torch.tensor(expected, dtype=torch.float32))


def test_a_class_absent_from_training_gets_weight_zero() -> None:
    # scikit-learn refuses absent classes; the present ones keep its N / (K n_k) over the K present
    w = inverse_frequency_weights([30, 0, 10])
    assert w.tolist() == pytest.approx([40 / (2 * 30), 0.0, 40 / (2 * 10)])


# ---- balanced sampler -----------------------------------------------------------------------------------------

def test_balanced_sampler_draws_classes_equally_and_per_seed_and_epoch(skewed_digits, mutag: Path,
                                                                       tmp_path: Path) -> None:
    graphs = Trainer(TrainConfig(out=str(tmp_path / "g"), domain="graph", dataset="MUTAG", data_dir=str(mutag),
                                 width=8, device="cpu", sampler="balanced"))

    def order_of(trainer: Trainer, epoch: int, global_seed: int) -> torch.Tensor:
        generator = epoch_generators(5, epoch, 0, torch.device("cpu"), False)[0]
        torch.manual_seed(global_seed)  # under DDP the global RNG differs per rank: the shared order must not use it
        return trainer.sample_order(trainer.task.size("train"), generator)

    for trainer in (trainer_on(skewed_digits, tmp_path, sampler="balanced", seed=5), graphs):
        labels = trainer.labels("train")
        n, k = len(labels), trainer.splits.num_classes
        order = order_of(trainer, 1, 0)
        assert len(order) == n
        counts = torch.bincount(labels[order], minlength=k).double()
        # each draw is class c with probability 1/k: counts are Binomial(n, 1/k); 4 standard errors either way
        se = (n * (1 / k) * (1 - 1 / k)) ** 0.5
        assert (counts - n / k).abs().max() < 4 * se, counts
        assert (torch.bincount(labels, minlength=k).double() - n / k).abs().max() > 3 * se  # the data is not
        again, other = order_of(trainer, 1, 1), order_of(trainer, 2, 0)
        assert torch.equal(order, again) and not torch.equal(order, other)
    assert any(n.startswith("balanced sampler") for n in graphs.notes)


def test_node_classification_refuses_the_balanced_sampler(cora: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="node classification trains on the whole graph.*--class-weights auto"):
        Trainer(TrainConfig(out=str(tmp_path / "run"), domain="graph", dataset="cora", data_dir=str(cora),
                            device="cpu", sampler="balanced"))


# ---- mixup / CutMix -----------------------------------------------------------------------------------------

def test_series_mixup_is_elementwise_mixup_of_the_batch() -> None:
    """v2.MixUp takes 4-D batches only; a (N, C, L) series batch mixes as it would: lam x + (1 - lam) x_prev."""
    splits = load_dataset("series", "gunpoint", seed=0)
    x, y = splits.train.x[:16], splits.train.y[:16]
    mix = make_mix(0.4, 0.0, 2)
    torch.manual_seed(0)
    mixed, soft = mix(x, y)
    i = int(torch.nonzero(y != y.roll(1)).view(-1)[0])  # a sample paired with one of the other class
    lam = float(soft[i, y[i]])
    assert 0 < lam < 1 and mixed.shape == x.shape
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x.roll(1, 0))
    onehot = torch.nn.functional.one_hot(y, 2).float()
    torch.testing.assert_close(soft, lam * onehot + (1 - lam) * onehot.roll(1, 0))
    torch.manual_seed(0)
    assert torch.equal(mix(x, y)[0], mixed)  # its draws come from the global RNG the epochs reseed


def test_mixing_refuses_what_it_cannot_mix(mutag: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--cutmix pastes image rectangles; series data takes --mixup only"):
        Trainer(TrainConfig(out=str(tmp_path / "series"), domain="series", width=4, device="cpu", cutmix=1.0))
    with pytest.raises(UserError, match="graph classification cannot be mixed"):
        Trainer(TrainConfig(out=str(tmp_path / "run"), domain="graph", dataset="MUTAG", data_dir=str(mutag),
                            width=8, device="cpu", mixup=0.2))


def test_mixup_and_cutmix_change_the_loss_and_stay_deterministic(tmp_path: Path) -> None:
    plain = train(TrainConfig(out=str(tmp_path / "plain"), epochs=1, seed=2, **TINY))
    mixed = [train(TrainConfig(out=str(tmp_path / f"mixed{i}"), epochs=1, seed=2, mixup=0.4, cutmix=1.0, **TINY))
             for i in range(2)]
    assert rows(tmp_path / "plain")[0]["train_loss"] != rows(tmp_path / "mixed0")[0]["train_loss"]
    a, b = (torch.load(tmp_path / f"mixed{i}" / "last.pt", weights_only=True)["model"] for i in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert rows(tmp_path / "mixed0")[0][key] == rows(tmp_path / "mixed1")[0][key], key
    assert any("mixup (alpha 0.4) or CutMix (alpha 1)" in n for n in mixed[0]["notes"])
    assert "notes" not in plain or not any("mixed" in n for n in plain["notes"])

    # series: mixup alone, on the UCR GunPoint set
    series = dict(domain="series", width=8, epochs=1, seed=0, device="cpu", quiet=True)
    train(TrainConfig(out=str(tmp_path / "s0"), **series))
    train(TrainConfig(out=str(tmp_path / "s1"), mixup=0.4, **series))
    assert rows(tmp_path / "s0")[0]["train_loss"] != rows(tmp_path / "s1")[0]["train_loss"]
