"""Node feature scaling and the node rules: hand-computed rows, the rules on small profiles, one short real run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from resnet_any.data.graph_features import feature_stats, repeat_scaling, scale_features
from resnet_any.train.plan.derive import Profile, derive

X = torch.tensor([[1.0, 0.0, 3.0], [0.0, 0.0, 0.0], [2.0, 2.0, 0.0]])


def test_row_normalisation_by_hand() -> None:
    """Each nonzero row divided by its sum (an empty row stays empty), as Kipf & Welling's bag of words."""
    x, meta = scale_features(X, "row")
    assert torch.allclose(x, torch.tensor([[0.25, 0.0, 0.75], [0.0, 0.0, 0.0], [0.5, 0.5, 0.0]]))
    assert meta == {"feature_norm": "row"}


def test_standardisation_by_hand() -> None:
    """Columns to mean 0, sample sd 1: column 0 is 1, 0, 2 (mean 1, sd 1); a constant column stays 0."""
    x = torch.cat([X, torch.full((3, 1), 5.0)], 1)
    z, meta = scale_features(x, "standardize")
    assert torch.allclose(z[:, 0], torch.tensor([0.0, -1.0, 1.0]))
    assert torch.allclose(z[:, 2], torch.tensor([2.0, -1.0, -1.0]) / 3 ** 0.5)  # 3, 0, 0: mean 1, sd sqrt(3)
    assert torch.equal(z[:, 3], torch.zeros(3))
    assert meta["feature_mean"] == pytest.approx([1.0, 2 / 3, 1.0, 5.0])
    # files read for prediction get the training run's numbers, not their own
    assert torch.allclose(repeat_scaling(x[:1], meta), z[:1])


def test_feature_stats() -> None:
    """Density, sign, row sums, and the ratio of the widest to the narrowest column's spread."""
    s = feature_stats(X)
    assert s.density == pytest.approx(4 / 9) and not s.negative and not s.rows_sum_one
    assert s.spread == pytest.approx(3 ** 0.5)  # column sds 1, sqrt(4/3), sqrt(3)
    assert feature_stats(scale_features(X, "row")[0]).rows_sum_one
    assert feature_stats(-X).negative


def _node(**features) -> Profile:
    return Profile("graph", "node", 140, 500, 7, (20,) * 7, nodes=2708, features=1433, n_test=1000,
                   **{"features_from": "columns", "feature_negative": False, "feature_rows_one": False,
                      "feature_spread": 1.0, **features})


@pytest.mark.parametrize("features, norm", [
    (dict(feature_density=0.013), "row"),                                   # a bag of words
    (dict(feature_density=0.013, feature_rows_one=True), "row"),            # already row-normalised: no change
    (dict(feature_density=1.0, feature_negative=True), "standardize"),      # signed measurements
    (dict(feature_density=0.05, feature_negative=True), "standardize"),     # sparse but signed: not counts
    (dict(feature_density=0.9, feature_spread=300.0), "standardize"),       # columns in different units
    (dict(feature_density=0.9, feature_spread=2.0), "none"),                # dense, one scale already
    (dict(feature_density=0.02, features_from="degree_onehot_10"), "none"),  # the reader's degree features
])
def test_feature_norm_rule(features: dict, norm: str) -> None:
    """The rule's decision on small synthetic profiles, read from the features alone."""
    assert derive(_node(**features))["feature_norm"] == norm
    assert "feature_norm" not in derive(_node(**features), {"feature_norm": "none"})  # the user's value is kept
