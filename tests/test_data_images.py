"""Image datasets on real data (digits, MNIST, CIFAR-10 JPEGs) and the preprocessing shared with inference."""
from __future__ import annotations

import gzip
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_any.data import augment, list_datasets, load_dataset, normalize, preprocess_image
from resnet_any.errors import UserError

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _class_counts(ds, k: int) -> np.ndarray:
    return np.bincount(ds.y.numpy(), minlength=k)


# ---------------------------------------------------------------- digits (embedded default)

def test_digits_default_split_is_complete_stratified_and_seeded(tmp_path):
    from sklearn.datasets import load_digits

    s = load_dataset("image", cache_dir=tmp_path)
    assert s.name == "digits" and s.layout == "samples" and s.num_classes == 10
    assert len(s.train) + len(s.val) + len(s.test) == 1797
    truth = np.bincount(load_digits().target, minlength=10)
    parts = [_class_counts(d, 10) for d in (s.train, s.val, s.test)]
    assert (sum(parts) == truth).all()
    # Stratified: every class contributes its share (20%) to test, within rounding.
    assert np.abs(parts[2] - 0.2 * truth).max() <= 1
    x, y = s.train[0]
    assert x.dtype == torch.uint8 and x.shape == (1, 8, 8) and isinstance(y, int)
    assert s.meta["image_size"] == 8 and s.meta["channels"] == 1 and s.meta["ink"] == "light"
    assert s.meta["augment"] == "none"
    # Train mean on the 0-1 scale agrees with sklearn's 0..16 pixel values.
    assert s.meta["mean"][0] == pytest.approx(load_digits().images.mean() / 16, abs=0.01)
    again = load_dataset("image", "DIGITS", cache_dir=tmp_path)
    assert torch.equal(again.test.x, s.test.x)
    other = load_dataset("image", "digits", seed=1, cache_dir=tmp_path)
    assert not torch.equal(other.test.x, s.test.x)


# ---------------------------------------------------------------- MNIST

MNIST_TEST_HISTOGRAM = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_from_gzipped_copy_of_shared_data(shared_data, tmp_path):
    root = tmp_path / "mnist"
    shutil.copytree(shared_data / "MNIST", root / "MNIST")
    s = load_dataset("image", "mnist", str(root), cache_dir=tmp_path / "cache")
    assert len(s.train) + len(s.val) == 60000 and len(s.test) == 10000
    assert len(s.val) == 12000
    assert s.test.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert _class_counts(s.test, 10).tolist() == MNIST_TEST_HISTOGRAM
    assert s.train.x.shape[1:] == (1, 28, 28)
    assert s.meta["mean"][0] == pytest.approx(0.1307, abs=0.002)
    assert s.meta["std"][0] == pytest.approx(0.3081, abs=0.002)
    # The gz files were read in place, never unpacked next to them.
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(
        p.name for p in (shared_data / "MNIST" / "raw").iterdir())


def test_mnist_unzipped_raw_dir_given_directly(shared_data, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for gz in (shared_data / "MNIST" / "raw").glob("*.gz"):
        (raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    s = load_dataset("image", "MNIST", str(raw), cache_dir=tmp_path / "cache")
    assert len(s.test) == 10000 and s.test.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_mnist_corrupt_idx_is_a_user_error(shared_data, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(shared_data / "MNIST" / "raw", raw)
    victim = raw / "t10k-labels-idx1-ubyte.gz"
    data = gzip.decompress(victim.read_bytes())
    victim.chmod(0o644)
    victim.write_bytes(gzip.compress(data[:-100]))
    with pytest.raises(UserError, match="corrupt IDX file"):
        load_dataset("image", "mnist", str(raw), cache_dir=tmp_path / "cache")


# ---------------------------------------------------------------- folders and manifests (CIFAR-10 JPEGs)

def test_folder_tree_skips_unreadable_files_with_one_counted_warning(cifar_tree, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(cifar_tree, tree)
    (tree / "train" / "cat" / "zz_corrupt.jpg").write_bytes((tree / "train" / "cat").iterdir().__next__().read_bytes()[:50])
    (tree / "train" / "dog" / "zz_notes.png").write_text("this is text, not a PNG")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable image file") as record:
        s = load_dataset("image", "folder", str(tree), cache_dir=tmp_path / "cache")
    assert len([w for w in record if "unreadable" in str(w.message)]) == 1
    assert s.class_names == CIFAR_CLASSES
    assert len(s.train) + len(s.val) == 200 and len(s.test) == 100
    assert (_class_counts(s.test, 10) == 10).all()
    assert s.meta["image_size"] == 32 and s.meta["channels"] == 3 and s.meta["augment"] == "crop_flip"
    # Pixels are exactly what PIL decodes: first test image is the first file of the first class.
    first = sorted((tree / "test" / "airplane").iterdir())[0]
    expected = torch.from_numpy(np.array(Image.open(first).convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(s.test.x[0], expected)
    # Second load comes from the decoded cache and still reports the skipped files.
    with pytest.warns(UserWarning, match="skipped 2"):
        again = load_dataset("image", "folder", str(tree), cache_dir=tmp_path / "cache")
    assert torch.equal(again.train.x, s.train.x)


def test_single_folder_is_split_stratified_and_archives_load(cifar_tree, tmp_path):
    s = load_dataset("image", "folder", str(cifar_tree / "train"), cache_dir=tmp_path / "cache", image_size=16)
    assert len(s.train) + len(s.val) + len(s.test) == 200
    assert (_class_counts(s.test, 10) == 4).all()
    assert s.train.x.shape[1:] == (3, 16, 16) and s.meta["image_size"] == 16
    archive = tmp_path / "archive" / "tree.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(cifar_tree, arcname="cifar10")
    a = load_dataset("image", "cifar10", str(archive.parent), cache_dir=tmp_path / "cache")
    assert a.name == "cifar10" and len(a.test) == 100 and a.class_names == CIFAR_CLASSES


def test_manifest_rows_labels_and_missing_files(cifar_tree, tmp_path):
    rows = []
    for cls in ("cat", "dog", "ship"):
        for f in sorted((cifar_tree / "train" / cls).iterdir()):
            rows.append({"file": str(Path("..") / "data" / f.relative_to(cifar_tree)), "label": cls})
    shutil.copytree(cifar_tree, tmp_path / "data")
    rows.append({"file": "../data/train/cat/missing.jpg", "label": "cat"})
    manifest = tmp_path / "lists" / "all.jsonl"
    manifest.parent.mkdir()
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        s = load_dataset("image", "manifest", str(manifest), cache_dir=tmp_path / "cache")
    assert s.class_names == ["cat", "dog", "ship"]
    assert len(s.train) + len(s.val) + len(s.test) == 60
    assert (_class_counts(s.test, 3) == 4).all()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"file": "a.png", "label": 1}\n{"file": "b.png", label: 2}\n')
    with pytest.raises(UserError, match="line 2"):
        load_dataset("image", "manifest", str(bad), cache_dir=tmp_path / "cache")


def test_manifest_split_column(cifar_tree, tmp_path):
    lines = []
    for split in ("train", "test"):
        for i, cls in enumerate(("bird", "frog")):
            for f in sorted((cifar_tree / split / cls).iterdir()):
                lines.append(json.dumps({"file": str(f), "label": i, "split": split}))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines))
    s = load_dataset("image", "manifest", str(tmp_path), cache_dir=tmp_path / "cache")
    assert s.class_names == ["0", "1"] and len(s.test) == 20 and len(s.train) + len(s.val) == 40


# ---------------------------------------------------------------- preprocess_image, normalize, augment

RGB32 = {"image_size": 32, "channels": 3, "ink": "dark", "mean": [0.5] * 3, "std": [0.25] * 3}
GRAY8 = {"image_size": 8, "channels": 1, "ink": "light", "mean": [0.3], "std": [0.37]}


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "CMYK", "I;16", "I", "F", "L", "LA", "1", "YCbCr"])
@pytest.mark.parametrize("meta", [RGB32, GRAY8], ids=["rgb32", "gray8"])
def test_preprocess_image_any_mode_gives_model_shape(mode, meta):
    img = Image.new("RGB", (45, 30), (200, 30, 90))
    img = img.convert(mode) if mode not in ("I;16", "I", "F") else Image.new(mode, (45, 30), 1000)
    x = preprocess_image(img, meta)
    assert x.dtype == torch.uint8
    assert x.shape == (meta["channels"], meta["image_size"], meta["image_size"])


def test_preprocess_image_values_hand_computed():
    # 16-bit gray maps by value / 257: full scale is white, mid scale is mid gray.
    assert (preprocess_image(Image.fromarray(np.full((32, 32), 65535, np.uint16)), RGB32) == 255).all()
    assert (preprocess_image(Image.fromarray(np.full((32, 32), 257 * 100, np.uint16)), RGB32) == 100).all()
    # Light ink: a white field reads as background and is inverted to black, as in MNIST/digits.
    assert (preprocess_image(Image.fromarray(np.full((8, 8), 65535, np.uint16)), GRAY8) == 0).all()
    # A transparent photo composites on white.
    clear = Image.new("RGBA", (32, 32), (10, 20, 30, 0))
    assert (preprocess_image(clear, RGB32) == 255).all()
    # Light ink (digits): black strokes on a transparent canvas become bright strokes on black.
    canvas = np.zeros((8, 8, 4), np.uint8)
    canvas[2:6, 3:5] = (0, 0, 0, 255)
    x = preprocess_image(Image.fromarray(canvas, "RGBA"), GRAY8)[0]
    assert (x[2:6, 3:5] == 255).all() and int(x.sum()) == 255 * 8
    # Non-square input: shorter side to size, centre crop (aspect ratio kept).
    half = np.zeros((32, 64), np.uint8)
    half[:, 32:] = 255
    y = preprocess_image(Image.fromarray(half).convert("RGB"), {**RGB32, "image_size": 16})
    assert (y[:, :, :7] == 0).all() and (y[:, :, 9:] == 255).all()


def test_normalize_hand_computed():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    x[:, 1] = 0
    out = normalize(x, RGB32)
    assert out.dtype == torch.float32
    assert torch.allclose(out[:, 0], torch.tensor(2.0)) and torch.allclose(out[:, 1], torch.tensor(-2.0))


def test_augment_is_crop_of_padded_input_or_its_exact_mirror():
    meta = {**RGB32, "augment": "crop_flip"}
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    out = augment(x, meta, generator=g)
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert torch.equal(out, augment(x, meta, generator=torch.Generator().manual_seed(0)))
    pad = 4
    xp = torch.nn.functional.pad(x, (pad,) * 4)
    flipped = 0
    for i in range(len(x)):
        matches = [(oy, ox, f) for oy in range(2 * pad + 1) for ox in range(2 * pad + 1) for f in (False, True)
                   if torch.equal(out[i], (lambda c: c.flip(-1) if f else c)(xp[i, :, oy:oy + 32, ox:ox + 32]))]
        assert len(matches) == 1, f"sample {i} is not a single crop/flip of its input"
        flipped += matches[0][2]
    assert 10 < flipped < 54  # both branches are taken
    assert augment(x, {**meta, "augment": "none"}) is x


def test_augment_flip_only_is_exact_mirror():
    # With the padding fully cropped back (offset == pad), the only change is the mirror.
    meta = {"image_size": 8, "augment": "crop_flip"}
    x = torch.arange(2 * 8 * 8, dtype=torch.uint8).view(2, 1, 8, 8)
    seen = set()
    for seed in range(200):
        out = augment(x, meta, generator=torch.Generator().manual_seed(seed))
        for i in range(2):
            if torch.equal(out[i], x[i].flip(-1)):
                seen.add("mirror")
            elif torch.equal(out[i], x[i]):
                seen.add("same")
    assert seen == {"mirror", "same"}


# ---------------------------------------------------------------- bad input

def test_unknown_names_and_missing_dirs_are_user_errors(tmp_path):
    assert list_datasets("image")[0] == "digits"
    with pytest.raises(UserError, match="digits.*mnist|mnist.*digits"):
        load_dataset("image", "imagenet-9000")
    with pytest.raises(UserError, match="image, series, graph"):
        load_dataset("audio")
    with pytest.raises(UserError, match="does not exist"):
        load_dataset("image", "folder", str(tmp_path / "nope"), cache_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty"):
        load_dataset("image", "mnist", str(tmp_path / "empty"), cache_dir=tmp_path)
    with pytest.raises(UserError, match="needs --data-dir"):
        load_dataset("image", "folder", cache_dir=tmp_path)
    # Offline (the test session forces it) a download-only set fails at once, saying where files go.
    with pytest.raises(UserError, match="cifar-10-batches-py"):
        load_dataset("image", "cifar10", cache_dir=tmp_path)
    with pytest.raises(UserError, match="val_fraction"):
        load_dataset("image", val_fraction=1.5)


# ---------------------------------------------------------------- module split (pure moves)

def test_split_modules_hold_the_moved_code_and_images_re_exports_it():
    import importlib

    import resnet_any.data as data
    from resnet_any.data import archives, images, preprocess

    # Not `from resnet_any.data import augment`: that name is the re-exported function, which shadows the module.
    augment_module = importlib.import_module("resnet_any.data.augmentation")

    # resnet_any.data and images.py hand out the very objects the new modules define.
    assert images.preprocess_image is preprocess.preprocess_image is data.preprocess_image
    assert images.normalize is preprocess.normalize is data.normalize
    assert images.augment is augment_module.augment is data.augment
    assert callable(images.read_idx)
    assert archives.ARCHIVE_SUFFIXES == (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")
    for module in (images, preprocess, augment_module, archives):
        assert module.__doc__ and len(module.__doc__.strip()) > 40


def test_archives_detect_suffixes_and_refuse_members_outside_the_folder(tmp_path):
    from resnet_any.data.archives import archive_stem, extract, is_archive

    payload = tmp_path / "payload.txt"
    payload.write_text("x")
    good = tmp_path / "Good.TAR.GZ"
    with tarfile.open(good, "w:gz") as tar:
        tar.add(payload, arcname="inner/payload.txt")
    assert is_archive(good) and not is_archive(payload) and not is_archive(tmp_path)
    assert archive_stem(good) == "Good" and archive_stem(tmp_path / "a.b.zip") == "a.b"
    out = extract(good, tmp_path / "cache")
    assert (out / "inner" / "payload.txt").read_text() == "x"
    assert extract(good, tmp_path / "cache") == out  # once: the second call reuses the extraction
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        tar.add(payload, arcname="../escaped.txt")
    with pytest.raises(UserError, match="cannot extract archive .*evil.tar"):
        extract(evil, tmp_path / "cache")
    assert not (tmp_path / "cache" / "extracted" / "escaped.txt").exists()


# ---------------------------------------------------------------- CSV manifests and load_path

def _csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_csv_manifest_matches_the_jsonl_one(cifar_tree, tmp_path):
    from resnet_any.data.images import load_path

    shutil.copytree(cifar_tree, tmp_path / "data")
    rows = [(str(Path("..") / "data" / f.relative_to(cifar_tree)), cls)
            for cls in ("cat", "dog", "ship") for f in sorted((cifar_tree / "train" / cls).iterdir())]
    jsonl = tmp_path / "lists" / "pets.jsonl"
    _csv(jsonl, "\n".join(json.dumps({"file": f, "label": c}) for f, c in rows))
    # Mixed-case, padded header, a BOM (as Excel writes), an extra column and a trailing all-empty row.
    csv = _csv(tmp_path / "lists" / "pets.csv",
               "\ufeffFile, Label ,note\n" + "".join(f"{f},{c},x\n" for f, c in rows) + ",,\n")
    a = load_dataset("image", "manifest", str(jsonl), cache_dir=tmp_path / "cache")
    b = load_path(csv, cache_dir=tmp_path / "cache")
    assert b.name == "pets" and a.name == "manifest"
    assert b.class_names == a.class_names == ["cat", "dog", "ship"]
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(a, split).x, getattr(b, split).x)
        assert torch.equal(getattr(a, split).y, getattr(b, split).y)
    assert len(b.train) + len(b.val) + len(b.test) == 60 and (_class_counts(b.test, 3) == 4).all()
    # A folder holding one *.csv (and no *.jsonl) is a manifest too.
    alone = tmp_path / "alone"
    _csv(alone / "list.csv", "file,label\n" + "".join(f"../data/{Path(f).relative_to('../data')},{c}\n" for f, c in rows))
    c = load_dataset("image", "manifest", str(alone), cache_dir=tmp_path / "cache")
    assert torch.equal(c.test.x, b.test.x)


def test_csv_manifest_split_column(cifar_tree, tmp_path):
    from resnet_any.data.images import load_path

    lines = ["file,label,split"]
    for split in ("train", "test"):
        for cls in ("bird", "frog"):
            lines += [f"{f},{cls},{split.upper()}" for f in sorted((cifar_tree / split / cls).iterdir())]
    s = load_path(_csv(tmp_path / "given.csv", "\n".join(lines) + "\n"), cache_dir=tmp_path / "cache")
    assert s.name == "given" and s.class_names == ["bird", "frog"]
    assert len(s.test) == 20 and len(s.train) + len(s.val) == 40 and (_class_counts(s.test, 2) == 10).all()
    first_test = sorted((cifar_tree / "test" / "bird").iterdir())[0]
    assert torch.equal(s.test.x[0], torch.from_numpy(np.array(Image.open(first_test).convert("RGB"))).permute(2, 0, 1))


CSV_BAD = {
    "empty file": ("", r"'[^']*bad\.csv' is empty \(0 bytes\)"),
    "blank lines only": ("\n\n", r"bad\.csv' is empty \(no header row\)"),
    "header only": ("file,label\n", r"bad\.csv' has no rows"),
    # without a label column every other column is a target (manifests.py): only file and split leave none
    "no label column": ("file,split\na.png,train\n", r"has no 'label' column \(found columns: 'file', 'split'\)"),
    "no file column": ("path,y\na.png,1\n", r"has no 'file' column \(found columns: 'path', 'y'\)"),
    "no file or label column": ("split\ntrain\n", r"has no 'file' and no 'label' column \(found columns: 'split'\)"),
    "unknown split": ("file,label,split\na.png,1,train\nb.png,2,holdout\n",
                      r"bad\.csv' row 2 \(rows counted from 1 below the header\): unknown split 'holdout' in column "
                      r"'split'; valid: train, val, test"),
    "split on some rows only": ("file,label,split\na.png,1,train\nb.png,2,test\nc.png,1,\n",
                                r"gives \"split\" on some rows only \(row 1 has 'train', row 3 has none; rows counted "
                                r"from 1 below the header\)"),
    "no train rows": ("file,label,split\na.png,1,test\nb.png,2,val\n", r"has no train rows \(splits found: test, val\)"),
    "empty label": ("file,label\na.png,1\nb.png,\n", r"row 2 \(rows counted from 1 below the header\): empty 'label' "
                                                     r"value for 'b.png'"),
    "empty file cell": ("file,label\n,1\n", r"row 1 \(rows counted from 1 below the header\): empty 'file' value"),
    "row longer than the header": ("file,label\na.png,1\nb.png,2,3\n",
                                   r"cannot parse CSV manifest .*Expected 2 fields in line 3, saw 3 \(lines counted "
                                   r"from 1, the header included\)"),
}


@pytest.mark.parametrize("case", list(CSV_BAD))
def test_bad_csv_manifest_is_one_line_naming_file_row_or_column(case, tmp_path):
    from resnet_any.data.images import load_path

    text, expected = CSV_BAD[case]
    path = _csv(tmp_path / "bad.csv", text)
    with pytest.raises(UserError, match=expected) as err:
        load_path(path, cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert "\n" not in message and str(path) in message


def test_load_path_routes_folders_manifests_and_archives(cifar_tree, tmp_path):
    from resnet_any.data.images import load_path

    tree = tmp_path / "cifar_small"
    shutil.copytree(cifar_tree, tree)
    by_name = load_dataset("image", "folder", str(tree), cache_dir=tmp_path / "cache")
    by_path = load_path(tree, cache_dir=tmp_path / "cache")
    assert by_name.name == "folder" and by_path.name == "cifar_small"
    assert torch.equal(by_path.test.x, by_name.test.x) and torch.equal(by_path.train.y, by_name.train.y)
    assert load_dataset("image", str(tree), cache_dir=tmp_path / "cache").name == "cifar_small"  # path as --dataset
    archive = tmp_path / "packed.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="cifar_small")
    packed = load_path(archive, cache_dir=tmp_path / "cache")
    assert packed.name == "packed" and torch.equal(packed.test.x, by_name.test.x)
    jsonl = _csv(tmp_path / "frogs.jsonl", "\n".join(json.dumps({"file": str(f), "label": "frog"})
                                                    for f in sorted((tree / "train" / "frog").iterdir())))
    assert load_path(jsonl, cache_dir=tmp_path / "cache").name == "frogs"
    notes = _csv(tmp_path / "notes.txt", "hello")
    with pytest.raises(UserError, match=r"notes\.txt' as an image dataset \(a \.txt file\); accepted: a folder .*"
                                        r"\.jsonl or \.csv.*\.tar\.gz.*\.zip"):
        load_path(notes, cache_dir=tmp_path / "cache")
    with pytest.raises(UserError, match="does not exist"):
        load_path(tmp_path / "nowhere", cache_dir=tmp_path / "cache")


def test_manifest_rows_lists_a_manifests_rows_without_opening_an_image(tmp_path):
    from resnet_any.data.images import manifest_rows

    (tmp_path / "pets.csv").write_text("file,label,split\na.png,cat,train\nsub/b.png,dog,VALID\n")
    expected = [(tmp_path / "a.png", "cat", "train", "row 1"), (tmp_path / "sub" / "b.png", "dog", "val", "row 2")]
    assert manifest_rows(tmp_path / "pets.csv") == expected
    assert manifest_rows(tmp_path) == expected  # a folder holding one manifest
