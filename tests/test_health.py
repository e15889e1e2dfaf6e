"""A run that learns nothing says so: shuffled labels end with a warning, a healthy run with none."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import resnet_any
from resnet_any.train.run.health import Health, chance_level


def test_chance_level_is_the_majority_rate_plus_two_standard_errors() -> None:
    # 100 samples, 60 of the largest class: 0.6 + 2 * sqrt(0.6 * 0.4 / 100) = 0.6980, by hand
    assert chance_level([60, 40]) == pytest.approx(0.6 + 2 * math.sqrt(0.24 / 100))
    assert chance_level([]) == 1.0


def rows(curve: list[tuple[float, float, float]]) -> list[dict]:
    return [{"epoch": i + 1, "train_loss": t, "val_loss": v, "val_acc": a} for i, (t, v, a) in enumerate(curve)]


def test_each_symptom_from_a_hand_made_curve() -> None:
    h = Health()
    h.num_classes, h.val_counts = 10, [10] * 10  # chance: 0.1 + 2 * sqrt(0.09 / 100) = 0.16
    h.history = rows([(2.3, 2.3, 0.12), (2.0, 2.2, 0.3), (1.5, 1.9, 0.6)])
    assert h.verdict() == []  # learning: no warning
    h.history = rows([(2.3, 2.3, 0.10), (2.4, 2.6, 0.11), (2.5, 5.1, 0.12)])
    said = " | ".join(h.verdict())
    assert "validation loss diverged" in said and "never rose above chance" in said and "never fell" in said
    h.history = rows([(2.3, 2.3, 0.3), (2.4, 5.0, 0.35)])
    assert h.verdict() == []  # two epochs are too few to judge a curve (a warm-up may look like this) ...
    h.history = rows([(2.3, 2.3, 0.1), (2.0, 2.2, 0.15)])
    said = h.verdict()  # ... but not too few to say that the run ends where a guess would
    assert len(said) == 1 and "never rose above chance" in said[0]


def test_a_one_epoch_run_at_chance_without_validation_is_said() -> None:
    """--epochs 1 with nothing held out, ending below chance on its test split (every photo given a wrong class)."""
    h = Health()
    h.num_classes, h.val_counts = 20, []
    h.history = [{"epoch": 1, "train_loss": 26.2}]
    said = h.verdict(test_acc=0.0, test_counts=[202, 202], test_balanced=0.0)
    assert len(said) == 1 and "test accuracy 0.000 is no better than chance" in said[0]


def test_without_validation_the_test_split_is_judged() -> None:
    """--select train_loss holds nothing out: a chance-level test accuracy is what then warns."""
    h = Health()
    h.num_classes, h.val_counts = 3, []
    h.history = [{"epoch": i + 1, "train_loss": t} for i, t in enumerate((1.10, 1.05, 1.02))]
    # 120 test samples, 40 a class: chance 1/3 + 2 * sqrt(2/9 / 120) = 0.4194, by hand
    said = h.verdict(test_acc=0.408, test_counts=[40, 40, 40])
    assert len(said) == 1 and "test accuracy 0.408 is no better than chance" in said[0]
    assert h.verdict(test_acc=0.425, test_counts=[40, 40, 40]) == []
    assert h.verdict() == []  # nothing to judge on: no validation, no test
    # 400 : 100 and class weights: accuracy 0.62 is under the majority's 0.8, but a balanced accuracy of 0.70 is
    # above 1/2 + 2 * sqrt(0.25 / 500) = 0.545: it tells cats from dogs; 0.52 does not
    assert h.verdict(test_acc=0.62, test_counts=[400, 100], test_balanced=0.70) == []
    assert "no better than chance" in h.verdict(test_acc=0.62, test_counts=[400, 100], test_balanced=0.52)[0]


def test_a_short_try_that_ends_weak_names_the_budget() -> None:
    """--epochs 3 where the rules derive 67: ending nearer chance than 100% says so; a good end or a full budget does not."""
    h = Health()
    h.num_classes, h.val_counts, h.epoch_budget = 3, [32, 32, 32], 67
    h.history = rows([(1.10, 1.08, 0.40), (1.05, 1.02, 0.45), (1.00, 0.98, 0.62)])
    said = h.verdict()  # chance 0.333 + 2 SE = 0.43 < 0.62: learning, but (1 + 1/3) / 2 = 0.667 is not reached
    assert len(said) == 1 and said[0].startswith("ran 3 epochs, a quarter or less of the 67")
    h.history = rows([(1.10, 1.08, 0.40), (1.05, 1.02, 0.45), (1.00, 0.98, 0.70)])
    assert h.verdict() == []
    h.history, h.epoch_budget = rows([(1.10, 1.08, 0.40), (1.05, 1.02, 0.45), (1.00, 0.98, 0.62)]), 11
    assert h.verdict() == []  # 3 of 11 epochs is not a quarter or less


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return (d.images / 16.0).astype(np.float32)[:, None], d.target


def test_shuffled_labels_end_with_a_warning_and_real_ones_without(digits, tmp_path: Path, one_thread) -> None:
    """The same model and budget on digits: true labels learn (no warning), shuffled labels carry no signal."""
    x, y = digits
    shuffled = np.random.default_rng(0).permutation(y)
    opts = dict(epochs=6, width=4, quiet=True, seed=0)
    real = resnet_any.fit("resnet18", (x[:1200], y[:1200]), (x[1200:1500], y[1200:1500]), out=tmp_path / "real",
                          **opts)
    noise = resnet_any.fit("resnet18", (x[:1200], shuffled[:1200]), (x[1200:1500], shuffled[1200:1500]),
                           out=tmp_path / "noise", **opts)
    assert real["warnings"] == [], real["warnings"]
    assert any("never rose above chance" in w for w in noise["warnings"]), noise["warnings"]
