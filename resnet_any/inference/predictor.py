"""Predictor: a loaded checkpoint plus the exact preprocessing of its training data (the CLI, explain and the app share it).

Its outputs are what the checkpoint's task means (CheckpointInfo.task, objectives.py's `decode`): class
probabilities (classify), values in the user's units (regress: the training targets' standardization undone),
per-tag probabilities (multilabel; a tag is predicted at or above its threshold, chosen on validation in
training and kept in the checkpoint's "best", else 0.5).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from resnet_any.domains.checkpoint_info import CheckpointInfo
from resnet_any.domains.graph import edge_inputs
from resnet_any.domains.weights import load_checkpoint
from resnet_any.errors import UserError
from resnet_any.train.plan import pick_device
from resnet_any.train.run.objectives import make_objective

# what each task's outputs are, for the one line that says a checkpoint does not fit a use
TASK_OUTPUTS = {"classify": "class probabilities", "regress": "values", "multilabel": "per-tag probabilities"}
DEFAULT_THRESHOLD = 0.5


class Predictor:
    """A loaded checkpoint plus the exact preprocessing of its training data; the app and the CLI share it."""

    def __init__(self, model: nn.Module, meta: CheckpointInfo | Mapping[str, Any],
                 device: str | torch.device = "cpu") -> None:
        """Wrap a trained model for inference.

        Args:
            model: the trained model (put in eval mode here).
            meta: its checkpoint's description (load_checkpoint's second value, or a dict of the same keys).
            device: where inputs are sent; the model must already be there.
        """
        self.model = model.eval()
        self.meta = CheckpointInfo.of(meta)
        self.data = self.meta.data or {}
        self.device = torch.device(device)
        self.class_names = [str(c) for c in self.meta.class_names]  # classes, target names or tags
        self.task = self.meta.task or "classify"
        self.objective = make_objective(self.task, self.class_names, self.data)
        chosen = (self.meta.best or {}).get("thresholds")
        self.thresholds = ([float(t) for t in chosen] if chosen and len(chosen) == len(self.class_names)
                           else [DEFAULT_THRESHOLD] * len(self.class_names))

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu") -> "Predictor":
        """Load a checkpoint (weights_only) for inference."""
        dev = pick_device(device)
        model, meta = load_checkpoint(path, dev)
        return cls(model, meta, dev)

    def expect(self, task: str, use: str) -> None:
        """Refuse, in one line, a use (`use`: what is asked) that needs a checkpoint of another task."""
        if self.task != task:
            names = ", ".join(self.class_names[:5]) + (", ..." if len(self.class_names) > 5 else "")
            raise UserError(f"{use} needs a {task} checkpoint; this one is {self.task} (its outputs are "
                            f"{TASK_OUTPUTS.get(self.task, 'outputs')}: {names})")

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """The model's raw outputs as the task reads them (class or tag probabilities, values in the user's units)."""
        return self.objective.decode(logits.float()).cpu()

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """The decoded outputs (N, K) of a prepared batch: softmax over classes, values (regress) or tag probabilities."""
        return self.decode(self.model(x.to(self.device)))

    outputs = probabilities

    def tags(self, probs: torch.Tensor) -> list[list[str]]:
        """Per row of tag probabilities, the tags at or above their thresholds (multilabel checkpoints)."""
        self.expect("multilabel", "a tag set")
        on = probs >= torch.tensor(self.thresholds, dtype=probs.dtype)
        return [[self.class_names[j] for j in row.nonzero().view(-1).tolist()] for row in on]

    def predict_images(self, images: Sequence[Any]) -> torch.Tensor:
        """Decoded outputs (N, K) (class probabilities, values or tag probabilities) for PIL images of any mode and size."""
        from resnet_any.data import normalize, preprocess_image

        if self.meta.domain != "image":
            raise UserError(f"this is a {self.meta.domain} checkpoint; it does not take images")
        x = torch.stack([preprocess_image(img, self.data) for img in images])
        return self.probabilities(normalize(x, self.data))

    def predict_series(self, series: Sequence[Any]) -> torch.Tensor:
        """Decoded outputs (N, K) for series given as (L,) or (C, L) arrays."""
        from resnet_any.data import preprocess_series

        if self.meta.domain != "series":
            raise UserError(f"this is a {self.meta.domain} checkpoint; it does not take series")
        return torch.cat([self.probabilities(preprocess_series(s, self.data)[None]) for s in series])

    def predict_series_batch(self, series: Sequence[Any], batch_size: int = 256) -> torch.Tensor:
        """Decoded outputs (N, K) for many series, prepared as predict_series does, run in batches of one shape."""
        from resnet_any.data.tables import as_batches

        if self.meta.domain != "series":
            raise UserError(f"this is a {self.meta.domain} checkpoint; it does not take series")
        out = torch.empty(len(series), len(self.class_names))
        for idx, x in as_batches(series, self.data):
            for lo in range(0, len(idx), batch_size):
                out[idx[lo:lo + batch_size]] = self.probabilities(x[lo:lo + batch_size])
        return out

    def _graph_task(self, task: str) -> None:
        if self.meta.domain != "graph" or self.meta.layout != task:
            what = f"{self.meta.domain} ({self.meta.layout})"
            raise UserError(f"this is a {what} checkpoint; it does not predict {'nodes' if task == 'node' else 'graphs'}")

    @torch.no_grad()
    def predict_nodes(self, data: Any) -> torch.Tensor:
        """Decoded outputs (num_nodes, K) of every node of one PyG graph (features as training had them)."""
        self._graph_task("node")
        return self.decode(self.model(data.x.float().to(self.device), data.edge_index.to(self.device),
                                      **{k: v.to(self.device) for k, v in edge_inputs(self.model, data).items()}))

    @torch.no_grad()
    def predict_graphs(self, graphs: Sequence[Any], batch_size: int = 256) -> torch.Tensor:
        """Decoded outputs (num_graphs, K) of PyG graphs, batched as training batched them."""
        from torch_geometric.loader import DataLoader

        self._graph_task("graph")
        out = []
        for b in DataLoader(list(graphs), batch_size=batch_size, shuffle=False):
            b = b.to(self.device)
            out.append(self.decode(self.model(b.x.float(), b.edge_index, b.batch, **edge_inputs(self.model, b))))
        return torch.cat(out) if out else torch.empty(0, len(self.class_names))

    def top_k(self, probs: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
        """The k most likely (class name, probability) pairs per row (classify checkpoints)."""
        self.expect("classify", "ranking classes (top-k)")
        values, idx = probs.topk(min(k, probs.shape[1]), dim=1)
        return [[(self.class_names[i], float(v)) for v, i in zip(vs.tolist(), ids.tolist())]
                for vs, ids in zip(values, idx)]
