"""Node features as the GCN family expects them: what they look like, and their scaling by name.

`feature_stats` measures a node graph's feature matrix for the rules (derive.py: option `feature_norm`);
`scale_features` applies the chosen scaling and returns what a checkpoint needs to repeat it on new files:
- "row": torch_geometric.transforms.NormalizeFeatures (shifted to >= 0, each row summing to 1), the
  preprocessing of Kipf & Welling 2017 and PyG's Planetoid examples for bag-of-words features;
- "standardize": every column to mean 0 and standard deviation 1 over all nodes (the graph is transductive:
  the features of every node are seen in training, the labels only of the training nodes), as scikit-learn's
  StandardScaler does for a table of measurements in their own units;
- "none": as given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class FeatureStats:
    """What the scaling rule reads from a feature matrix."""

    density: float        # share of nonzero entries
    negative: bool        # any negative value
    rows_sum_one: bool    # every nonzero row already sums to 1 (row-normalised before it reached us)
    spread: float         # largest over smallest column standard deviation (columns with any variance)


def feature_stats(x: torch.Tensor) -> FeatureStats:
    """Density, sign, row sums and column-scale spread of a (nodes, features) matrix."""
    x = x.float()
    nonzero = x != 0
    sums = x.sum(1)
    rows = nonzero.any(1)
    std = x.std(0) if x.shape[0] > 1 else torch.zeros(x.shape[1])
    varied = std[std > 0]
    return FeatureStats(density=float(nonzero.float().mean()) if x.numel() else 0.0,
                        negative=bool((x < 0).any()),
                        rows_sum_one=bool(rows.any() and torch.allclose(sums[rows], torch.ones(())
                                                                        .expand(int(rows.sum())), atol=1e-4)),
                        spread=float(varied.max() / varied.min()) if varied.numel() else 1.0)


def row_normalize(x: torch.Tensor) -> torch.Tensor:
    """NormalizeFeatures on a feature matrix: shifted to >= 0, each nonzero row summing to 1."""
    import torch_geometric.transforms as T
    from torch_geometric.data import Data

    return T.NormalizeFeatures()(Data(x=x.float().clone())).x


def scale_features(x: torch.Tensor, how: str) -> tuple[torch.Tensor, dict[str, Any]]:
    """(scaled x, what repeats it: the meta keys feature_norm and, for standardize, feature_mean/feature_std)."""
    if how == "row":
        return row_normalize(x), {"feature_norm": "row"}
    if how == "standardize":
        mean, std = x.float().mean(0), x.float().std(0)
        std = torch.where(std > 0, std, torch.ones_like(std))  # a constant column stays 0, not NaN
        return (x.float() - mean) / std, {"feature_norm": "standardize", "feature_mean": mean.tolist(),
                                          "feature_std": std.tolist()}
    return x, {}


def repeat_scaling(x: torch.Tensor, meta: dict[str, Any]) -> torch.Tensor:
    """The training run's scaling (its data meta) applied to features read for prediction."""
    how = meta.get("feature_norm")
    if how == "row":
        return row_normalize(x)
    if how == "standardize":
        return (x.float() - torch.tensor(meta["feature_mean"])) / torch.tensor(meta["feature_std"])
    return x
