"""The references of `bench tasks` and the metrics every row is scored with (scikit-learn's functions).

References, each trained on the same split as resnet_any in the same run:
- mean predictor: the training targets' mean for every test sample (per target); for tags, each tag's training
  prevalence as its score (what a model that learned nothing about the input scores);
- last-k mean (persistence, forecasting windows only): the mean of the window's last k values;
- aeon's MiniRocketRegressor (random_state=0, its defaults: 10,000 features, ridge regression with CV);
- torchvision resnet18 (random init, conv1 taking one channel): a plain loop, AdamW lr 1e-3, weight decay 1e-4,
  batch 64, cosine over all steps, pixels / 255 standardised with the training mean and std, BCE-with-logits on
  the tags or MSE on the standardised count; the last epoch is tested;
- PyG GCN: 3 GCNConv layers of 64 with ReLU, global mean pooling, a linear head; Adam lr 0.01, batch 32, MSE on
  the standardised target; the last epoch is tested.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np

# ---------------------------------------------------------------- metrics


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² (averaged uniformly over targets when there are several)."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    t, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    return {"rmse": math.sqrt(mean_squared_error(t, p)), "mae": float(mean_absolute_error(t, p)),
            "r2": float(r2_score(t, p))}


def multilabel_metrics(tags: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """mAP (macro average precision), macro and micro F1 and subset accuracy at `threshold`, macro AUROC."""
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

    t, s = np.asarray(tags).astype(int), np.asarray(scores, np.float64)
    hard = (s >= threshold).astype(int)
    return {"map": float(average_precision_score(t, s, average="macro")),
            "macro_f1": float(f1_score(t, hard, average="macro", zero_division=0)),
            "micro_f1": float(f1_score(t, hard, average="micro", zero_division=0)),
            "auroc": float(roc_auc_score(t, s, average="macro")),
            "subset_accuracy": float(accuracy_score(t, hard))}


# ---------------------------------------------------------------- the simple references


def mean_predictor(y_train: np.ndarray, n_test: int) -> np.ndarray:
    """The training mean (per column) repeated for each test sample: prevalences when y holds 0/1 tags."""
    y = np.asarray(y_train, np.float64)
    return np.repeat(y.mean(0, keepdims=True), n_test, 0) if y.ndim > 1 else np.full(n_test, y.mean())


def persistence(x_test: np.ndarray, k: int) -> np.ndarray:
    """The mean of the last k values of each (N, 1, w) window: tomorrow looks like today."""
    return np.asarray(x_test, np.float64)[:, 0, -k:].mean(1)


def minirocket(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int = 0) -> np.ndarray:
    """aeon's MiniRocketRegressor fitted on (N, C, L) train, predicting test."""
    from aeon.regression.convolution_based import MiniRocketRegressor

    model = MiniRocketRegressor(random_state=seed)
    model.fit(np.asarray(x_train, np.float64), np.asarray(y_train, np.float64))
    return np.asarray(model.predict(np.asarray(x_test, np.float64)), np.float64)


# ---------------------------------------------------------------- hand-written torch loops


def _standardiser(y: np.ndarray) -> tuple[float, float]:
    std = float(np.std(y))
    return float(np.mean(y)), std if std > 0 else 1.0


def resnet18_loop(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, task: str, epochs: int,
                  seed: int = 0, batch_size: int = 64, log: Callable[[str], None] | None = None) -> np.ndarray:
    """torchvision resnet18 on uint8 (N, 1, H, W): sigmoid scores (multilabel) or values (regress) for x_test."""
    import torch
    import torchvision
    from torch import nn

    torch.manual_seed(seed)
    k = y_train.shape[1]
    model = torchvision.models.resnet18(num_classes=k)
    model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    xf = torch.from_numpy(x_train)
    mean, std = float(xf.float().mean() / 255), float(xf.float().std() / 255)
    prep = lambda b: (b.float() / 255 - mean) / std  # noqa: E731
    y_mean, y_std = (0.0, 1.0) if task == "multilabel" else _standardiser(y_train)
    yt = torch.from_numpy(((y_train - y_mean) / y_std).astype(np.float32))
    loss_fn = nn.BCEWithLogitsLoss() if task == "multilabel" else nn.MSELoss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    steps = epochs * -(-len(xf) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for idx in torch.randperm(len(xf), generator=gen).split(batch_size):
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(prep(xf[idx])), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
        if log:
            log(f"    resnet18 epoch {epoch + 1}/{epochs}: train loss {total / len(xf):.4f}")
    model.eval()
    with torch.inference_mode():
        out = torch.cat([model(prep(b)) for b in torch.from_numpy(x_test).split(256)]).numpy().astype(np.float64)
    return 1 / (1 + np.exp(-out)) if task == "multilabel" else out * y_std + y_mean


def gcn_loop(train: list, test: list, *, epochs: int, seed: int = 0, hidden: int = 64, layers: int = 3,
             batch_size: int = 32) -> np.ndarray:
    """A plain PyG GCN with mean pooling and MSE on graphs with y [1]; its predictions on `test` (N,)."""
    import torch
    from torch import nn
    from torch_geometric.loader import DataLoader
    from torch_geometric.nn import GCNConv, global_mean_pool

    torch.manual_seed(seed)

    class GCN(nn.Module):
        def __init__(self, features: int) -> None:
            super().__init__()
            dims = [features] + [hidden] * layers
            self.convs = nn.ModuleList(GCNConv(a, b) for a, b in zip(dims, dims[1:]))
            self.head = nn.Linear(hidden, 1)

        def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
            for conv in self.convs:
                x = torch.relu(conv(x, edge_index))
            return self.head(global_mean_pool(x, batch))

    y = np.array([float(g.y.view(-1)[0]) for g in train])
    y_mean, y_std = _standardiser(y)
    model = GCN(train[0].num_node_features)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    for _ in range(epochs):
        model.train()
        for batch in loader:
            opt.zero_grad(set_to_none=True)
            target = (batch.y.view(-1, 1).float() - y_mean) / y_std
            nn.functional.mse_loss(model(batch.x, batch.edge_index, batch.batch), target).backward()
            opt.step()
    model.eval()
    with torch.inference_mode():
        out = [model(b.x, b.edge_index, b.batch).view(-1) for b in DataLoader(test, batch_size=256)]
    return torch.cat(out).numpy().astype(np.float64) * y_std + y_mean


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """(fn's result, wall seconds, this process's CPU seconds)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start, time.process_time() - cpu
