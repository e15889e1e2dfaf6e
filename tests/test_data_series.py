"""Series datasets: aeon's shipped sets, UCR-archive TSV folders (real and hand-made), .ts files."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_any.data import list_datasets, load_dataset, preprocess_series
from resnet_any.data.series import shipped
from resnet_any.errors import UserError


def _counts(ds, k: int) -> list[int]:
    return np.bincount(ds.y.numpy(), minlength=k).tolist()


def test_gunpoint_default_official_split_znormalised(tmp_path):
    s = load_dataset("series", cache_dir=tmp_path)
    assert s.name == "GunPoint" and s.layout == "samples" and s.num_classes == 2
    assert len(s.train) + len(s.val) == 50 and len(s.test) == 150 and len(s.val) == 10
    assert s.train.x.shape[1:] == (1, 150) and s.train.x.dtype == torch.float32
    assert s.meta == {"length": 150, "channels": 1, "znorm": True, "padding": "end", "norm": "series"}
    x = s.test.x[:, 0].double()
    assert torch.allclose(x.mean(1), torch.zeros(150, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(1, unbiased=False), torch.ones(150, dtype=torch.float64), atol=1e-4)
    # Class balance checked against the labels at the end of each data line of the .ts file.
    lines = (shipped()["GunPoint"] / "GunPoint_TEST.ts").read_text().split("@data")[-1].split()
    raw = [line.rsplit(":", 1)[1] for line in lines if ":" in line]
    assert s.class_names == ["1", "2"] and _counts(s.test, 2) == [raw.count("1"), raw.count("2")]


@pytest.mark.parametrize("name, train, test, classes, length", [
    ("Plane", 105, 105, 7, 144),
    ("SonyAIBORobotSurface1", 20, 601, 2, 70),
])
def test_ucr_reader_on_shared_archive_sets(shared_data, tmp_path, name, train, test, classes, length):
    folder = shared_data / "ucr" / name
    s = load_dataset("series", "ucr", str(folder), cache_dir=tmp_path)
    assert s.name == name
    assert len(s.train) + len(s.val) == train and len(s.test) == test
    assert s.num_classes == classes and s.meta["length"] == length and s.in_channels == 1
    # Independent check against numpy's own parse of the file.
    raw = np.loadtxt(folder / f"{name}_TEST.tsv", delimiter="\t")
    labels = sorted({int(v) for v in raw[:, 0]})
    assert s.class_names == [str(v) for v in labels]
    assert _counts(s.test, classes) == [int((raw[:, 0] == v).sum()) for v in labels]
    row = raw[0, 1:]
    assert torch.allclose(s.test.x[0, 0].double(), torch.from_numpy((row - row.mean()) / row.std()), atol=1e-5)
    # Same set by name, from the archive root.
    by_name = load_dataset("series", name.lower(), str(shared_data / "ucr"), cache_dir=tmp_path)
    assert torch.equal(by_name.test.x, s.test.x)


def test_preprocess_series_matches_training(shared_data):
    folder = shared_data / "ucr" / "Plane"
    s = load_dataset("series", "ucr", str(folder))
    raw = np.loadtxt(folder / "Plane_TEST.tsv", delimiter="\t")
    out = preprocess_series(raw[3, 1:], s.meta)
    assert out.shape == (1, 144) and out.dtype == torch.float32
    assert torch.allclose(out, s.test.x[3], atol=1e-6)
    assert torch.allclose(preprocess_series(torch.tensor(raw[3:4, 1:]), s.meta), out)
    with pytest.raises(UserError, match="expected"):
        preprocess_series(np.zeros((3, 144)), s.meta)


def _write(path: Path, rows: list[list]) -> None:
    path.write_text("\n".join("\t".join(str(v) for v in r) for r in rows) + "\n")


def test_hand_made_tsv_string_labels_and_nan_padding(tmp_path):
    nan = "NaN"
    _write(tmp_path / "Toy_TRAIN.tsv", [
        ["dog", 1, 2, 3, 4, 5, 6],
        ["cat", 2, 4, 6, nan, nan, nan],
        ["ant", 0, 1, 0, 1, nan, nan],
        ["dog", 5, 4, 3, 2, 1, 0],
        ["cat", 1, 3, 1, 3, 1, nan],
        ["ant", 9, 9, 8, nan, nan, nan],
    ])
    _write(tmp_path / "Toy_TEST.tsv", [["ant", 3, 1, 2, nan, nan, nan], ["dog", 1, 1, 1, 1, 1, 2]])
    s = load_dataset("series", "ucr", str(tmp_path), val_fraction=0.0, cache_dir=tmp_path / "c")
    assert s.name == "Toy" and s.class_names == ["ant", "cat", "dog"] and s.meta["length"] == 6
    # Row "cat 2 4 6": z-normalised over its 3 observed values, the padding becomes 0 (the mean).
    k = math.sqrt(8 / 3)
    cat = s.train.x[1, 0]
    assert s.train.y[1] == 1
    assert torch.allclose(cat, torch.tensor([-2 / k, 0, 2 / k, 0, 0, 0]), atol=1e-5)
    assert not torch.isnan(s.train.x).any() and not torch.isnan(s.test.x).any()
    assert s.test.y.tolist() == [0, 2]


def test_numeric_labels_sort_by_value_and_rare_class_survives_val_split(tmp_path):
    rows = [[lab] + list(np.random.default_rng(i).normal(size=8)) for i, lab in enumerate([10, 2, 2, 2, 10, 10, 2, -1])]
    _write(tmp_path / "Num_TRAIN.tsv", rows)
    _write(tmp_path / "Num_TEST.tsv", rows[:3])
    s = load_dataset("series", "ucr", str(tmp_path), val_fraction=0.5, cache_dir=tmp_path / "c")
    assert s.class_names == ["-1", "2", "10"]
    # The single "-1" sample stays in train instead of failing the stratified split.
    assert 0 in s.train.y.tolist() and 0 not in s.val.y.tolist()
    assert len(s.train) + len(s.val) == 8


def test_bad_tsv_row_is_a_user_error(tmp_path):
    _write(tmp_path / "Bad_TRAIN.tsv", [["1", 0.5, 0.25], ["2", 0.1, "oops"]])
    _write(tmp_path / "Bad_TEST.tsv", [["1", 0.5, 0.25]])
    with pytest.raises(UserError, match=r"line 2: bad value 'oops'"):
        load_dataset("series", "ucr", str(tmp_path), cache_dir=tmp_path / "c")


def test_ts_files_and_unequal_multivariate(tmp_path):
    folder = tmp_path / "ts"
    folder.mkdir()
    src = shipped()["ItalyPowerDemand"]
    for f in src.glob("ItalyPowerDemand_T*.ts"):
        shutil.copyfile(f, folder / f.name)
    s = load_dataset("series", "ts", str(folder), cache_dir=tmp_path / "c")
    # Published: ItalyPowerDemand 67 train / 1029 test, length 24, 2 classes.
    assert (len(s.train) + len(s.val), len(s.test), s.meta["length"], s.num_classes) == (67, 1029, 24, 2)
    jv = load_dataset("series", "japanesevowels", cache_dir=tmp_path / "c")
    # Published: JapaneseVowels 270 / 370, 12 channels, 9 speakers, lengths 7..29 (padded to 29).
    assert (len(jv.train) + len(jv.val), len(jv.test), jv.in_channels, jv.num_classes) == (270, 370, 12, 9)
    assert jv.train.x.shape[1:] == (12, 29)


def test_multivariate_unequal_lengths_standardised_per_channel_from_aeon(tmp_path):
    """JapaneseVowels against aeon's own reader: train-split channel statistics, zero padding, lengths kept.

    Per-series z-normalisation would make every channel of every series mean 0 / std 1 and erase the
    channel levels that tell the speakers apart (the suite's old 0.77 test accuracy against 0.99).
    """
    from aeon.datasets import load_from_ts_file

    folder = shipped()["JapaneseVowels"]
    x_tr, _ = load_from_ts_file(str(folder / "JapaneseVowels_TRAIN.ts"))
    x_te, y_te = load_from_ts_file(str(folder / "JapaneseVowels_TEST.ts"))
    flat = np.concatenate([np.asarray(s, dtype=np.float64) for s in x_tr], axis=1)  # (12, all train frames)
    mean, std = flat.mean(axis=1), flat.std(axis=1)
    s = load_dataset("series", "JapaneseVowels", val_fraction=0.1, cache_dir=tmp_path)
    assert s.meta["norm"] == "channel" and np.allclose(s.meta["mean"], mean) and np.allclose(s.meta["std"], std)
    assert s.test.x.shape == (370, 12, 29) and s.class_names == sorted(set(map(str, y_te)))
    lengths = [np.asarray(a).shape[1] for a in x_te]
    assert min(lengths) == 7 and max(lengths) == 29
    for i in (0, 1, int(np.argmin(lengths)), len(x_te) - 1):
        raw, n = np.asarray(x_te[i], dtype=np.float64), lengths[i]
        expect = (raw - mean[:, None]) / std[:, None]
        assert torch.allclose(s.test.x[i, :, :n].double(), torch.from_numpy(expect), atol=1e-5)
        assert (s.test.x[i, :, n:] == 0).all()  # padding: zeros after standardisation (the train mean)
        assert torch.allclose(preprocess_series(raw, s.meta), s.test.x[i], atol=1e-6)
    # the channel levels survive: per-series channel means still differ between series (z-norm would zero them)
    per_series_means = torch.stack([s.test.x[i, :, :lengths[i]].mean(1) for i in range(len(lengths))])
    assert per_series_means.std(0).min() > 0.3


def test_series_names_and_errors(shared_data, tmp_path):
    names = list_datasets("series")
    assert names[0] == "GunPoint"
    assert {"ArrowHead", "OSULeaf", "ACSF1", "BasicMotions", "JapaneseVowels", "ItalyPowerDemand", "ucr", "ts"} <= set(names)
    with pytest.raises(UserError, match="GunPoint"):
        load_dataset("series", "NoSuchSeries")
    with pytest.raises(UserError, match="Plane, SonyAIBORobotSurface1"):
        load_dataset("series", "ucr", str(shared_data / "ucr"))
    with pytest.raises(UserError, match="needs --data-dir"):
        load_dataset("series", "ucr")
    # A UCR name aeon does not ship: offline (forced in tests) it says what to do instead of hanging.
    with pytest.raises(UserError, match="network is unreachable"):
        load_dataset("series", "FordA", cache_dir=tmp_path)
