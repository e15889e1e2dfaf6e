"""Volume datasets (.npz and folders of .npy) built from real MNIST digits: 8 consecutive test digits of one
class stacked into a (D=8, 28, 28) volume whose class is the digit."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_any.data import volumes
from resnet_any.data.splits import train_val_test
from resnet_any.errors import UserError

PER_CLASS = 10  # volumes per digit
DEPTH = 8


@pytest.fixture(scope="module")
def digit_volumes(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """(100, 8, 28, 28) uint8 volumes, class-major (all 0s, then all 1s, ...), and their digit labels."""
    from resnet_any.data.images import read_idx

    raw = shared_data / "MNIST" / "raw"
    images = read_idx(raw / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(raw / "t10k-labels-idx1-ubyte.gz")
    xs, ys = [], []
    for digit in range(10):
        mine = images[labels == digit][: PER_CLASS * DEPTH]
        xs.append(mine.reshape(PER_CLASS, DEPTH, 28, 28))
        ys += [digit] * PER_CLASS
    return np.concatenate(xs), np.array(ys)


def _write_folder(root: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """ROOT/<digit>/NNN.npy in the order of x (file names sort like the array order)."""
    for i, (v, label) in enumerate(zip(x, y)):
        d = root / str(label)
        d.mkdir(parents=True, exist_ok=True)
        np.save(d / f"{i:03d}.npy", v)
    return root


def _same(a, b) -> None:
    assert a.name and b.name
    assert a.class_names == b.class_names and a.meta == b.meta and a.in_channels == b.in_channels
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(a, split).x, getattr(b, split).x), split
        assert torch.equal(getattr(a, split).y, getattr(b, split).y), split


def test_npz_and_npy_folder_give_identical_stratified_seeded_splits(digit_volumes, tmp_path):
    x, y = digit_volumes
    np.savez(tmp_path / "digits3d.npz", x=x, y=y)  # (N, D, H, W): one channel
    a = volumes.load_path(tmp_path / "digits3d.npz")
    b = volumes.load_path(_write_folder(tmp_path / "digit_folders", x, y))
    _same(a, b)
    assert a.name == "digits3d" and b.name == "digit_folders"
    assert a.domain == "volume" and a.layout == "samples" and a.num_classes == 10 and a.in_channels == 1
    assert a.class_names == [str(d) for d in range(10)]
    assert a.meta["channels"] == 1 and a.meta["shape"] == [DEPTH, 28, 28] and a.meta["norm"] == "channel"
    v, label = a.train[0]
    assert v.dtype == torch.float32 and v.shape == (1, DEPTH, 28, 28) and isinstance(label, int)
    # Test is 20% of every class, val 20% of the rest, and nothing is lost or duplicated.
    assert [len(a.train), len(a.val), len(a.test)] == [64, 16, 20]
    assert (np.bincount(a.test.y.numpy(), minlength=10) == 2).all()
    assert (np.bincount(torch.cat([a.train.y, a.val.y, a.test.y]).numpy(), minlength=10) == PER_CLASS).all()
    # Seeded: same seed same split, another seed another one.
    assert torch.equal(volumes.load_path(tmp_path / "digits3d.npz").test.x, a.test.x)
    assert not torch.equal(volumes.load_path(tmp_path / "digits3d.npz", seed=1).test.x, a.test.x)
    # load() takes the path as the dataset name; --data-dir is refused (the run records --dataset's path)
    _same(volumes.load(str(tmp_path / "digits3d.npz")), a)
    with pytest.raises(UserError, match="volumes are read from --dataset PATH, not --data-dir"):
        volumes.load("digits3d.npz", str(tmp_path))
    # resnet_any.data.load_dataset hands an existing path to load_path.
    from resnet_any.data import load_dataset

    _same(load_dataset("volume", str(tmp_path / "digits3d.npz")), a)


def test_standardisation_is_the_training_split_channel_mean_and_std(digit_volumes, tmp_path):
    x, y = digit_volumes
    np.savez(tmp_path / "d.npz", x=x, y=y)
    s = volumes.load_path(tmp_path / "d.npz", seed=3, val_fraction=0.25)
    tr, va, te = train_val_test(y, 0.25, 3)  # the reader's documented split
    raw = x.astype(np.float64)
    mean, std = raw[tr].mean(), raw[tr].std()
    assert s.meta["mean"] == [pytest.approx(mean, rel=1e-12)] and s.meta["std"] == [pytest.approx(std, rel=1e-12)]
    assert 20 < mean < 60 and 60 < std < 120  # MNIST-like: mostly black, bright strokes (0..255 scale)
    for split, idx in (("train", tr), ("val", va), ("test", te)):
        ds = getattr(s, split)
        assert torch.equal(ds.y, torch.from_numpy(y[idx]))
        expected = torch.from_numpy(((raw[idx] - mean) / std).astype(np.float32))[:, None]
        assert torch.allclose(ds.x, expected, atol=1e-6), split
    assert abs(float(s.train.x.double().mean())) < 1e-6 and abs(float(s.train.x.double().std()) - 1) < 1e-3
    # Inference applies the very same steps to one new volume, from meta alone.
    assert torch.equal(volumes.preprocess_volume(x[te[0]], s.meta), s.test.x[0])
    assert torch.equal(volumes.preprocess_volume(torch.from_numpy(x[te[0]])[None], s.meta), s.test.x[0])
    with pytest.raises(UserError, match=r"shape \(1, 8, 28, 27\) .* takes \(1, 8, 28, 28\)"):
        volumes.preprocess_volume(x[0, :, :, :27], s.meta)


def test_given_splits_two_channels_npz_and_split_folders_agree(digit_volumes, tmp_path):
    x, y = digit_volumes
    # Two channels with distinct statistics: the digits and their negatives, (N, C, D, H, W).
    x2 = np.stack([x, 255 - x], axis=1)
    test = np.zeros(len(y), bool)
    test[np.arange(len(y)) % PER_CLASS < 3] = True  # 3 volumes of every digit are the given test set
    np.savez(tmp_path / "two.npz", x=x2[~test], y=y[~test], x_test=x2[test], y_test=y[test])
    a = volumes.load_path(tmp_path / "two.npz", val_fraction=0.25)
    root = tmp_path / "two_folders"
    _write_folder(root / "train", x2[~test], y[~test])
    _write_folder(root / "test", x2[test], y[test])
    b = volumes.load_path(root, val_fraction=0.25)
    _same(a, b)
    assert a.in_channels == 2 and a.meta["channels"] == 2 and a.train.x.shape[1:] == (2, DEPTH, 28, 28)
    assert len(a.test) == 30 and len(a.train) + len(a.val) == 70 and len(a.val) == round(0.25 * 70)
    # Statistics come from the training split only, channel by channel: the given test set and the val
    # volumes carved from the pool (stratified, seed + 1, as documented) are left out.
    from resnet_any.data.splits import stratified_split

    pool_x, pool_y = x2[~test].astype(np.float64), y[~test]
    tr, va = stratified_split(pool_y, 0.25, 1)
    assert torch.equal(a.train.y, torch.from_numpy(pool_y[tr])) and torch.equal(a.val.y, torch.from_numpy(pool_y[va]))
    mean, std = pool_x[tr].mean(axis=(0, 2, 3, 4)), pool_x[tr].std(axis=(0, 2, 3, 4))
    assert a.meta["mean"] == pytest.approx(mean.tolist(), rel=1e-12)
    assert a.meta["std"] == pytest.approx(std.tolist(), rel=1e-12)
    assert a.meta["mean"][0] + a.meta["mean"][1] == pytest.approx(255.0)  # a channel and its negative
    expected = (x2[test].astype(np.float64) - mean[None, :, None, None, None]) / std[None, :, None, None, None]
    assert torch.allclose(a.test.x, torch.from_numpy(expected.astype(np.float32)), atol=1e-6)
    assert torch.equal(a.test.y, torch.from_numpy(y[test]))


def test_resnet3d18_takes_a_batch_and_gives_logits(digit_volumes, tmp_path):
    import resnet_any

    x, y = digit_volumes
    np.savez(tmp_path / "d.npz", x=x, y=y)
    s = volumes.load_path(tmp_path / "d.npz")
    torch.manual_seed(0)
    model = resnet_any.create_model("resnet3d18", in_channels=s.in_channels, num_classes=s.num_classes, width=4)
    model.eval()
    with torch.no_grad():
        logits = model(s.train.x[:4])
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()


def test_nothing_embedded_and_names_must_be_paths(tmp_path):
    assert volumes.DEFAULT is None and volumes.list_datasets() == []
    with pytest.raises(UserError, match=r"volume domain has no embedded or named dataset: pass --dataset PATH, an \.npz"):
        volumes.load(None)
    with pytest.raises(UserError, match=r"'brats' is not an existing path; the volume domain has no embedded"):
        volumes.load("brats")
    np.save(tmp_path / "one.npy", np.zeros((2, 2, 2)))
    with pytest.raises(UserError, match=r"one\.npy' as a volume dataset \(a \.npy file\); accepted: an \.npz"):
        volumes.load_path(tmp_path / "one.npy")
    with pytest.raises(UserError, match="image_size .* volumes are used at their stored"):
        volumes.load_path(tmp_path, image_size=32)


# ---------------------------------------------------------------- bad input, one line each

def _npz(t: Path, **arrays) -> Path:
    np.savez(t / "bad.npz", **arrays)
    return t / "bad.npz"


def _folder(t: Path, files: dict[str, np.ndarray | str]) -> Path:
    for rel, v in files.items():
        (t / "vols" / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(v, str):
            (t / "vols" / rel).write_text(v)
        else:
            np.save(t / "vols" / rel, v)
    (t / "vols").mkdir(exist_ok=True)
    return t / "vols"


V = np.zeros((4, 5, 6), np.float32)
Y6 = np.array([0, 0, 0, 1, 1, 1])


def _good(n: int = 6, shape=(4, 5, 6)) -> np.ndarray:
    return np.arange(n * int(np.prod(shape)), dtype=np.float32).reshape(n, *shape)


BAD = {
    "npz x of 3 dims": (lambda t: _npz(t, x=np.zeros((6, 5, 6)), y=Y6),
                        r"x has shape \(6, 5, 6\) \(3 dims\); accepted: \(N, C, D, H, W\) or \(N, D, H, W\)"),
    "npz x of 6 dims": (lambda t: _npz(t, x=np.zeros((6, 1, 1, 2, 2, 2)), y=Y6), r"x has shape \(6, 1, 1, 2, 2, 2\)"),
    "npy volume of 2 dims": (lambda t: _folder(t, {"a/0.npy": np.zeros((5, 6))}),
                             r"0\.npy' has shape \(5, 6\) \(2 dims\); expected one volume \(D, H, W\) or \(C, D, H, W\)"),
    "npy volumes of different shapes": (
        lambda t: _folder(t, {"a/0.npy": V, "a/1.npy": V, "b/0.npy": np.zeros((4, 5, 7))}),
        r"b/0\.npy' has shape \(1, 4, 5, 7\) \(C, D, H, W\) but '[^']*a/0\.npy' has \(1, 4, 5, 6\)"),
    "npz without y": (lambda t: _npz(t, x=_good(), labels=Y6), r"has no y array \(arrays found: labels, x\)"),
    "npz without x or y": (lambda t: _npz(t, data=_good()), r"has no x and y array \(arrays found: data\)"),
    "npz x_test without y_test": (lambda t: _npz(t, x=_good(), y=Y6, x_test=_good()),
                                  r"has x_test but no y_test \(arrays found: x, x_test, y\)"),
    "npz x and y of different lengths": (lambda t: _npz(t, x=_good(), y=Y6[:5]),
                                         r"x has 6 volumes but y has 5 labels"),
    "npz test of another shape": (lambda t: _npz(t, x=_good(), y=Y6, x_test=_good(2, (4, 5, 7)), y_test=Y6[:2]),
                                  r"x_test volumes have shape \(1, 4, 5, 7\) \(C, D, H, W\) but x has \(1, 4, 5, 6\)"),
    "npz test class not in train": (lambda t: _npz(t, x=_good(), y=Y6, x_test=_good(2), y_test=np.array([0, 7])),
                                    r"test split of .* holds class '7', which the training split lacks"),
    "npz strings as volumes": (lambda t: _npz(t, x=np.full((6, 2, 2, 2), "a"), y=Y6),
                               r"x has dtype <U1, not numbers"),
    "npz complex volumes": (lambda t: _npz(t, x=_good().astype(np.complex64), y=Y6), r"x has dtype complex64"),
    "npz NaN": (lambda t: _npz(t, x=np.where(np.arange(6)[:, None, None, None] == 4, np.nan, _good()), y=Y6),
                r"x holds 120 NaN/inf value\(s\) \(first at index \(4, 0, 0, 0\)\); volumes must be finite"),
    "npy inf": (lambda t: _folder(t, {"a/0.npy": V, "a/1.npy": np.full((4, 5, 6), np.inf)}),
                r"a/1\.npy' holds 120 NaN/inf value"),
    "not an npz": (lambda t: (t / "bad.npz").write_text("hello") and t / "bad.npz", r"cannot read .*bad\.npz"),
    "empty folder": (lambda t: _folder(t, {}), r"volume dataset folder .*vols' is empty"),
    "npy files but no class folders": (lambda t: _folder(t, {"0.npy": V}), r"holds 1 \.npy file\(s\) but no class subfolders"),
    "class folder without volumes": (lambda t: _folder(t, {"a/0.npy": V, "b/notes.txt": "not a volume"}),
                                     r"class folder .*vols/b' holds no \.npy volumes"),
    "class too small for a split": (lambda t: _npz(t, x=_good(), y=np.array([0, 0, 0, 0, 1, 1])),
                                    r"class '1' has 2 volume\(s\) in .*; a seeded train/val/test split needs at least 3 "
                                    r"per class"),
    "test folder without train": (lambda t: _folder(t, {"test/a/0.npy": V}), r"has test but no train/ folder"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_volume_input_is_one_user_error_line(case, tmp_path):
    make, expected = BAD[case]
    path = make(tmp_path)
    with pytest.raises(UserError, match=expected) as err:
        volumes.load_path(path)
    assert "\n" not in str(err.value)
