"""The app's graph uploads: a zipped folder with weighted edges (CSV or Parquet) is a graph whose weights train."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from resnet_any.app.dataroot import DataRoot
from resnet_any.app.uploads import save_upload
from resnet_any.data import infer_domain, load_dataset
from resnet_any.errors import DataError


def _zip(tmp: Path, suffix: str, weights: np.ndarray | None = None) -> Path:
    rng = np.random.default_rng(0)
    n, e = 20, 40
    nodes = pd.DataFrame({"id": np.arange(n), "label": np.repeat(["red", "blue"], n // 2),
                          "f": rng.normal(size=n)})
    edges = pd.DataFrame({"source": rng.integers(0, n, e), "target": rng.integers(0, n, e),
                          "weight": rng.uniform(0.5, 2.0, e).round(3) if weights is None else weights})
    folder = tmp / "roads"
    folder.mkdir()
    for name, df in (("nodes", nodes), ("edges", edges)):
        if suffix == ".csv":
            df.to_csv(folder / f"{name}.csv", index=False)
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
    archive = tmp / "roads.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in folder.iterdir():
            z.write(f, f"roads/{f.name}")
    return archive


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_uploaded_weighted_graph_is_read_with_its_weights_and_trains(tmp_path, one_thread, suffix):
    from resnet_any.train import TrainConfig, train

    root = DataRoot(tmp_path / "root")
    rel = save_upload(_zip(tmp_path, suffix), root, max_bytes=2**20)
    path = root.path / rel
    assert rel.endswith("/roads") and infer_domain(str(path)) == "graph"
    g = load_dataset("graph", str(path)).graph
    written = pd.read_csv(path / "edges.csv") if suffix == ".csv" else pd.read_parquet(path / "edges.parquet")
    # merged duplicates are averaged (test_graph_readers checks how): every weight within the file's range
    lo, hi = float(written["weight"].min()), float(written["weight"].max())
    assert g.edge_weight is not None and len(set(g.edge_weight.tolist())) > 1
    assert float(g.edge_weight.min()) >= lo - 1e-6 and float(g.edge_weight.max()) <= hi + 1e-6
    summary = train(TrainConfig(dataset=str(path), domain="graph", epochs=1, quiet=True, device="cpu",
                                out=str(tmp_path / "run")))
    assert any(n.startswith("gcn_resnet uses the edge weights") for n in summary["notes"]), summary["notes"]


def test_a_negative_weight_in_an_upload_names_row_and_column_only(tmp_path):
    from resnet_any.app.messages import public_message

    weights = np.ones(40)
    weights[6] = -1.5
    root = DataRoot(tmp_path / "root")
    rel = save_upload(_zip(tmp_path, ".csv", weights), root, max_bytes=2**20)
    with pytest.raises(DataError) as raised:
        load_dataset("graph", str(root.path / rel))
    shown = public_message(raised.value, root.path)
    assert shown.startswith(f"'{rel}/edges.csv' row 8") and "column 'weight'" in shown and "is negative" in shown
    assert "-1.5" not in shown and str(tmp_path) not in shown, shown
