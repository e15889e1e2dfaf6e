"""Defects of issue 24 in evaluate and predict, each checked against a real file or a hand-made one."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from resnet_any.errors import run_cli

PLANE = Path("/work/shared/data/ucr/Plane")


@pytest.fixture(scope="module")
def plane_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A series run on a copy of the UCR Plane files: 105 training series of 7 classes, so the recipe merges
    validation into training (select train_loss)."""
    from resnet_any.train import TrainConfig, train

    if not PLANE.is_dir():
        pytest.skip("the shared UCR Plane files are not here")
    root = tmp_path_factory.mktemp("plane")
    data = root / "Plane"
    shutil.copytree(PLANE, data)
    out = root / "run"
    train(TrainConfig(domain="series", dataset="Plane", data_dir=str(root), epochs=1, width=8, out=str(out),
                      quiet=True))
    return data, out


def test_evaluate_does_not_call_merged_validation_changed_files(plane_run) -> None:
    """The plan moved validation into training; the files are the same, so no warning."""
    from resnet_any.domains.weights import load_checkpoint
    from resnet_any.inference.evaluation import evaluate_checkpoint

    data, out = plane_run
    _, meta = load_checkpoint(out / "best.pt")
    assert meta["config"]["select"] == "train_loss" and meta["split_sizes"]["val"] == 0  # the case of the defect
    result = evaluate_checkpoint(out / "best.pt", device="cpu")
    assert result["split"] == "test" and result["n"] == 105
    assert "warning" not in result, result.get("warning")


def test_evaluate_still_warns_when_the_files_did_change(plane_run, tmp_path: Path) -> None:
    from resnet_any.inference.evaluation import evaluate_checkpoint

    data, out = plane_run
    changed = tmp_path / "Plane"
    shutil.copytree(data, changed)  # the same files in another folder, then ten training series fewer
    train_file = changed / "Plane_TRAIN.tsv"
    lines = train_file.read_text().splitlines(keepends=True)
    train_file.write_text("".join(lines[:-10]))
    ckpt = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
    ckpt["config"]["data_dir"] = str(tmp_path)
    torch.save(ckpt, tmp_path / "moved.pt")
    result = evaluate_checkpoint(tmp_path / "moved.pt", device="cpu")
    assert "the files changed" in result["warning"]
    assert "training's held 105/0/105" in result["warning"] and "95/0/105" in result["warning"]


def _unreadable_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Hand-made files that are not checkpoints, and the words their message must use."""
    import zipfile

    import numpy as np
    from PIL import Image

    good = tmp / "good.pt"
    torch.save({"w": torch.zeros(3)}, good)
    raw = good.read_bytes()
    legacy = tmp / "legacy.pt"
    torch.save({"w": torch.zeros(3)}, legacy, _use_new_zipfile_serialization=False)
    files = {"notes.txt": (b"some notes\nabout the run\n", "a text file"),
             "config.json": (b'{"epochs": 3}', "a JSON file"),
             "half.pt": (raw[: len(raw) // 2], "cut short or damaged"),
             "old_half.pt": (legacy.read_bytes()[:300], "ends too soon"),
             "random.bin": (bytes(range(7, 256)) * 4, "not a format torch.save writes"),
             "plain.pkl": (__import__("pickle").dumps([1, 2]), "a Python pickle")}
    out = {}
    for name, (data, words) in files.items():
        (tmp / name).write_bytes(data)
        out[name] = (tmp / name, words)
    Image.new("RGB", (4, 4)).save(tmp / "picture.png")
    out["picture.png"] = (tmp / "picture.png", "a PNG image")
    np.savez(tmp / "arrays.npz", x=np.zeros(3))
    out["arrays.npz"] = (tmp / "arrays.npz", "a NumPy .npz archive")
    with zipfile.ZipFile(tmp / "other.zip", "w") as z:
        z.writestr("readme.txt", "hi")
    out["other.zip"] = (tmp / "other.zip", "a zip archive of other files")
    return out


def test_unreadable_checkpoints_say_what_the_file_is(tmp_path: Path) -> None:
    """Before: "... is not a readable PyTorch file: Unsupported operand 101" (or a traceback for some text)."""
    from resnet_any.errors import UserError
    from resnet_any.files import read_checkpoint

    for name, (path, words) in _unreadable_files(tmp_path).items():
        with pytest.raises(UserError) as e:
            read_checkpoint(path)
        msg = str(e.value)
        assert "not a readable PyTorch file" in msg and words in msg, (name, msg)
        assert "operand" not in msg and "miniz" not in msg and "inline_container" not in msg, (name, msg)


def test_evaluate_and_predict_name_a_text_file_given_as_checkpoint(tmp_path: Path, capsys) -> None:
    from resnet_any import evaluate, predict

    notes = tmp_path / "notes.txt"
    notes.write_text("every run trains for 3 epochs\n")
    for main, argv in ((evaluate.main, ["--checkpoint", str(notes)]),
                       (predict.main, ["--checkpoint", str(notes), str(notes)])):
        assert run_cli(main, argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is not a readable PyTorch file: it holds text (a text file?)" in err, err


def test_evaluate_draws_the_confusion_matrix_beside_the_checkpoint(plane_run, tmp_path: Path, monkeypatch,
                                                                   capsys) -> None:
    """Before: into the current folder, wherever the user happened to be."""
    from resnet_any import evaluate

    data, out = plane_run
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert run_cli(evaluate.main, ["--checkpoint", str(out / "best.pt"), "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert Path(result["confusion_png"]) == out / "confusion_Plane_test.png"
    assert (out / "confusion_Plane_test.png").read_bytes()[:4] == b"\x89PNG" and not list(elsewhere.iterdir())
    # --out still decides
    assert run_cli(evaluate.main, ["--checkpoint", str(out / "best.pt"), "--out", str(tmp_path / "pngs")]) == 0
    assert (tmp_path / "pngs" / "confusion_Plane_test.png").is_file()


SHIPPED = Path(__file__).resolve().parents[1] / "resnet_any" / "assets" / "mnist_resnet.pt"


def _predict_json(argv: list[str], capsys) -> list[dict]:
    from resnet_any import predict

    assert run_cli(predict.main, argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_predict_a_folder_of_images(tmp_path: Path, capsys) -> None:
    """Before: "image file 'folder' does not exist". Now every image under it, sorted and recursive, as a folder
    dataset reads it (hidden files and other files skipped)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits().images  # 8x8, 0..16
    folder = tmp_path / "mine"
    for rel, i in (("b/two.png", 2), ("a/one.png", 1), ("zero.png", 0), (".hidden.png", 3)):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((digits[i] * 15).astype("uint8"), mode="L").save(folder / rel)
    (folder / "notes.txt").write_text("not an image")
    rows = _predict_json(["--checkpoint", str(SHIPPED), "--json", "--top-k", "2", str(folder)], capsys)
    # the folder dataset's walk: a folder's own files (sorted), then its subfolders (sorted)
    expected = [str(folder / "zero.png"), str(folder / "a" / "one.png"), str(folder / "b" / "two.png")]
    assert [r["file"] for r in rows] == expected
    one_by_one = _predict_json(["--checkpoint", str(SHIPPED), "--json", "--top-k", "2", *expected], capsys)
    assert rows == one_by_one
    (tmp_path / "empty").mkdir()
    from resnet_any import predict

    assert run_cli(predict.main, ["--checkpoint", str(SHIPPED), str(tmp_path / "empty")]) == 2
    assert "holds no image files" in capsys.readouterr().err


def test_predict_a_headed_csv_as_dataset_reads_it(plane_run, tmp_path: Path, capsys) -> None:
    """Before: "line 1: series values must be numbers ... read by --dataset FILE". Now it is read that way."""
    import csv
    import io

    data, out = plane_run
    lines = (data / "Plane_TEST.tsv").read_text().splitlines()[:5]
    cells = [line.split("\t") for line in lines]
    headed = tmp_path / "headed.csv"
    headed.write_text("\n".join([",".join(["label"] + [f"t{i}" for i in range(len(cells[0]) - 1)])]
                                + [",".join(c) for c in cells]) + "\n")
    bare = tmp_path / "bare.csv"  # the same series without labels or header: one a row
    bare.write_text("\n".join(",".join(c[1:]) for c in cells) + "\n")
    ckpt = ["--checkpoint", str(out / "best.pt"), "--top-k", "1"]
    rows = _predict_json([*ckpt, "--json", str(headed)], capsys)
    assert [r["row"] for r in rows] == [2, 3, 4, 5, 6]  # file lines, as the table reader counts them
    plain = _predict_json([*ckpt, "--json", str(bare)], capsys)
    for r, p in zip(rows, plain, strict=True):
        assert r["top"][0]["label"] == p["top"][0]["label"]
        assert r["top"][0]["prob"] == pytest.approx(p["top"][0]["prob"], abs=1e-5)
    from resnet_any import predict

    assert run_cli(predict.main, [*ckpt, "--dataset", str(headed)]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [t["predicted"] for t in table] == [r["top"][0]["label"] for r in rows]
