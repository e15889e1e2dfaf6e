"""`--dataset PATH`: users' own series tables (data/tables.py) and graph CSV folders (data/csv_graphs.py).

Every check writes real data (GunPoint, BasicMotions, JapaneseVowels shipped with aeon; UCR Plane;
Cora; MUTAG) into the file layouts and compares what the new readers give with what the existing
loaders give for the same data: the same normalised arrays, labels, edges (as sets), masks and
splits. Bad input is checked case by case on small real slices: every UserError is one line that
names the file and the row or column.
"""
from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from resnet_any.data import load_dataset
from resnet_any.data.series import read_ts, read_ucr_tsv, shipped
from resnet_any.data.splits import encode_labels, train_val_test
from resnet_any.errors import UserError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")

SERIES_META = ("length", "channels", "znorm", "padding", "norm", "mean", "std")


# ---------------------------------------------------------------- writing real data into the layouts

def _raw(name: str, split: str) -> tuple[list[np.ndarray], list[str]]:
    """An aeon-shipped set's raw series and labels, as the named loader reads them."""
    return read_ts(shipped()[name] / f"{name}_{split}.ts")


def _wide_frame(series: list[np.ndarray], labels: list[str], label_column: str = "label") -> pd.DataFrame:
    """One row per univariate series, NaN (written as empty cells) after a shorter series' end."""
    length = max(s.shape[1] for s in series)
    x = np.full((len(series), length), np.nan)
    for i, s in enumerate(series):
        x[i, : s.shape[1]] = s[0]
    df = pd.DataFrame(x, columns=[f"t{i}" for i in range(length)])
    df.insert(0, label_column, labels)
    return df


def _long_frame(series: list[np.ndarray], labels: list[str], *, time: bool = True, seed: int | None = None,
                prefix: str = "s") -> pd.DataFrame:
    """One row per time step: id, label, time, one column per channel.

    With a seed, each series' rows are shuffled and the series interleaved row by row (ids still first
    appear in series order, which is the order the reader keeps): only the time column orders the steps.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for i, (s, lab) in enumerate(zip(series, labels)):
        part = pd.DataFrame(s.T, columns=[f"c{k}" for k in range(s.shape[0])])
        part.insert(0, "id", f"{prefix}{i}")
        part.insert(1, "label", lab)
        if time:
            part.insert(2, "time", np.arange(s.shape[1]))
        if seed is not None:
            part = part.iloc[rng.permutation(len(part))]
            part["_round"], part["_series"] = np.arange(len(part)), i
        parts.append(part)
    df = pd.concat(parts, ignore_index=True)
    if seed is not None:
        df = df.sort_values(["_round", "_series"], kind="stable").drop(columns=["_round", "_series"])
    return df.reset_index(drop=True)


def _write(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    return path


def _write_npz(path: Path, series: list[np.ndarray], labels: list[str], squeeze: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.stack(series)
    np.savez(path, x=x[:, 0] if squeeze else x, y=np.array(labels))
    return path


def _same_series(a, b) -> None:
    """Two series DataSplits hold the same samples, labels, classes and preprocessing facts."""
    assert a.class_names == b.class_names and a.num_classes == b.num_classes and a.in_channels == b.in_channels
    for split in ("train", "val", "test"):
        x, y = getattr(a, split), getattr(b, split)
        assert torch.equal(x.x, y.x), split
        assert torch.equal(x.y, y.y), split
    assert {k: a.meta.get(k) for k in SERIES_META} == {k: b.meta.get(k) for k in SERIES_META}


# ---------------------------------------------------------------- series: same data as the named loaders

@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "npz"])
def test_gunpoint_folder_in_every_format_equals_the_named_set(tmp_path: Path, fmt: str) -> None:
    folder = tmp_path / "GunPoint"
    for split in ("TRAIN", "TEST"):
        series, labels = _raw("GunPoint", split)
        target = folder / f"{split.lower()}.{fmt}"
        _write_npz(target, series, labels, squeeze=True) if fmt == "npz" else _write(_wide_frame(series, labels), target)
    mine = load_dataset("series", str(folder))
    _same_series(mine, load_dataset("series", "GunPoint"))
    assert mine.name == "GunPoint" and mine.meta["layout"] == ("npz" if fmt == "npz" else "wide")


def test_ucr_plane_as_csv_with_a_header_equals_the_ucr_reader(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "ucr" / "Plane"
    for split in ("TRAIN", "TEST"):
        series, labels = read_ucr_tsv(src / f"Plane_{split}.tsv")
        _write(_wide_frame(series, labels, label_column="class"), tmp_path / "Plane" / f"{split.lower()}.csv")
    mine = load_dataset("series", str(tmp_path / "Plane"), label_column="class")
    _same_series(mine, load_dataset("series", "ucr", str(src)))
    assert mine.num_classes == 7 and mine.meta["label_column"] == "class"


def test_variable_length_rows_end_in_empty_cells_as_ucr_pads_them(shared_data: Path, tmp_path: Path) -> None:
    """Plane cut to 60..144 steps: a UCR TSV with NaN padding and a CSV with empty trailing cells load alike."""
    src = shared_data / "ucr" / "Plane"
    ucr = tmp_path / "ucr"
    ucr.mkdir()
    for split in ("TRAIN", "TEST"):
        series, labels = read_ucr_tsv(src / f"Plane_{split}.tsv")
        cut = [s[:, : 60 + (7 * i) % 85] for i, s in enumerate(series)]
        lines = ["\t".join([lab] + [repr(float(v)) for v in s[0]] + ["NaN"] * (144 - s.shape[1])) for s, lab in zip(cut, labels)]
        (ucr / f"Plane_{split}.tsv").write_text("\n".join(lines) + "\n")
        _write(_wide_frame(cut, labels), tmp_path / "mine" / f"{split.lower()}.csv")
    mine = load_dataset("series", str(tmp_path / "mine"))
    _same_series(mine, load_dataset("series", "ucr", str(ucr)))
    assert mine.meta["length"] == 144
    # a shorter series is padded after its end: its last columns are the z-normalised padding (0)
    assert (mine.test.x[0, 0, 60:] == 0).all()


@pytest.mark.parametrize("name, fmt", [("BasicMotions", "csv"), ("JapaneseVowels", "parquet")])
def test_multivariate_long_layout_equals_the_named_set(tmp_path: Path, name: str, fmt: str) -> None:
    """Rows shuffled: the time column orders each series; JapaneseVowels has 12 channels and 7..29 steps."""
    folder = tmp_path / name
    for k, split in enumerate(("TRAIN", "TEST")):
        series, labels = _raw(name, split)
        _write(_long_frame(series, labels, seed=k, prefix=split[:2]), folder / f"{split.lower()}.{fmt}")
    mine = load_dataset("series", str(folder))
    _same_series(mine, load_dataset("series", name))
    assert mine.meta["layout"] == "long" and mine.meta["norm"] == "channel"
    assert mine.meta["channel_names"] == [f"c{k}" for k in range(mine.in_channels)]


def test_long_layout_without_time_keeps_file_order(tmp_path: Path) -> None:
    series, labels = _raw("BasicMotions", "TRAIN")
    test_series, test_labels = _raw("BasicMotions", "TEST")
    _write(_long_frame(series, labels, time=False), tmp_path / "bm" / "train.csv")
    _write(_long_frame(test_series, test_labels, time=False), tmp_path / "bm" / "test.csv")
    _same_series(load_dataset("series", str(tmp_path / "bm")), load_dataset("series", "BasicMotions"))


def test_an_id_column_with_one_row_per_id_is_a_wide_table_naming_its_series(tmp_path: Path) -> None:
    from resnet_any.data.tables import read_table

    for split in ("TRAIN", "TEST"):
        df = _wide_frame(*_raw("GunPoint", split))
        df.insert(0, "id", [f"{split.lower()}-walk{i}" for i in range(len(df))])
        _write(df, tmp_path / "gp" / f"{split.lower()}.csv")
    _same_series(load_dataset("series", str(tmp_path / "gp")), load_dataset("series", "GunPoint"))
    table = read_table(tmp_path / "gp" / "test.csv")
    assert table.layout == "wide" and table.id_column == "id" and table.ids[:2] == ["test-walk0", "test-walk1"]


def test_one_file_gets_a_seeded_stratified_split(tmp_path: Path) -> None:
    from resnet_any.data import preprocess_series

    tr, ltr = _raw("GunPoint", "TRAIN")
    te, lte = _raw("GunPoint", "TEST")
    series, labels = tr + te, ltr + lte
    path = _write(_wide_frame(series, labels), tmp_path / "gunpoint.csv")
    a = load_dataset("series", str(path), seed=3, val_fraction=0.25)
    assert a.name == "gunpoint" and len(a.test) == 40 and len(a.train) + len(a.val) == 160
    y = np.array([int(v) - 1 for v in labels])
    idx = train_val_test(y, 0.25, 3)
    for split, ix in zip(("train", "val", "test"), idx):
        assert getattr(a, split).y.tolist() == y[ix].tolist()
    # one channel: every row is z-normalised on its own, exactly as inference prepares one series
    for split, ix in zip(("train", "val", "test"), idx):
        expect = torch.stack([preprocess_series(series[i], a.meta) for i in ix])
        assert torch.equal(getattr(a, split).x, expect)
    assert {k: a.meta[k] for k in SERIES_META if k in a.meta} == load_dataset("series", "GunPoint").meta
    b = load_dataset("series", str(path), seed=3, val_fraction=0.25)
    c = load_dataset("series", str(path), seed=4, val_fraction=0.25)
    assert torch.equal(a.test.x, b.test.x) and not torch.equal(a.test.x, c.test.x)


def test_one_npz_file_of_several_channels_takes_statistics_from_train_and_val(tmp_path: Path) -> None:
    tr, ltr = _raw("BasicMotions", "TRAIN")
    te, lte = _raw("BasicMotions", "TEST")
    series, labels = tr + te, ltr + lte
    s = load_dataset("series", str(_write_npz(tmp_path / "motions.npz", series, labels)))
    (y,), names = encode_labels(labels)
    tr_i, va_i, te_i = train_val_test(y, 0.2, 0)
    fit = np.stack([series[i] for i in np.concatenate([tr_i, va_i])])
    assert np.allclose(s.meta["mean"], fit.mean(axis=(0, 2)), rtol=0, atol=1e-9)
    assert np.allclose(s.meta["std"], fit.std(axis=(0, 2)), rtol=0, atol=1e-9)
    raw_test = np.stack([series[i] for i in te_i])
    expect = (raw_test - fit.mean(axis=(0, 2))[None, :, None]) / fit.std(axis=(0, 2))[None, :, None]
    assert torch.allclose(s.test.x, torch.from_numpy(expect).float(), atol=1e-5)
    assert s.class_names == names and s.in_channels == 6 and s.meta["layout"] == "npz"


def test_a_val_file_is_used_as_given(tmp_path: Path) -> None:
    from resnet_any.data import preprocess_series

    tr, ltr = _raw("GunPoint", "TRAIN")
    te, lte = _raw("GunPoint", "TEST")
    folder = tmp_path / "gp"
    _write(_wide_frame(tr[:40], ltr[:40]), folder / "train.csv")
    _write(_wide_frame(tr[40:], ltr[40:]), folder / "val.tsv")
    _write(_wide_frame(te, lte), folder / "Test.parquet")
    s = load_dataset("series", str(folder))
    assert (len(s.train), len(s.val), len(s.test)) == (40, 10, 150)
    assert s.val.y.tolist() == [int(v) - 1 for v in ltr[40:]]
    assert torch.equal(s.val.x[3], preprocess_series(tr[43], s.meta))


# ---------------------------------------------------------------- series: bad input, one line naming file and row/column

def _gp_slice(n: int = 9) -> tuple[list[np.ndarray], list[str]]:
    series, labels = _raw("GunPoint", "TRAIN")
    return series[:n], labels[:n]


def _bad_cell(t: Path) -> Path:
    df = _wide_frame(*_gp_slice()).astype(object)
    df.loc[2, "t4"] = "abc"
    return _write(df, t / "cells.csv")


def _bad_parquet_cell(t: Path) -> Path:
    df = _wide_frame(*_gp_slice()).astype({"t7": object})
    df["t7"] = df["t7"].astype(str)
    df.loc[5, "t7"] = "n/a?"
    return _write(df, t / "cells.parquet")


def _no_label(t: Path) -> Path:
    df = _wide_frame(*_gp_slice()).astype({"label": object})
    df.loc[3, "label"] = None
    return _write(df, t / "nolabel.csv")


def _small_class(t: Path) -> Path:
    series, labels = _gp_slice(12)
    labels = ["1"] * 11 + ["2"]
    return _write(_wide_frame(series, labels), t / "small.csv")


def _duplicate_step(t: Path) -> Path:
    df = _long_frame(*_gp_slice(3))
    df = pd.concat([df, df.iloc[[160]]], ignore_index=True)
    return _write(df, t / "long.csv")


def _channels_differ(t: Path) -> Path:
    series, labels = _gp_slice()
    _write_npz(t / "data" / "train.npz", series, labels)
    _write_npz(t / "data" / "test.npz", [np.concatenate([s, s]) for s in series], labels)
    return t / "data"


def _no_train(t: Path) -> Path:
    _write(_wide_frame(*_gp_slice()), t / "data" / "test.csv")
    _write(_wide_frame(*_gp_slice()), t / "data" / "training.csv")
    return t / "data"


def _empty(t: Path) -> Path:
    (t / "empty.csv").write_bytes(b"")
    return t / "empty.csv"


def _other_label(t: Path) -> Path:
    return _write(_wide_frame(*_gp_slice(), label_column="class"), t / "renamed.csv")


def _xlsx(t: Path) -> Path:
    (t / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    return t / "sheet.xlsx"


SERIES_BAD = {
    # case: (writer, the pieces the message must hold besides the path)
    "missing label column": (_other_label, ["no column 'label'", "found columns 'class', 't0'"]),
    "non-numeric cell": (_bad_cell, ["row 4 (", "header is row 1", "column 't4'", "'abc'", "not a number"]),
    "non-numeric parquet cell": (_bad_parquet_cell, ["row 6 (data rows counted from 1)", "column 't7'", "'n/a?'"]),
    "empty file": (_empty, ["is empty", "header row"]),
    "channels differ between files": (_channels_differ, ["test.npz", "train.npz", "2 channel(s)", "has 1"]),
    "class too small to split": (_small_class, ["row 13 (", "column 'label'", "class '2' has 1 series", "at least 3"]),
    "long layout: same id and time twice": (_duplicate_step, ["row 452 (", "column 'time'", "id 's1' at time 10",
                                                                "already appears in row 162"]),
    "label missing on a row": (_no_label, ["row 5 (", "column 'label'", "label is missing"]),
    "unsupported extension": (_xlsx, [".csv, .tsv, .parquet, .npz"]),
    "folder without train.*": (_no_train, ["no train.* file", "'test.csv', 'training.csv'"]),
}


@pytest.mark.parametrize("case", list(SERIES_BAD))
def test_bad_series_files_say_which_file_row_and_column(tmp_path: Path, case: str) -> None:
    writer, pieces = SERIES_BAD[case]
    path = writer(tmp_path)
    with pytest.raises(UserError) as e:
        load_dataset("series", str(path))
    msg = str(e.value)
    assert "\n" not in msg
    named = path / "test.npz" if case == "channels differ between files" else path
    assert repr(str(named)) in msg, msg
    for piece in pieces:
        assert piece in msg, (piece, msg)


def test_a_missing_path_spelled_as_a_file_is_not_an_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist; expected a .csv"):
        load_dataset("series", str(tmp_path / "nope.csv"))
    with pytest.raises(UserError, match="unknown series dataset 'NoSuchSet'"):
        load_dataset("series", "NoSuchSet")


# ---------------------------------------------------------------- graphs: Cora as nodes.csv + edges.csv

@pytest.fixture(scope="module")
def cora(tmp_path_factory: pytest.TempPathFactory):
    """Cora (the embedded Planetoid files) written as CSV: features, labels, public split; and a feature-less copy."""
    ref = load_dataset("graph")
    g = ref.graph
    root = tmp_path_factory.mktemp("cora_csv")
    full = root / "cora_full"
    full.mkdir()
    split = np.full(g.num_nodes, "", dtype=object)
    for s in ("train", "val", "test"):
        split[g[f"{s}_mask"].numpy()] = s
    x = g.x.numpy()
    df = pd.DataFrame(x, columns=[f"w{i}" for i in range(x.shape[1])])
    df.insert(0, "id", [f"paper{i}" for i in range(g.num_nodes)])
    df.insert(1, "label", g.y.numpy())
    df.insert(2, "split", split)
    df.to_csv(full / "nodes.csv", index=False, float_format="%.9g")  # 9 digits round-trip float32 exactly
    ei = g.edge_index.numpy()
    pd.DataFrame({"source": [f"paper{i}" for i in ei[0]], "target": [f"paper{i}" for i in ei[1]]}).to_csv(
        full / "edges.csv", index=False)
    # no features, no split column, the nodes outside the public split unlabelled; each edge once, weighted
    bare = root / "cora_bare"
    bare.mkdir()
    labelled = (g.train_mask | g.val_mask | g.test_mask).numpy()
    pd.DataFrame({"id": np.arange(g.num_nodes), "label": np.where(labelled, g.y.numpy().astype(str), "")}).to_csv(
        bare / "nodes.csv", index=False)
    once = ei[0] < ei[1]
    pd.DataFrame({"source": ei[0][once], "target": ei[1][once], "weight": np.arange(once.sum()) % 5 + 1.0}).to_csv(
        bare / "edges.csv", index=False)
    return ref, full, bare


def _edge_set(ei: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, ei.t().tolist()))


def test_cora_csv_with_a_split_column_equals_planetoid(cora) -> None:
    ref, full, _ = cora
    s = load_dataset("graph", str(full))
    g, r = s.graph, ref.graph
    assert s.layout == "node" and s.name == "cora_full" and s.class_names == ref.class_names
    assert torch.equal(g.x, r.x) and torch.equal(g.y, r.y)
    for m in ("train_mask", "val_mask", "test_mask"):
        assert torch.equal(g[m], r[m]), m
    assert g.edge_index.shape == r.edge_index.shape and _edge_set(g.edge_index) == _edge_set(r.edge_index)
    assert s.in_channels == 1433 and s.meta["node_features"] == "columns" and s.meta["split"] == "column"


def test_cora_without_features_or_split_gets_degrees_and_a_stratified_split(cora) -> None:
    from resnet_any.data.graphs import _degree_features

    ref, _, bare = cora
    r = ref.graph
    s = load_dataset("graph", str(bare), seed=1)
    g = s.graph
    labelled = r.train_mask | r.val_mask | r.test_mask
    assert torch.equal(g.y[labelled], r.y[labelled]) and (g.y[~labelled] == -1).all()
    masks = [g.train_mask, g.val_mask, g.test_mask]
    assert torch.equal(masks[0] | masks[1] | masks[2], labelled)
    assert sum(int(m.sum()) for m in masks) == int(labelled.sum())  # disjoint
    lab_idx = torch.nonzero(labelled).view(-1).numpy()
    for m, ix in zip(masks, train_val_test(r.y[labelled].numpy(), 0.2, 1)):
        assert torch.nonzero(m).view(-1).tolist() == sorted(lab_idx[ix].tolist())
    # each edge was written once: undirected gives Cora's both directions back, weights on both
    assert _edge_set(g.edge_index) == _edge_set(r.edge_index)
    src, dst = g.edge_index
    w = {(a, b): v for a, b, v in zip(src.tolist(), dst.tolist(), g.edge_weight.tolist())}
    assert all(w[(b, a)] == v for (a, b), v in w.items()) and set(w.values()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    # the TU loader's structural features for feature-less graphs
    clone = r.clone()
    width = _degree_features([clone])
    assert s.in_channels == width and torch.equal(g.x, clone.x) and s.meta["node_features"] == f"degree_onehot_{width - 1}"
    # prediction reads the folder again and rebuilds the same features from the run's meta
    from resnet_any.data import csv_graphs

    table = csv_graphs.read_nodes(bare, labels=False)
    again = csv_graphs.node_data(table)
    csv_graphs.features_for_model([again], table.feature_columns, s.meta, bare / "nodes.csv")
    assert torch.equal(again.x, g.x) and torch.equal(again.edge_index, g.edge_index)


def test_directed_keeps_edges_as_given(cora) -> None:
    _, _, bare = cora
    s = load_dataset("graph", str(bare), directed=True)
    edges = pd.read_csv(bare / "edges.csv")
    assert s.graph.edge_index.tolist() == [edges["source"].tolist(), edges["target"].tolist()]
    assert s.graph.edge_weight.tolist() == edges["weight"].tolist() and s.meta["directed"] is True


# ---------------------------------------------------------------- graphs: MUTAG as graphs.csv + edges.csv (+ nodes.csv)

@pytest.fixture(scope="module")
def mutag(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """MUTAG from a copy of the TU files, in file order, written as CSV with and without nodes.csv."""
    from torch_geometric.datasets import TUDataset

    root = tmp_path_factory.mktemp("mutag")
    shutil.copytree(shared_data / "TUDataset" / "MUTAG", root / "tu" / "MUTAG")
    ref = load_dataset("graph", "MUTAG", data_dir=str(root / "tu"))
    ordered = list(TUDataset(str(root / "tu"), "MUTAG", use_node_attr=True))
    graphs, edges, nodes = [], [], []
    for k, g in enumerate(ordered):
        gid = f"mol{k:03d}"
        graphs.append({"graph_id": gid, "label": int(g.y)})
        ei = g.edge_index.numpy()
        edges += [{"graph_id": gid, "source": int(a), "target": int(b)} for a, b in zip(ei[0], ei[1])]
        nodes += [{"graph_id": gid, "id": i, **{f"atom{j}": v for j, v in enumerate(row)}}
                  for i, row in enumerate(g.x.tolist())]
    with_nodes, edges_only = root / "mutag_csv", root / "mutag_edges"
    for folder in (with_nodes, edges_only):
        folder.mkdir()
        pd.DataFrame(graphs).to_csv(folder / "graphs.csv", index=False)
        pd.DataFrame(edges).to_csv(folder / "edges.csv", index=False)
    pd.DataFrame(nodes).to_csv(with_nodes / "nodes.csv", index=False)
    return ref, ordered, with_nodes, edges_only


def _same_graph(a, b) -> None:
    assert a.num_nodes == b.num_nodes and torch.equal(a.x, b.x) and torch.equal(a.y.view(-1), b.y.view(-1))
    assert a.edge_index.shape == b.edge_index.shape and _edge_set(a.edge_index) == _edge_set(b.edge_index)


def test_mutag_csv_equals_the_tu_loader_split_for_split(mutag) -> None:
    ref, _, with_nodes, _ = mutag
    s = load_dataset("graph", str(with_nodes))
    assert s.layout == "graph" and s.class_names == ref.class_names and s.in_channels == 7
    for split in ("train", "val", "test"):
        mine, theirs = getattr(s, split), getattr(ref, split)
        assert len(mine) == len(theirs), split
        for a, b in zip(mine, theirs):
            _same_graph(a, b)


def test_mutag_edges_only_gets_the_tu_degree_features(mutag) -> None:
    from resnet_any.data.graphs import _degree_features

    _, ordered, _, edges_only = mutag
    s = load_dataset("graph", str(edges_only))
    clones = [g.clone() for g in ordered]
    width = _degree_features(clones)
    assert s.in_channels == width and s.meta["node_features"] == f"degree_onehot_{width - 1}"
    y = np.array([int(g.y) for g in ordered])
    for split, ix in zip(("train", "val", "test"), train_val_test(y, 0.2, 0)):
        for a, i in zip(getattr(s, split), ix):
            _same_graph(a, clones[i])


# ---------------------------------------------------------------- graphs: bad input

def _cora_slice(t: Path, *, split: bool = False) -> Path:
    """Cora's biggest hub and its neighbours (classes of 3 nodes or more; real features, first five columns)."""
    g = load_dataset("graph").graph
    ei, y = g.edge_index.numpy(), g.y.numpy()
    hub = int(np.bincount(ei[0]).argmax())
    keep = np.unique(np.concatenate([[hub], ei[1][ei[0] == hub]]))
    keep = keep[np.bincount(y[keep], minlength=7)[y[keep]] >= 3]
    df = pd.DataFrame(g.x.numpy()[keep, :5], columns=[f"f{i}" for i in range(5)])
    df.insert(0, "id", keep)
    df.insert(1, "label", g.y.numpy()[keep])
    if split:
        df.insert(2, "split", (["train", "val", "test"] * len(keep))[: len(keep)])
    folder = t / "slice"
    folder.mkdir(exist_ok=True)
    df.to_csv(folder / "nodes.csv", index=False)
    inside = np.isin(ei[0], keep) & np.isin(ei[1], keep)
    pd.DataFrame({"source": ei[0][inside], "target": ei[1][inside]}).to_csv(folder / "edges.csv", index=False)
    return folder


def _edit(path: Path, fn) -> None:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    fn(df)
    df.to_csv(path, index=False)


def _g_unknown_edge(t: Path) -> tuple[Path, Path]:
    f = _cora_slice(t)
    _edit(f / "edges.csv", lambda d: d.loc.__setitem__((3, "target"), "99999"))
    return f, f / "edges.csv"


def _g_duplicate_id(t: Path) -> tuple[Path, Path]:
    f = _cora_slice(t)
    _edit(f / "nodes.csv", lambda d: d.loc.__setitem__((10, "id"), d.loc[4, "id"]))
    return f, f / "nodes.csv"


def _g_missing_columns(t: Path) -> tuple[Path, Path]:
    f = _cora_slice(t)
    _edit(f / "edges.csv", lambda d: d.rename(columns={"source": "src", "target": "dst"}, inplace=True))
    return f, f / "edges.csv"


def _g_no_label_column(t: Path) -> tuple[Path, Path]:
    f = _cora_slice(t)
    _edit(f / "nodes.csv", lambda d: d.rename(columns={"label": "class"}, inplace=True))
    return f, f / "nodes.csv"


def _g_bad_feature(t: Path) -> tuple[Path, Path]:
    f = _cora_slice(t)
    _edit(f / "nodes.csv", lambda d: d.loc.__setitem__((7, "f2"), "0.1x"))
    return f, f / "nodes.csv"


def _g_bad_split(t: Path) -> tuple[Path, Path]:
    f = _cora_slice(t, split=True)
    _edit(f / "nodes.csv", lambda d: d.loc.__setitem__((5, "split"), "training"))
    return f, f / "nodes.csv"


def _g_empty(t: Path) -> tuple[Path, Path]:
    f = _cora_slice(t)
    (f / "edges.csv").write_bytes(b"")
    return f, f / "edges.csv"


def _g_small_class(t: Path) -> tuple[Path, Path]:
    f = _cora_slice(t)
    _edit(f / "nodes.csv", lambda d: d.loc.__setitem__((20, "label"), "rare"))
    return f, f / "nodes.csv"


def _mutag_slice(t: Path, shared_data: Path) -> Path:
    """The first twelve MUTAG graphs as graphs.csv and edges.csv, read from the TU text files."""
    raw = shared_data / "TUDataset" / "MUTAG" / "raw"
    indicator = np.loadtxt(raw / "MUTAG_graph_indicator.txt", dtype=int)
    labels = np.loadtxt(raw / "MUTAG_graph_labels.txt", dtype=int)
    a = np.loadtxt(raw / "MUTAG_A.txt", delimiter=",", dtype=int)
    keep = indicator[a[:, 0] - 1] <= 12
    folder = t / "mutag"
    folder.mkdir()
    pd.DataFrame({"graph_id": np.arange(1, 13), "label": labels[:12]}).to_csv(folder / "graphs.csv", index=False)
    pd.DataFrame({"graph_id": indicator[a[keep, 0] - 1], "source": a[keep, 0], "target": a[keep, 1]}).to_csv(
        folder / "edges.csv", index=False)
    return folder


GRAPH_BAD = {
    "edge names an unknown node id": (_g_unknown_edge, ["row 5 (", "column 'target'", "node id '99999'", "nodes.csv"]),
    "duplicated node id": (_g_duplicate_id, ["row 12 (", "column 'id'", "already appears in row 6"]),
    "missing required columns": (_g_missing_columns, ["no columns 'source', 'target'", "found columns 'src', 'dst'"]),
    "missing label column": (_g_no_label_column, ["no column 'label'", "found columns 'id', 'class', 'f0'"]),
    "non-numeric feature cell": (_g_bad_feature, ["row 9 (", "column 'f2'", "'0.1x' is not a number"]),
    "unknown split value": (_g_bad_split, ["row 7 (", "column 'split'", "unknown split 'training'"]),
    "empty file": (_g_empty, ["is empty"]),
    "class too small to split": (_g_small_class, ["row 22 (", "column 'label'", "class 'rare' has 1", "at least 3"]),
}


def test_the_cora_slice_itself_loads(tmp_path: Path) -> None:
    s = load_dataset("graph", str(_cora_slice(tmp_path, split=True)))
    assert s.graph.num_nodes == 165 and s.graph.edge_index.shape[1] == 646 and s.in_channels == 5


@pytest.mark.parametrize("case", list(GRAPH_BAD))
def test_bad_graph_folders_say_which_file_row_and_column(tmp_path: Path, case: str) -> None:
    writer, pieces = GRAPH_BAD[case]
    folder, culprit = writer(tmp_path)
    with pytest.raises(UserError) as e:
        load_dataset("graph", str(folder))
    msg = str(e.value)
    assert "\n" not in msg and repr(str(culprit)) in msg, msg
    for piece in pieces:
        assert piece in msg, (piece, msg)


def test_an_edge_of_a_graph_not_in_graphs_csv(tmp_path: Path, shared_data: Path) -> None:
    folder = _mutag_slice(tmp_path, shared_data)
    assert len(load_dataset("graph", str(folder)).train) > 0  # the slice itself loads
    _edit(folder / "edges.csv", lambda d: d.loc.__setitem__((30, "graph_id"), "13"))
    with pytest.raises(UserError) as e:
        load_dataset("graph", str(folder))
    msg = str(e.value)
    assert "\n" not in msg and repr(str(folder / "edges.csv")) in msg
    assert "row 32 (" in msg and "column 'graph_id'" in msg and "'13' is not a graph_id" in msg


# ---------------------------------------------------------------- training and prediction through the real trainer

@pytest.fixture(scope="module")
def gunpoint_runs(tmp_path_factory: pytest.TempPathFactory):
    """The trainer on a CSV copy of GunPoint and on GunPoint by name: same seed and epochs."""
    from resnet_any.train import TrainConfig, train

    root = tmp_path_factory.mktemp("gp_runs")
    folder = root / "GunPoint"
    for split in ("TRAIN", "TEST"):
        _write(_wide_frame(*_raw("GunPoint", split)), folder / f"{split.lower()}.csv")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # a user's files get the task's recipe, never a dataset's (whatever the folder is called): the named
        # set's lr is passed to both, so only the data path differs
        kw = dict(domain="series", epochs=3, width=8, lr=3e-3, seed=0, quiet=True, device="cpu")
        csv_run = train(TrainConfig(dataset=str(folder), out=str(root / "csv"), **kw))
        named = train(TrainConfig(dataset="GunPoint", out=str(root / "named"), **kw))
    finally:
        torch.set_num_threads(threads)
    return folder, root / "csv", csv_run, named


def test_training_on_the_csv_copy_of_gunpoint_matches_the_named_set(gunpoint_runs) -> None:
    _, _, csv_run, named = gunpoint_runs
    assert csv_run["dataset"] == named["dataset"] == "GunPoint"
    # the same samples and normalisation: identical in practice (0.62 both at 3 epochs), 1 sample of slack
    assert abs(csv_run["test_accuracy"] - named["test_accuracy"]) <= 1 / 150 + 1e-9


@pytest.fixture(scope="module")
def cora_run(cora, tmp_path_factory: pytest.TempPathFactory):
    from resnet_any.train import TrainConfig, train

    _, full, _ = cora
    out = tmp_path_factory.mktemp("cora_run") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # Cora by name gets its published recipe, a user's files the default: pin the one both should run
        kw = dict(domain="graph", epochs=3, width=16, quiet=True, device="cpu", weight_decay_by_prefix={},
                  model_kwargs=dict(style="gcnii", depth=4, dropout=0.6, input_dropout=0.6))
        summary = train(TrainConfig(dataset=str(full), out=str(out), **kw))
        named = train(TrainConfig(dataset="cora", out=str(out.parent / "named"), **kw))
    finally:
        torch.set_num_threads(threads)
    return out, summary, named


def test_training_on_cora_csv(cora_run) -> None:
    """The same graph, features, masks and recipe as the shipped Cora: the same run, to the last digit."""
    out, summary, named = cora_run
    assert summary["dataset"] == "cora_full" and summary["test_accuracy"] == named["test_accuracy"]
    assert (out / "best.pt").is_file()


def test_a_run_on_files_records_their_path_and_resumes_and_evaluates_from_elsewhere(gunpoint_runs, tmp_path: Path,
                                                                                   monkeypatch) -> None:
    """config.json keeps the absolute path (not the folder's name, which is also an aeon set's name)."""
    import json

    from resnet_any.evaluate import evaluate_checkpoint
    from resnet_any.train import TrainConfig, train

    folder, out, csv_run, _ = gunpoint_runs
    assert json.loads((out / "config.json").read_text())["dataset"] == str(folder.resolve())
    monkeypatch.chdir(tmp_path)  # another working directory, as a later session would be in
    result = evaluate_checkpoint(out / "best.pt")
    assert result["accuracy"] == pytest.approx(csv_run["test_accuracy"]) and result["n"] == 150
    more = train(TrainConfig(out=str(out), resume=True, epochs=4, quiet=True))
    assert more["epochs"] == 4 and more["dataset"] == "GunPoint"
    # naming the same files again, relative to another directory, is the same dataset; aeon's GunPoint is not
    monkeypatch.chdir(folder.parent)
    assert train(TrainConfig(out=str(out), resume=True, epochs=5, dataset="./GunPoint", quiet=True))["epochs"] == 5
    with pytest.raises(UserError, match="--dataset cannot change on --resume"):
        train(TrainConfig(out=str(out), resume=True, epochs=6, dataset="GunPoint", quiet=True))


def _predict(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    from resnet_any.errors import run_cli
    from resnet_any.predict import main

    code = run_cli(main, argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_a_node_folder_writes_one_row_per_node(cora, cora_run, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    from resnet_any.train import load_checkpoint

    _, full, _ = cora
    out, _, _ = cora_run
    preds = tmp_path / "preds.csv"
    code, _, err = _predict(["--checkpoint", str(out / "best.pt"), "--dataset", str(full), "--out", str(preds),
                             "--top-k", "3"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(preds.open()))
    assert list(rows[0]) == ["id", "split", "true_label", "predicted", "top1_label", "top1_prob", "top2_label",
                             "top2_prob", "top3_label", "top3_prob"]
    s = load_dataset("graph", str(full))
    model, meta = load_checkpoint(out / "best.pt")
    with torch.no_grad():
        expect = model(s.graph.x, s.graph.edge_index).argmax(1)
    assert len(rows) == 2708 and rows[0]["id"] == "paper0"
    assert [r["predicted"] for r in rows] == [meta["class_names"][i] for i in expect.tolist()]
    assert [r["true_label"] for r in rows] == [str(v) for v in s.graph.y.tolist()]
    assert {r["split"] for r in rows} == {"train", "val", "test", ""}
    # node features of another width than training: one clear line
    small = tmp_path / "small"
    small.mkdir()
    pd.DataFrame({"id": ["a", "b"], "w0": [1.0, 0.0], "w1": [0.0, 1.0]}).to_csv(small / "nodes.csv", index=False)
    pd.DataFrame({"source": ["a"], "target": ["b"]}).to_csv(small / "edges.csv", index=False)
    code, _, err = _predict(["--checkpoint", str(out / "best.pt"), "--dataset", str(small)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "nodes.csv" in err and "2 feature column(s)" in err and "trained on 1433" in err


def test_predict_a_graph_folder_writes_one_row_per_graph(mutag, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from resnet_any.train import TrainConfig, load_checkpoint, train

    _, ordered, with_nodes, _ = mutag
    train(TrainConfig(domain="graph", dataset=str(with_nodes), epochs=1, width=16, quiet=True, device="cpu",
                      out=str(tmp_path / "run")))
    unlabelled = tmp_path / "new"
    shutil.copytree(with_nodes, unlabelled)
    pd.read_csv(with_nodes / "graphs.csv").drop(columns="label").to_csv(unlabelled / "graphs.csv", index=False)
    code, text, err = _predict(["--checkpoint", str(tmp_path / "run" / "best.pt"), "--dataset", str(unlabelled),
                                "--top-k", "1"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["graph_id", "predicted", "top1_label", "top1_prob"] and len(rows) == 188
    model, meta = load_checkpoint(tmp_path / "run" / "best.pt")
    from torch_geometric.data import Batch

    b = Batch.from_data_list(ordered)
    with torch.no_grad():
        expect = model(b.x.float(), b.edge_index, b.batch).argmax(1)
    assert [r["predicted"] for r in rows] == [meta["class_names"][i] for i in expect.tolist()]
    assert rows[5]["graph_id"] == "mol005" and float(rows[5]["top1_prob"]) >= 0.5


def _same_as_the_model(rows: list[dict], folder: Path, run: Path) -> None:
    """Predicted rows equal the checkpoint's own argmax and probabilities on the folder's test split."""
    from resnet_any.train import load_checkpoint

    s = load_dataset("series", str(folder))
    model, meta = load_checkpoint(run / "best.pt")
    with torch.no_grad():
        probs = torch.softmax(model(s.test.x), 1)
    assert [r["predicted"] for r in rows] == [meta["class_names"][i] for i in probs.argmax(1).tolist()]
    assert np.allclose([float(r["top1_prob"]) for r in rows], probs.max(1).values.numpy(), atol=2e-6)


def test_predict_a_series_table_without_labels(gunpoint_runs, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder, run, _, _ = gunpoint_runs
    table = pd.read_csv(folder / "test.csv").drop(columns="label")
    path = _write(table, tmp_path / "new.parquet")
    preds = tmp_path / "p.csv"
    code, _, err = _predict(["--checkpoint", str(run / "best.pt"), "--dataset", str(path), "--out", str(preds)], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(preds.open()))
    assert len(rows) == 150 and rows[0]["row"] == "1" and "true_label" not in rows[0]
    _same_as_the_model(rows, folder, run)
    # a file with labels adds the true label; a train/test folder is predicted file by file
    code, text, _ = _predict(["--checkpoint", str(run / "best.pt"), "--dataset", str(folder / "test.csv")], capsys)
    assert code == 0 and text.splitlines()[0].startswith("row,true_label,predicted")
    code, text, _ = _predict(["--checkpoint", str(run / "best.pt"), "--dataset", str(folder)], capsys)
    lines = text.splitlines()
    assert code == 0 and lines[0].startswith("row,split,true_label,predicted") and len(lines) == 1 + 50 + 150


def test_predict_a_long_table_matches_channels_by_name(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from resnet_any.train import TrainConfig, train

    folder = tmp_path / "motions"
    for split in ("TRAIN", "TEST"):
        _write(_long_frame(*_raw("BasicMotions", split), prefix=split[:2]), folder / f"{split.lower()}.csv")
    run = tmp_path / "run"
    train(TrainConfig(domain="series", dataset=str(folder), epochs=1, width=8, quiet=True, device="cpu", out=str(run)))
    test = pd.read_csv(folder / "test.csv").drop(columns="label")
    shuffled = test[["id", "time"] + [f"c{k}" for k in reversed(range(6))]]  # channel columns in another order
    code, text, err = _predict(["--checkpoint", str(run / "best.pt"), "--dataset",
                                str(_write(shuffled, tmp_path / "new.tsv"))], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 40 and rows[0]["id"] == "TE0"
    _same_as_the_model(rows, folder, run)
    # a channel the model never saw: one line naming the file and both column lists
    _write(test.rename(columns={"c5": "gyro_z"}), tmp_path / "renamed.csv")
    code, _, err = _predict(["--checkpoint", str(run / "best.pt"), "--dataset", str(tmp_path / "renamed.csv")], capsys)
    assert code == 2 and err.count("\n") == 1 and "renamed.csv" in err and "'gyro_z'" in err and "'c5'" in err


def test_a_data_error_composes_its_message_once_for_the_owner_and_for_a_remote_user(tmp_path: Path) -> None:
    from resnet_any.app.messages import public_message
    from resnet_any.errors import DataError

    path = tmp_path / "d" / "t.csv"
    plain = DataError("{at}: the label is missing", path=path, row=3, column="label", counting="header is row 1")
    assert str(plain) == f"{str(path)!r} row 3 (header is row 1), column 'label': the label is missing"
    assert public_message(plain, tmp_path) == "'d/t.csv' row 3 (header is row 1), column 'label': the label is missing"
    whole = DataError("manifest {path} has no rows", path=path)
    assert str(whole) == f"manifest {str(path)!r} has no rows"
    assert public_message(whole, tmp_path) == "manifest 'd/t.csv' has no rows"
    quoting = DataError("{at}: 'SECRET' is not a number", path=path, row=3, value="SECRET",
                        expected="the cell is not a number")
    assert "SECRET" in str(quoting)
    assert public_message(quoting, tmp_path) == "'d/t.csv' row 3: the cell is not a number"
