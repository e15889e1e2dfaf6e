"""Recipes derived from the data: each rule's choice on real data shapes, the README's table, and the run's note."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from resnet_any.data import load_dataset
from resnet_any.train import TrainConfig
from resnet_any.train.plan.derive import RULES, Profile, derive, profile, rules_markdown
from resnet_any.train.plan import make_plan

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_table_is_the_rules() -> None:
    """The README's 'Derived recipes' table is generated from RULES, so the two cannot disagree."""
    assert rules_markdown() in README.read_text(encoding="utf-8")


def _image(n: int, k: int = 3, size: int = 32, counts: tuple[int, ...] | None = None, n_test: int = 100) -> Profile:
    counts = counts or tuple([n // k] * k)
    return Profile("image", "samples", sum(counts), max(1, sum(counts) // 4), k, counts, image_size=size, channels=3,
                   n_test=n_test)


@pytest.mark.parametrize("n, batch, width", [(384, 16, 16), (1150, 32, 16), (4000, 128, 32), (40000, 128, 64)])
def test_image_rules(n: int, batch: int, width: int) -> None:
    """Batch = power of two <= n/30 in [16, 128]; lr = 0.1 b/128; width by n; epochs = step budget / steps."""
    v = derive(_image(n))
    assert v["batch_size"] == batch and v["width"] == width
    assert v["lr"] == pytest.approx(0.1 * batch / 128)
    steps = math.ceil(n / batch)
    assert v["epochs"] == min(200, max(15, math.ceil(4000 / steps)))  # 32 px: the small-image step budget
    assert derive(_image(n, size=224))["epochs"] == min(200, max(15, math.ceil(2000 / steps)))
    assert v["class_weights"] == "none"
    assert v["mixup"] == (0.2 if n < 20000 else 0.0)
    # validation n/4 over 3 classes: 32 a class (n 384) is under 50; 96 and more are not
    assert v["select"] == ("train_loss" if n < 600 else "val")


def test_no_test_split_keeps_validation() -> None:
    """With nothing else held out, merging validation into training would leave the run unjudged."""
    assert derive(_image(384))["select"] == "train_loss"
    assert derive(_image(384, n_test=0))["select"] == "val"
    gunpoint_like = Profile("series", "samples", 40, 10, 2, (20, 20), length=150, channels=1)
    assert derive(gunpoint_like)["select"] == "val"
    assert derive(Profile("series", "samples", 40, 10, 2, (20, 20), length=150, channels=1, n_test=150))["select"] == "train_loss"


def test_imbalance_turns_on_class_weights() -> None:
    """400 : 100 is 4:1, at or above the 3:1 the rule names; 2:1 is not."""
    assert derive(_image(500, 2, counts=(400, 100)))["class_weights"] == "auto"
    assert derive(_image(300, 2, counts=(200, 100)))["class_weights"] == "none"


def test_series_rules_on_real_ucr_shapes() -> None:
    """GunPoint (50 train series, 2 classes): Fawaz et al.'s batch n/10 >= 4; 5 validation series a class -> train_loss."""
    splits = load_dataset("series", "GunPoint", seed=0, val_fraction=0.2)
    p = profile(splits)
    assert (p.n_train, p.num_classes, p.length) == (40, 2, 150)
    v = derive(p)
    assert v["batch_size"] == 4 and v["select"] == "train_loss"
    # a large set: 16 a batch and a validation split big enough to choose on
    big = Profile("series", "samples", 4000, 1000, 4, (1000,) * 4, length=100, channels=1, n_test=1000)
    v = derive(big)
    assert v["batch_size"] == 16 and v["select"] == "val" and v["epochs"] == 32


def test_profile_of_a_graph_and_its_rules(tmp_path: Path, shared_data: Path) -> None:
    """Cora: 140 labelled training nodes, 7 classes, 1433 features; the image/series rules do not apply."""
    import shutil

    root = tmp_path / "planetoid"
    shutil.copytree(shared_data / "planetoid" / "Cora", root / "Cora")
    p = profile(load_dataset("graph", "cora", str(root), seed=0))
    assert (p.layout, p.n_train, p.num_classes, p.features, p.nodes) == ("node", 140, 7, 1433, 2708)
    assert set(derive(p)) == {r.option for r in RULES if "graph" in r.domains and "node" in r.layouts}


def test_a_run_says_what_was_derived_and_flags_win(tmp_path: Path, one_thread: None) -> None:
    """A user's folder (no per-dataset recipe) gets the derived values and one note naming them; a flag overrides one."""
    from sklearn.datasets import load_digits
    from PIL import Image

    d = load_digits()
    for i in range(300):
        folder = tmp_path / "digits" / str(d.target[i] % 3)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((d.images[i] * 16).astype("uint8")).save(folder / f"{i}.png")
    plan = make_plan(TrainConfig(domain="image", dataset=str(tmp_path / "digits"), out=str(tmp_path / "run")))
    note = next(n for n in plan.notes if n.startswith("recipe derived from the data"))
    assert "batch-size 16" in note and "width 16" in note and "lr 0.0125" in note
    assert plan.config.batch_size == 16 and plan.config.model_kwargs["width"] == 16
    given = make_plan(TrainConfig(domain="image", dataset=str(tmp_path / "digits"), batch_size=64,
                                  out=str(tmp_path / "run2")))
    assert given.config.batch_size == 64 and "batch-size" not in next(
        n for n in given.notes if n.startswith("recipe derived"))
    # the note says which quantities it read
    assert re.search(r"\d+ training samples, 3 classes", note)
    json.dumps(plan.notes)  # kept in summary.json
    # 300 PNGs: 60 carved for test, 48 for validation (16 a class, under 50): validation joins training
    assert plan.config.select == "train_loss" and not plan.splits.val and len(plan.splits.train) == 240
    assert plan.epoch_budget is None  # epochs were not the user's
    short = make_plan(TrainConfig(domain="image", dataset=str(tmp_path / "digits"), epochs=3, out=str(tmp_path / "r3")))
    assert short.config.epochs == 3 and short.epoch_budget == plan.config.epochs == min(200, math.ceil(4000 / math.ceil(240 / 16)))
    # a validation split the user chose is kept: an explicit fraction, or a val/ folder
    kept = make_plan(TrainConfig(domain="image", dataset=str(tmp_path / "digits"), val_fraction=0.2,
                                 out=str(tmp_path / "r4")))
    assert kept.config.select == "val" and len(kept.splits.val) == 48
    import shutil

    for c in ("0", "1", "2"):
        shutil.copytree(tmp_path / "digits" / c, tmp_path / "split" / "train" / c)
        files = sorted((tmp_path / "split" / "train" / c).iterdir())
        for part, chosen in (("val", files[:10]), ("test", files[10:20])):  # a val/ alone would be the test split
            (tmp_path / "split" / part / c).mkdir(parents=True)
            for f in chosen:
                f.rename(tmp_path / "split" / part / c / f.name)
    given_val = make_plan(TrainConfig(domain="image", dataset=str(tmp_path / "split"), out=str(tmp_path / "r5")))
    assert given_val.config.select == "val" and len(given_val.splits.val) == 30


def test_derived_train_loss_moves_validation_into_training_and_resumes(tmp_path: Path, one_thread: None) -> None:
    """GunPoint's derived select train_loss trains on train + val (50 series), and a resumed run sees the same data."""
    from resnet_any.train import train

    out = tmp_path / "run"
    plan = make_plan(TrainConfig(domain="series", dataset="GunPoint", out=str(out)))
    assert plan.config.select == "train_loss" and len(plan.splits.train) == 50 and not plan.splits.val
    assert plan.config.batch_size == 5  # Fawaz et al.'s n/10 of the 50 series it trains on
    train(TrainConfig(domain="series", dataset="GunPoint", width=8, epochs=1, out=str(out), quiet=True))
    summary = train(TrainConfig(out=str(out), resume=True, epochs=2, quiet=True))
    assert summary["epochs"] == 2 and summary["select"] == "train_loss"


def test_fit_keeps_the_validation_split_it_was_given() -> None:
    """fit(model, train, val, test): a validation split handed over is never merged; one carved by us may be."""
    from sklearn.datasets import load_digits

    from resnet_any.data.python import as_splits

    d = load_digits()
    x, y = (d.images[:, None] * 16).astype("uint8"), d.target % 3
    given = profile(as_splits((x[:300], y[:300]), (x[300:345], y[300:345]), (x[345:400], y[345:400])))
    assert given.val_given and given.per_class_val < 50 and derive(given)["select"] == "val"
    carved = profile(as_splits((x[:300], y[:300]), None, (x[345:400], y[345:400])))
    assert not carved.val_given and derive(carved)["select"] == "train_loss"


def test_classes_too_small_to_learn_are_named(tmp_path: Path) -> None:
    """Two digits with 2 and 4 training images (say a stray folder of run outputs): the plan names them; 5 is enough."""
    from sklearn.datasets import load_digits

    from resnet_any.data.python import as_splits

    d = load_digits()
    x, y = (d.images[:, None] * 16).astype("uint8"), d.target.copy()
    keep = [i for i in range(len(y)) if y[i] not in (7, 8)] + [i for i in range(len(y)) if y[i] == 7][:2] + \
        [i for i in range(len(y)) if y[i] == 8][:5]
    x, y = x[keep], y[keep]
    plan = make_plan(TrainConfig(domain="image", epochs=1, out=str(tmp_path / "run"), quiet=True),
                     data=as_splits((x, y), None, (x[:50], y[:50])))
    said = [n for n in plan.notes if "fewer than 5 training samples" in n]
    counts = plan.splits.train.y.bincount(minlength=10).tolist()
    rare = [c for c in range(10) if counts[c] < 5]
    assert rare and said and said[0].startswith(f"{len(rare)} of 10 classes")
    for c in range(10):
        assert (f"{c} ({counts[c]})" in said[0]) == (c in rare), (c, counts[c], said[0])
