"""Same-run references for the graph rows of bench generalize: a plain 2-layer GCN, as PyG's example trains it.

`gcn_reference(path, seed)` reads the panel's files through resnet_any's own reader (so nodes, labels and
split are exactly the default run's) and trains PyG's GCNConv with Kipf & Welling 2017's recipe, written as
PyG's examples/gcn.py writes it: row-normalised features (NormalizeFeatures), dropout 0.5 on the input and the
hidden layer, 16 hidden channels, Adam 0.01 with weight decay 5e-4 on the first layer only, 200 full-batch
epochs, the test accuracy of the epoch with the best validation accuracy. A plain loop, not resnet_any's
trainer: the reference must not share what it checks. The loop is pyg_gcn.py's, the script `bench graphs` times.
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
    """gcn_reference on a graph already read (x, y, edge_index, train/val/test masks): pyg_gcn.py's own loop."""
    from torch_geometric.data import Data

    from resnet_any.bench.pyg_gcn import fit

    torch.manual_seed(seed)
    data = Data(x=row_normalize(g.x.float()), y=g.y, edge_index=g.edge_index, train_mask=g.train_mask,
                val_mask=g.val_mask, test_mask=g.test_mask)
    return fit(data, int(g.y[g.y >= 0].max()) + 1, epochs, hidden)["test_accuracy"]
