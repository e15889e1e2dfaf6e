"""Predictor: a loaded checkpoint plus the exact preprocessing of its training data (the CLI, explain and the app share it)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from resnet_any.domains.checkpoint_info import CheckpointInfo
from resnet_any.domains.weights import load_checkpoint
from resnet_any.errors import UserError
from resnet_any.train.plan import pick_device


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
        self.class_names = [str(c) for c in self.meta.class_names]

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu") -> "Predictor":
        """Load a checkpoint (weights_only) for inference."""
        dev = pick_device(device)
        model, meta = load_checkpoint(path, dev)
        return cls(model, meta, dev)

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax over classes for a prepared batch."""
        return torch.softmax(self.model(x.to(self.device)).float(), dim=1).cpu()

    def predict_images(self, images: Sequence[Any]) -> torch.Tensor:
        """Class probabilities (N, K) for PIL images of any mode and size."""
        from resnet_any.data import normalize, preprocess_image

        if self.meta.domain != "image":
            raise UserError(f"this is a {self.meta.domain} checkpoint; it does not classify images")
        x = torch.stack([preprocess_image(img, self.data) for img in images])
        return self.probabilities(normalize(x, self.data))

    def predict_series(self, series: Sequence[Any]) -> torch.Tensor:
        """Class probabilities (N, K) for series given as (L,) or (C, L) arrays."""
        from resnet_any.data import preprocess_series

        if self.meta.domain != "series":
            raise UserError(f"this is a {self.meta.domain} checkpoint; it does not classify series")
        return torch.cat([self.probabilities(preprocess_series(s, self.data)[None]) for s in series])

    def predict_series_batch(self, series: Sequence[Any], batch_size: int = 256) -> torch.Tensor:
        """Class probabilities (N, K) for many series, prepared as predict_series does, run in batches of one shape."""
        from resnet_any.data.tables import as_batches

        if self.meta.domain != "series":
            raise UserError(f"this is a {self.meta.domain} checkpoint; it does not classify series")
        out = torch.empty(len(series), len(self.class_names))
        for idx, x in as_batches(series, self.data):
            for lo in range(0, len(idx), batch_size):
                out[idx[lo:lo + batch_size]] = self.probabilities(x[lo:lo + batch_size])
        return out

    def _graph_task(self, task: str) -> None:
        if self.meta.domain != "graph" or self.meta.layout != task:
            what = f"{self.meta.domain} ({self.meta.layout})"
            raise UserError(f"this is a {what} checkpoint; it does not classify {'nodes' if task == 'node' else 'graphs'}")

    @torch.no_grad()
    def predict_nodes(self, data: Any) -> torch.Tensor:
        """Class probabilities (num_nodes, K) of every node of one PyG graph (features as training had them)."""
        self._graph_task("node")
        logits = self.model(data.x.float().to(self.device), data.edge_index.to(self.device))
        return torch.softmax(logits.float(), dim=1).cpu()

    @torch.no_grad()
    def predict_graphs(self, graphs: Sequence[Any], batch_size: int = 256) -> torch.Tensor:
        """Class probabilities (num_graphs, K) of PyG graphs, batched as training batched them."""
        from torch_geometric.loader import DataLoader

        self._graph_task("graph")
        out = []
        for b in DataLoader(list(graphs), batch_size=batch_size, shuffle=False):
            b = b.to(self.device)
            out.append(torch.softmax(self.model(b.x.float(), b.edge_index, b.batch).float(), dim=1).cpu())
        return torch.cat(out) if out else torch.empty(0, len(self.class_names))

    def top_k(self, probs: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
        """The k most likely (class name, probability) pairs per row."""
        values, idx = probs.topk(min(k, probs.shape[1]), dim=1)
        return [[(self.class_names[i], float(v)) for v, i in zip(vs.tolist(), ids.tolist())]
                for vs, ids in zip(values, idx)]
