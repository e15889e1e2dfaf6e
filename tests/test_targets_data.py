"""Issue 25, the readers: every file layout reads numbers and tag sets through data/targets.py's one table.

Real data only: GunPoint series (aeon ships it) with targets computed from the series themselves (the peak of
a motion, its span, the share of time the hand is raised), MNIST digits side by side with the digits they show
as tags and their ink as a number, Cora's nodes with their degree, MUTAG's molecules with their atoms. Each
layout -> the task it infers and the override; bad targets -> one line naming the file, row and column (exit
2 from the CLI); empty target cells -> NaN labels.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from resnet_any.data import infer_domain, load_dataset
from resnet_any.data.series import read_ts, shipped
from resnet_any.errors import UserError

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


# ---------------------------------------------------------------- real series with targets computed from them

@pytest.fixture(scope="module")
def gunpoint() -> dict[str, np.ndarray]:
    """GunPoint's 200 series (train then test) and targets with a meaning: peak height, span, time raised, class."""
    parts = [read_ts(shipped()["GunPoint"] / f"GunPoint_{s}.ts") for s in ("TRAIN", "TEST")]
    x = np.concatenate([np.stack([s[0] for s in series]) for series, _ in parts])  # (200, 150)
    cls = np.array([int(lab) for _, labels in parts for lab in labels])
    peak, span = x.max(1), x.max(1) - x.min(1)
    raised = (x > np.median(x, 1, keepdims=True) + 0.5).sum(1)  # whole time steps: integers of many values
    return {"x": x, "peak": peak, "span": span, "raised": raised, "gun": (cls == 1).astype(float),
            "n_train": len(parts[0][0])}


def wide(gp: dict, rows: slice, **targets: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame(gp["x"][rows], columns=[f"t{i}" for i in range(gp["x"].shape[1])])
    for k, (name, values) in enumerate(targets.items()):
        df.insert(k, name, values[rows])
    return df


def all_y(s) -> torch.Tensor:
    return torch.cat([s.labels(k) for k in ("train", "val", "test")])


def test_a_wide_csv_of_numbers_is_regress(gunpoint, tmp_path: Path) -> None:
    path = tmp_path / "peaks.csv"
    wide(gunpoint, slice(None), peak=gunpoint["peak"]).to_csv(path, index=False)
    s = load_dataset("series", str(path), label_column="peak")
    assert (s.task, s.class_names, s.num_classes) == ("regress", ["peak"], 1)
    assert "inferred from non-integer" in s.task_note and "--task classify" in s.task_note
    assert s.train.y.dtype == torch.float32 and s.train.y.shape[1] == 1
    assert np.allclose(np.sort(all_y(s)[:, 0].numpy()), np.sort(gunpoint["peak"]), atol=1e-5)


def test_integer_counts_stay_classes_with_a_note_and_task_regress_reads_them_as_numbers(gunpoint, tmp_path) -> None:
    """A count over many values (time steps raised) names --task regress; told so, it is one."""
    folder = tmp_path / "raised"
    folder.mkdir()
    n = gunpoint["n_train"]
    wide(gunpoint, slice(0, n), raised=gunpoint["raised"]).to_csv(folder / "train.csv", index=False)
    wide(gunpoint, slice(n, None), raised=gunpoint["raised"]).to_csv(folder / "test.csv", index=False)
    with pytest.raises(UserError, match="not among the classes of train.csv"):
        load_dataset("series", str(folder), label_column="raised")
    s = load_dataset("series", str(folder), label_column="raised", task="regress")
    assert s.task == "regress" and s.task_note is None
    assert torch.equal(s.test.y[:, 0], torch.as_tensor(gunpoint["raised"][n:], dtype=torch.float32))
    from resnet_any.data.targets import infer_task

    task, note = infer_task([[str(v)] for v in gunpoint["raised"][:n]], ["raised"])
    assert task == "classify" and "--task regress" in note


def test_a_train_test_folder_of_numbers_reads_test_values_unseen_in_train(gunpoint, tmp_path: Path) -> None:
    """Issue 25's first report: test numbers are not 'classes of train.csv' any more."""
    folder = tmp_path / "gp"
    folder.mkdir()
    n = gunpoint["n_train"]
    wide(gunpoint, slice(0, n), span=gunpoint["span"]).to_parquet(folder / "train.parquet", index=False)
    wide(gunpoint, slice(n, None), span=gunpoint["span"]).to_parquet(folder / "test.parquet", index=False)
    s = load_dataset("series", str(folder), label_column="span")
    assert s.task == "regress" and len(s.test) == 150
    assert np.allclose(s.test.y[:, 0].numpy(), gunpoint["span"][n:], atol=1e-6)


def test_a_long_table_with_two_target_columns_is_multi_output_regress(gunpoint, tmp_path: Path) -> None:
    x = gunpoint["x"][:60]
    df = pd.DataFrame({"id": np.repeat([f"s{i}" for i in range(60)], 150), "time": np.tile(np.arange(150), 60),
                       "c0": x.reshape(-1), "peak": np.repeat(gunpoint["peak"][:60], 150),
                       "span": np.repeat(gunpoint["span"][:60], 150)})
    df.to_csv(tmp_path / "long.csv", index=False)
    s = load_dataset("series", str(tmp_path / "long.csv"), label_column="peak,span")
    assert (s.task, s.class_names, s.in_channels) == ("regress", ["peak", "span"], 1)
    assert "2 numeric target columns" in s.task_note
    got = all_y(s).numpy()
    want = np.stack([gunpoint["peak"][:60], gunpoint["span"][:60]], 1)
    assert np.allclose(got[np.argsort(got[:, 0])], want[np.argsort(want[:, 0])], atol=1e-5)


def test_an_npz_of_0_1_columns_is_multilabel_and_task_regress_reads_numbers(gunpoint, tmp_path: Path) -> None:
    tags = np.stack([gunpoint["peak"] > np.median(gunpoint["peak"]), gunpoint["span"] > np.median(gunpoint["span"]),
                     gunpoint["gun"] == 1], 1).astype(np.float32)
    tags[5, 1] = np.nan  # a missing tag
    np.savez(tmp_path / "tags.npz", x=gunpoint["x"], y=tags)
    s = load_dataset("series", str(tmp_path / "tags.npz"))
    assert (s.task, s.class_names) == ("multilabel", ["tag_0", "tag_1", "tag_2"])
    assert s.class_counts("train") and int(torch.isnan(all_y(s)).sum()) == 1
    r = load_dataset("series", str(tmp_path / "tags.npz"), task="regress")
    assert (r.task, r.num_classes, r.task_note) == ("regress", 3, None)
    np.savez(tmp_path / "peak.npz", x=gunpoint["x"], y=gunpoint["peak"])
    assert load_dataset("series", str(tmp_path / "peak.npz")).class_names == ["target"]


def test_empty_target_cells_are_missing_labels(gunpoint, tmp_path: Path) -> None:
    df = wide(gunpoint, slice(None), peak=gunpoint["peak"], span=gunpoint["span"]).astype({"peak": object})
    df.loc[[3, 17, 40], "peak"] = ""
    df.to_csv(tmp_path / "gaps.csv", index=False)
    s = load_dataset("series", str(tmp_path / "gaps.csv"), label_column="peak,span")
    y = all_y(s)
    assert int(torch.isnan(y[:, 0]).sum()) == 3 and not torch.isnan(y[:, 1]).any()


# ---------------------------------------------------------------- MNIST canvases: tags, 0/1 columns, numbers

@pytest.fixture(scope="module")
def canvases(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """80 canvases of two MNIST test digits side by side (PNG), with the digits shown and the canvas's ink."""
    from resnet_any.data.images import read_idx

    raw = shared_data / "MNIST" / "raw"
    x, y = read_idx(raw / "t10k-images-idx3-ubyte.gz")[:160], read_idx(raw / "t10k-labels-idx1-ubyte.gz")[:160]
    root = tmp_path_factory.mktemp("canvases")
    rows = []
    for i in range(80):
        img = np.concatenate([x[2 * i], x[2 * i + 1]], 1)
        Image.fromarray(img).save(root / f"c{i:02d}.png")
        rows.append({"file": f"c{i:02d}.png", "digits": sorted({int(y[2 * i]), int(y[2 * i + 1])}),
                     "ink": round(float(img.mean() / 255), 5), "split": "train" if i < 60 else "test"})
    return root, rows


def test_a_manifest_listing_tags_is_multilabel_and_task_classify_reads_each_list_as_a_class(canvases) -> None:
    root, rows = canvases
    (root / "tags.csv").write_text("file,label\n" + "".join(f"{r['file']},{';'.join(map(str, r['digits']))}\n"
                                                             for r in rows))
    assert infer_domain(str(root / "tags.csv")) == "image"
    s = load_dataset("image", str(root / "tags.csv"), cache_dir=str(root / "cache"))
    assert (s.task, s.class_names) == ("multilabel", [str(d) for d in range(10)])
    assert "several tags" in s.task_note and s.train.y.shape[1] == 10
    assert sorted(all_y(s).sum(1).tolist()) == sorted(float(len(r["digits"])) for r in rows)
    c = load_dataset("image", str(root / "tags.csv"), cache_dir=str(root / "cache"), task="classify")
    assert c.task == "classify" and "0;7" in c.class_names


def test_a_manifest_of_0_1_columns_is_multilabel_and_of_numbers_regress(canvases) -> None:
    root, rows = canvases
    lines = ["file,split,zero,one,seven"] + [
        f"{r['file']},{r['split']},{int(0 in r['digits'])},{int(1 in r['digits'])},"
        f"{'' if i == 4 else int(7 in r['digits'])}" for i, r in enumerate(rows)]
    (root / "cols.csv").write_text("\n".join(lines) + "\n")
    assert infer_domain(str(root / "cols.csv")) == "image"
    s = load_dataset("image", str(root / "cols.csv"), cache_dir=str(root / "cache"))
    assert (s.task, s.class_names, len(s.test)) == ("multilabel", ["zero", "one", "seven"], 20)
    assert torch.isnan(all_y(s)).sum() == 1  # row 5's empty 'seven' cell
    (root / "ink.jsonl").write_text("".join(json.dumps({"file": r["file"], "ink": r["ink"], "digits": len(r["digits"]),
                                                        "split": r["split"]}) + "\n" for r in rows))
    r = load_dataset("image", str(root / "ink.jsonl"), cache_dir=str(root / "cache"))
    assert (r.task, r.class_names) == ("regress", ["ink", "digits"])
    assert np.allclose(r.test.y[:, 0].numpy(), [row["ink"] for row in rows[60:]], atol=1e-5)


# ---------------------------------------------------------------- graphs: Cora nodes, MUTAG molecules

def test_nodes_csv_with_numbers_is_node_regression_with_unlabelled_nodes_nan(tmp_path: Path) -> None:
    g = load_dataset("graph").graph
    degree = torch.bincount(g.edge_index[0], minlength=g.num_nodes).numpy()
    target = np.log1p(degree).round(6).astype(object)
    target[::7] = ""  # unlabelled nodes
    folder = tmp_path / "cora_degree"
    folder.mkdir()
    pd.DataFrame({"id": np.arange(g.num_nodes), "logdeg": target, "f0": g.x[:, 0].numpy()}).to_csv(
        folder / "nodes.csv", index=False)
    ei = g.edge_index.numpy()
    pd.DataFrame({"source": ei[0], "target": ei[1]}).to_csv(folder / "edges.csv", index=False)
    s = load_dataset("graph", str(folder), label_column="logdeg")
    assert (s.task, s.layout, s.class_names, s.in_channels) == ("regress", "node", ["logdeg"], 1)
    assert torch.isnan(s.graph.y[::7]).all() and not torch.isnan(s.labels("train")).any()
    assert s.count("train") + s.count("val") + s.count("test") == g.num_nodes - len(range(0, g.num_nodes, 7))


@pytest.fixture(scope="module")
def mutag(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MUTAG as graphs.csv + edges.csv + nodes.csv; graphs.csv holds targets read off each molecule's atoms."""
    from torch_geometric.datasets import TUDataset

    root = tmp_path_factory.mktemp("mutag_targets")
    shutil.copytree(shared_data / "TUDataset" / "MUTAG", root / "tu" / "MUTAG")
    graphs, edges, nodes = [], [], []
    for k, g in enumerate(TUDataset(str(root / "tu"), "MUTAG")):
        gid = f"mol{k:03d}"
        atoms = g.x.argmax(1)  # MUTAG's atom types: 0 C, 1 N, 2 O, 3 F, 4 I, 5 Cl, 6 Br
        graphs.append({"graph_id": gid, "carbon_share": round(float((atoms == 0).float().mean()), 6),
                       "atoms": g.num_nodes, "has_n": int((atoms == 1).any()), "has_cl": int((atoms == 5).any())})
        ei = g.edge_index.numpy()
        edges += [{"graph_id": gid, "source": int(a), "target": int(b)} for a, b in zip(ei[0], ei[1])]
        nodes += [{"graph_id": gid, "id": i, **{f"atom{j}": v for j, v in enumerate(row)}}
                  for i, row in enumerate(g.x.tolist())]
    folder = root / "mutag"
    folder.mkdir()
    pd.DataFrame(edges).to_csv(folder / "edges.csv", index=False)
    pd.DataFrame(nodes).to_csv(folder / "nodes.csv", index=False)
    pd.DataFrame(graphs).to_csv(folder / "all.csv", index=False)
    return folder


def test_graphs_csv_targets_regress_or_multilabel(mutag: Path) -> None:
    table = pd.read_csv(mutag / "all.csv")
    table[["graph_id", "carbon_share", "atoms"]].to_csv(mutag / "graphs.csv", index=False)
    s = load_dataset("graph", str(mutag))  # no label column: every column but graph_id is a target
    assert (s.task, s.layout, s.class_names) == ("regress", "graph", ["carbon_share", "atoms"])
    assert s.train[0].y.shape == (1, 2) and len(s.train) + len(s.val) + len(s.test) == 188
    table[["graph_id", "has_n", "has_cl"]].to_csv(mutag / "graphs.csv", index=False)
    t = load_dataset("graph", str(mutag))
    assert (t.task, t.class_names) == ("multilabel", ["has_n", "has_cl"])
    one = load_dataset("graph", str(mutag), label_column="has_cl", task="regress")
    assert (one.task, one.num_classes) == ("regress", 1)


# ---------------------------------------------------------------- volumes: MNIST digits stacked in depth

def test_a_volume_npz_of_float_y_is_regress(shared_data: Path, tmp_path: Path) -> None:
    from resnet_any.data.images import read_idx

    digits = read_idx(shared_data / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz")[:120, ::2, ::2]
    x = digits.reshape(30, 4, 14, 14)  # four digits as the depth slices of a volume
    ink = x.reshape(30, -1).mean(1) / 255
    np.savez(tmp_path / "ink.npz", x=x, y=ink)
    s = load_dataset("volume", str(tmp_path / "ink.npz"))
    assert (s.task, s.class_names) == ("regress", ["target"])
    assert np.allclose(np.sort(all_y(s)[:, 0].numpy()), np.sort(ink), atol=1e-6)
    slices = (x.reshape(30, 4, -1).mean(2) > x.mean()).astype(np.float64)  # which slices hold much ink
    np.savez(tmp_path / "slices.npz", x=x, y=slices)
    assert load_dataset("volume", str(tmp_path / "slices.npz")).task == "multilabel"


def test_a_torch_dataset_of_float_y_is_regress(gunpoint) -> None:
    from resnet_any.data.python import as_splits

    class Peaks(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 100

        def __getitem__(self, i: int):
            return torch.as_tensor(gunpoint["x"][i][None], dtype=torch.float32), float(gunpoint["peak"][i])

    s = as_splits(Peaks(), seed=0, val_fraction=0.2)
    assert (s.task, s.class_names, len(s.train), len(s.val)) == ("regress", ["target"], 80, 20)
    assert s.train[0][1].shape == (1,) and s.train[0][1].dtype == torch.float32
    assert np.allclose(np.sort(torch.cat([s.labels("train"), s.labels("val")])[:, 0].numpy()),
                       np.sort(gunpoint["peak"][:100]), atol=1e-5)


# ---------------------------------------------------------------- bad targets: one line naming file, row, column

def _bad_cases(gp: dict, tmp: Path) -> dict[str, tuple[Path, list[str], list[str]]]:
    """case -> (dataset path, extra flags, pieces the one line must hold)."""
    text = wide(gp, slice(None), peak=gp["peak"]).astype({"peak": object})
    text.loc[9, "peak"] = "high"
    text.to_csv(tmp / "text.csv", index=False)
    folder = tmp / "tags"
    folder.mkdir()
    n = gp["n_train"]
    tag = np.where(gp["peak"] > np.median(gp["peak"]), "tall", "short").astype(object)
    tag = np.array([f"{t};gun" if g else t for t, g in zip(tag, gp["gun"])], dtype=object)
    tag[n + 3] = "tall;cannon"
    wide(gp, slice(0, n), label=tag).to_csv(folder / "train.csv", index=False)
    wide(gp, slice(n, None), label=tag).to_csv(folder / "test.csv", index=False)
    y = np.stack([gp["gun"], (gp["peak"] > 1).astype(float)], 1)
    y[11, 1] = 2.0
    np.savez(tmp / "two.npz", x=gp["x"], y=y)
    wide(gp, slice(None), level=np.full(len(gp["x"]), 3.5)).to_csv(tmp / "flat.csv", index=False)
    return {
        "text in a regression column": (tmp / "text.csv", ["--label-column", "peak"],
                                        ["row 11 (", "column 'peak'", "'high' is not a number", "expected a number"]),
        "a tag absent from training": (folder, [], ["test.csv' row 5 (", "column 'label'", "'cannon'",
                                                    "not among the tags of the training split"]),
        "(N, K) tags other than 0/1": (tmp / "two.npz", ["--task", "multilabel"],
                                       ["sample 11 (", "column 'y[:, 1]'", "holds 2"]),
        "a target without variance": (tmp / "flat.csv", ["--label-column", "level", "--task", "regress"],
                                      ["column 'level'", "does not vary", "at least two values"]),
    }


def test_bad_targets_are_one_line_naming_file_row_and_column(gunpoint, tmp_path: Path) -> None:
    for case, (path, flags, pieces) in _bad_cases(gunpoint, tmp_path).items():
        told = dict(zip(flags[::2], flags[1::2]))
        with pytest.raises(UserError) as e:
            load_dataset("series", str(path), label_column=told.get("--label-column", "label"),
                         task=told.get("--task"))
        msg = str(e.value)
        assert "\n" not in msg and str(path.name) in msg, (case, msg)
        for piece in pieces:
            assert piece in msg, (case, piece, msg)


def test_the_cli_exits_2_with_the_line(gunpoint, tmp_path: Path) -> None:
    cases = _bad_cases(gunpoint, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    chosen = ["text in a regression column", "a tag absent from training"]

    def call(case: str) -> subprocess.CompletedProcess:
        path, flags, _ = cases[case]
        return subprocess.run([sys.executable, "-m", "resnet_any.train", "--dataset", str(path), *flags, "--out",
                               str(tmp_path / "run" / case.replace(" ", "_"))], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(chosen, pool.map(call, chosen)))
    for case, proc in done.items():
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (case, proc.stderr)
        for piece in cases[case][2]:
            assert piece in lines[0], (case, piece, lines[0])


def test_bad_targets_in_a_manifest_and_a_graph_folder_name_the_row(canvases, mutag: Path) -> None:
    root, rows = canvases
    lines = ["file,label,split"] + [f"{r['file']},{';'.join(map(str, r['digits']))},{r['split']}" for r in rows]
    lines[66] = lines[66].replace(",test", ";ten,test")  # row 66: a test canvas
    (root / "bad.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"bad\.csv' row 66 \(rows counted from 1 below the header\), column 'label': "
                                        r"tag 'ten' is not among the tags"):
        load_dataset("image", str(root / "bad.csv"), cache_dir=str(root / "cache"))
    table = pd.read_csv(mutag / "all.csv")[["graph_id", "carbon_share"]].astype({"carbon_share": object})
    table.loc[30, "carbon_share"] = "n/a?"
    table.to_csv(mutag / "graphs.csv", index=False)
    with pytest.raises(UserError, match=r"graphs\.csv' row 32 \(.*\), column 'carbon_share': target 'n/a\?' is not a "
                                        r"number"):
        load_dataset("graph", str(mutag))


# ---------------------------------------------------------------- the app: an upload carries its targets

def test_an_uploaded_regression_csv_reaches_the_trainer_as_regress(gunpoint, tmp_path: Path) -> None:
    from resnet_any.app.dataroot import DataRoot
    from resnet_any.app.form import make_config
    from resnet_any.app.messages import public_message
    from resnet_any.app.uploads import save_upload
    from resnet_any.train.plan import make_plan

    source = tmp_path / "gunpoint peaks.csv"
    wide(gunpoint, slice(None), label=gunpoint["peak"]).to_csv(source, index=False)
    root = DataRoot(tmp_path / "root")
    rel = save_upload(str(source), root, 10 * 2**20)
    assert infer_domain(str(root.path / rel)) == "series"
    config = make_config(tmp_path / "runs", "series", rel, None, None, None, 1, None, None, None, None, root=root)
    plan = make_plan(config)
    assert (plan.splits.task, plan.config.task, plan.splits.class_names) == ("regress", "regress", ["label"])
    # a bad cell, as a remote user reads it: the file (relative to the root), the row and the column, not the value
    text = wide(gunpoint, slice(None), label=gunpoint["peak"]).astype({"label": object})
    text.loc[9, "label"] = "high"
    text.to_csv(source, index=False)
    rel = save_upload(str(source), root, 10 * 2**20)
    with pytest.raises(UserError) as e:
        load_dataset("series", str(root.path / rel))
    shown = public_message(e.value, root.path)
    assert "row 11" in shown and "column 'label'" in shown and "expected a number" in shown, shown
    assert "high" not in shown and str(root.path) not in shown, shown
