"""A run that learns nothing says so: shuffled labels end with a warning, a healthy run with none."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import resnet_any
from resnet_any.train.health import Health, chance_level


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
    h.history = rows([(2.3, 2.3, 0.1), (2.0, 2.2, 0.15)])
    assert h.verdict() == []  # too few epochs to judge


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
