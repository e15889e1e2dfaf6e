"""Same-run references for the graph rows of bench generalize: a plain 2-layer GCN, as PyG's example trains it.

`gcn_reference(path, seed)` reads the panel's files through resnet_any's own reader (so nodes, labels and
split are exactly the default run's) and trains PyG's GCNConv with Kipf & Welling 2017's recipe, written as
PyG's examples/gcn.py writes it: row-normalised features (NormalizeFeatures), dropout 0.5 on the input and the
hidden layer, 16 hidden channels, Adam 0.01 with weight decay 5e-4 on the first layer only, 200 full-batch
epochs, the test accuracy of the epoch with the best validation accuracy. A plain loop, not resnet_any's
trainer: the reference must not share what it checks.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from resnet_any.data.graph_features import row_normalize


def gcn_reference(dataset: Path, seed: int, epochs: int = 200, hidden: int = 16) -> float:
    """Test accuracy of PyG's 2-layer GCN (Kipf & Welling's recipe) on a node-classification folder, one seed."""
    from resnet_any.data import load_dataset

    return train_gcn(load_dataset("graph", str(dataset)).graph, seed, epochs, hidden)


def train_gcn(g: Any, seed: int, epochs: int = 200, hidden: int = 16) -> float:
    """gcn_reference on a graph already read (x, y, edge_index, train/val/test masks)."""
    import torch.nn.functional as F
    from torch import nn
    from torch_geometric.nn import GCNConv

    x, y, edge_index = row_normalize(g.x.float()), g.y, g.edge_index
    torch.manual_seed(seed)

    class GCN(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.conv1 = GCNConv(cin, hidden, cached=True)
            self.conv2 = GCNConv(hidden, cout, cached=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.dropout(x, p=0.5, training=self.training)
            x = F.dropout(self.conv1(x, edge_index).relu(), p=0.5, training=self.training)
            return self.conv2(x, edge_index)

    model = GCN(x.shape[1], int(y[y >= 0].max()) + 1)
    optimizer = torch.optim.Adam([dict(params=model.conv1.parameters(), weight_decay=5e-4),
                                  dict(params=model.conv2.parameters(), weight_decay=0)], lr=0.01)
    best_val = test_acc = 0.0
    for _ in range(epochs):
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(x)[g.train_mask], y[g.train_mask]).backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            pred = model(x).argmax(1)
        val, test = ((pred[m] == y[m]).float().mean().item() for m in (g.val_mask, g.test_mask))
        if val > best_val:  # gcn.py keeps the test accuracy of the first epoch with the best validation accuracy
            best_val, test_acc = val, test
    return test_acc
