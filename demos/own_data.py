"""Write the shipped datasets as a user's own files, one folder per layout `--dataset PATH` reads.

    python demos/own_data.py examples/

examples/gunpoint/{train,test}.csv      series, wide: a label column, one column per time step
examples/basicmotions.parquet          series, long: id, label, time, one column per channel (one file: split for you)
examples/cora/{nodes,edges}.csv        node classification: id, label, split, features / source, target
examples/digits/manifest.csv + png/    images: file, label (paths relative to the manifest)
examples/digits3d.npz                  volumes: x (N, 1, 4, 8, 8) of four same-class digits stacked, y

Each is then trained with no code, e.g. `python -m resnet_any.train --domain series --dataset examples/gunpoint`;
the README lists the commands and what they measured.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a plain checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))


def aeon_set(name: str, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Raw series (C, L) and labels of a set aeon ships."""
    from aeon.datasets import load_classification

    x, y = load_classification(name, split=split)
    return [np.asarray(s, dtype=np.float64) for s in x], np.asarray(y)


def write_series(root: Path) -> None:
    """GunPoint as a wide train/test pair; BasicMotions as one long Parquet file."""
    folder = root / "gunpoint"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        series, labels = aeon_set("GunPoint", split)
        frame = pd.DataFrame(np.stack([s[0] for s in series]), columns=[f"t{i}" for i in range(series[0].shape[1])])
        frame.insert(0, "label", labels)
        frame.to_csv(folder / f"{split}.csv", index=False)
    rows = []
    for split in ("train", "test"):
        series, labels = aeon_set("BasicMotions", split)
        for i, (s, label) in enumerate(zip(series, labels)):
            for t in range(s.shape[1]):
                rows.append({"id": f"{split}{i}", "label": label, "time": t,
                             **{f"c{c}": s[c, t] for c in range(s.shape[0])}})
    pd.DataFrame(rows).to_parquet(root / "basicmotions.parquet", index=False)


def write_cora(root: Path) -> None:
    """Cora with its public split as nodes.csv (id, label, split, 1433 features) and edges.csv."""
    from resnet_any.data import load_dataset

    write_node_tables(load_dataset("graph", "cora").graph, root / "cora")


def write_node_tables(g, folder: Path) -> None:
    """One PyG graph with train/val/test masks as nodes.csv (id, label, split, features) and edges.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    split = np.full(g.num_nodes, "", dtype=object)
    for name in ("train", "val", "test"):
        split[g[f"{name}_mask"].numpy()] = name
    labels = np.where(split != "", g.y.numpy().astype(str), "")  # nodes outside the split: unlabelled
    nodes = pd.DataFrame(g.x.numpy(), columns=[f"w{i}" for i in range(g.num_features)])
    nodes.insert(0, "split", split)
    nodes.insert(0, "label", labels)
    nodes.insert(0, "id", [f"paper{i}" for i in range(g.num_nodes)])
    nodes.to_csv(folder / "nodes.csv", index=False)
    src, dst = g.edge_index.numpy()
    keep = src < dst  # each undirected edge once
    pd.DataFrame({"source": [f"paper{i}" for i in src[keep]],
                  "target": [f"paper{i}" for i in dst[keep]]}).to_csv(folder / "edges.csv", index=False)


def write_images(root: Path) -> None:
    """digits (scikit-learn's 1,797) as PNG files listed in a CSV manifest."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    folder = root / "digits"
    (folder / "png").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (img, label) in enumerate(zip(d.images, d.target)):
        name = f"png/{i:04d}.png"
        Image.fromarray(np.round(img * 255 / 16).astype(np.uint8), "L").save(folder / name)
        rows.append({"file": name, "label": f"digit {label}"})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)


def write_volumes(root: Path) -> None:
    """digit volumes: four handwritten digits of one class stacked in depth, labelled by the digit."""
    from sklearn.datasets import load_digits

    d = load_digits()
    vols, labels = [], []
    for k in range(10):
        imgs = d.images[d.target == k]
        for i in range(0, len(imgs) - 3, 4):
            vols.append(imgs[i:i + 4])
            labels.append(k)
    np.savez(root / "digits3d.npz", x=np.stack(vols)[:, None].astype(np.float32), y=np.array(labels))


def main(argv: list[str] | None = None) -> int:
    """Write every example layout under the given folder."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", type=Path, help="folder to write into (created)")
    root = p.parse_args(argv).root
    root.mkdir(parents=True, exist_ok=True)
    for write in (write_series, write_cora, write_images, write_volumes):
        write(root)
        print(f"wrote {write.__doc__.splitlines()[0]}")
    print(f"examples in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
