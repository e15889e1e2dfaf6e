"""What every dataset loader returns: the contract between data, tasks and the trainer."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset


@dataclass
class DataSplits:
    """A dataset split into train/val/test, plus what a model and a predictor need to know.

    layout (how the samples are held):
      "samples":  train/val/test are Datasets of (x, y) pairs; x is a uint8 tensor (C, H, W)
                  for images (normalised and augmented on the device by the task), a float
                  tensor (C, L) for series (already z-normalised per series); y is an int.
      "node":     one graph in `graph` (torch_geometric Data with x, edge_index, y and
                  train_mask/val_mask/test_mask); train/val/test are None.
      "graph":    train/val/test are lists of torch_geometric Data (one per graph, y of shape [1]).
    meta: JSON-serialisable facts saved in checkpoints so inference can preprocess exactly as
          training did (images: image_size, mean, std, channels, augment, ink; series: length,
          znorm).
    """

    name: str
    domain: str
    layout: str
    train: Dataset | list | None
    val: Dataset | list | None
    test: Dataset | list | None
    num_classes: int
    class_names: list[str]
    in_channels: int
    graph: Any = None
    meta: dict = field(default_factory=dict)
    # what the targets are (data/targets.py): "classify" (y holds class indices), "regress" (y float (N, K),
    # one column per target, in the user's units) or "multilabel" (y float (N, K) of 0/1); NaN = missing
    task: str = "classify"
    task_note: str | None = None   # what a reader inferred the task from, said once in the run's notes

    def has(self, split: str) -> bool:
        """Whether the data holds this split at all (a node task: a mask for it)."""
        if self.layout == "node":
            return getattr(self.graph, f"{split}_mask", None) is not None
        return getattr(self, split) is not None

    def labels(self, split: str) -> torch.Tensor:
        """Every sample's target in a split, in sample order (the masked nodes' for one graph), on the CPU.

        classify: class indices (N,); regress and multilabel: float (N, K) with NaN where a label is missing.
        """
        if self.layout == "node":
            y = self.graph.y[self.graph[f"{split}_mask"]]
        else:
            ds = getattr(self, split)
            if isinstance(ds, list):
                if self.task == "classify":
                    y = torch.cat([g.y.view(-1) for g in ds]) if ds else torch.zeros(0)
                else:
                    y = torch.cat([g.y.view(1, -1) for g in ds]) if ds else torch.zeros(0, self.num_classes)
            elif isinstance(getattr(ds, "y", None), torch.Tensor):
                y = ds.y
            elif self.task == "classify":
                y = torch.as_tensor([int(ds[i][1]) for i in range(len(ds))])
            else:
                y = torch.stack([torch.as_tensor(ds[i][1], dtype=torch.float32).view(-1) for i in range(len(ds))]) \
                    if len(ds) else torch.zeros(0, self.num_classes)
        if self.task == "classify":
            return y.long().cpu()
        return y.float().view(len(y), -1).cpu()

    def count(self, split: str) -> int:
        """Samples in a split (labelled nodes for one graph); 0 when the data has no such split."""
        return len(self.labels(split)) if self.has(split) else 0

    def class_counts(self, split: str) -> list[int]:
        """Samples per class in a split (nodes for one graph); multilabel: positives per tag; regress: [].

        [] when the data has no such split.
        """
        if not self.has(split) or self.task == "regress":
            return []
        y, k = self.labels(split), self.num_classes
        if self.task == "multilabel":
            return (y == 1).sum(0).tolist()
        return torch.bincount(y[(y >= 0) & (y < k)], minlength=k).tolist()

    def without_validation(self) -> "DataSplits":
        """A copy whose training split also holds the validation samples, and whose validation split is empty.

        For training on everything but the test set (epoch chosen on training loss); the order is
        train then val, so runs stay reproducible.
        """
        import dataclasses

        from torch.utils.data import ConcatDataset

        from .splits import ArrayDataset

        if self.layout == "node":
            g = self.graph.clone()
            g.train_mask = g.train_mask | g.val_mask
            g.val_mask = torch.zeros_like(g.val_mask)
            return dataclasses.replace(self, graph=g)
        train, val = self.train, self.val
        if val is None or len(val) == 0:
            merged = train
        elif isinstance(train, ArrayDataset) and isinstance(val, ArrayDataset):
            merged = ArrayDataset(torch.cat([train.x, val.x]), torch.cat([train.y, val.y]))
        elif isinstance(train, list) and isinstance(val, list):
            merged = train + val
        else:
            merged = ConcatDataset([train, val])
        return dataclasses.replace(self, train=merged, val=None)
