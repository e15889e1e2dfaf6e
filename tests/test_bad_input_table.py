"""Issue 7's bad input table: each case across the CLI, the loaders and the app ends in a clear error or a documented recovery."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_any.app.inference import SHIPPED_FILE, open_upload, resolve_checkpoint
from resnet_any.data import load_dataset, preprocess_image
from resnet_any.data.graphs import validate_graph
from resnet_any.data.series import preprocess_series, read_ucr_tsv
from resnet_any.errors import UserError
from resnet_any.predict import open_image, read_series_csv
from resnet_any.train import TrainConfig, Trainer
from resnet_any.files import save_checkpoint
from resnet_any.domains.weights import init_from, load_checkpoint
from resnet_any.errors import run_cli

RGB32 = {"image_size": 32, "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3, "ink": "dark"}
GRAY8 = {"image_size": 8, "channels": 1, "mean": [0.5], "std": [0.25], "ink": "light"}
SERIES = {"channels": 1, "length": 10, "znorm": True}


def png(tmp: Path, name: str, img: Image.Image, **save: Any) -> Path:
    path = tmp / name
    img.save(path, **save)
    return path


def corrupt(tmp: Path, name: str, fmt: str) -> Path:
    path = png(tmp, name, Image.new("RGB", (64, 64), (200, 10, 10)), format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # truncated mid-stream, as an interrupted download is
    return path


def text_png(tmp: Path) -> Path:
    path = tmp / "notes.png"
    path.write_text("this is not an image\n")
    return path


def empty(tmp: Path, name: str = "empty.png") -> Path:
    path = tmp / name
    path.write_bytes(b"")
    return path


def bomb(tmp: Path) -> Path:
    # 1-bit 12000x12000 = 144 megapixels: above PIL's 2 x 89.5 MP bomb limit, yet 18 MB to make and ~20 kB on disk
    return png(tmp, "bomb.png", Image.new("1", (12000, 12000)))


def folder(tmp: Path, classes: list[str], per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    root = tmp / "tree"
    for c in classes:
        (root / "train" / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / "train" / c / f"{i}.png")
    return root


class G:
    """A minimal graph (torch_geometric's Data has the same attributes)."""

    def __init__(self, edges: list[list[int]], n: int) -> None:
        self.edge_index = torch.tensor(edges, dtype=torch.long).reshape(2, -1)
        self.num_nodes = n
        self.x = torch.ones(n, 3)


def shape_of(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def small_trainer(tmp: Path, **kw: Any) -> Trainer:
    return Trainer(TrainConfig(domain="image", width=4, epochs=1, device="cpu", out=str(tmp / "run"), **kw))


def ckpt_of_other_model(tmp: Path) -> Path:
    """A resnet_any checkpoint whose weights are a 2-class series model's, labelled as an image resnet."""
    from resnet_any import create_model

    state = {"format": "resnet_any", "model_name": "resnet18",
             "model_kwargs": {"num_classes": 10, "in_channels": 1, "width": 4},
             "model": create_model("series_resnet", num_classes=2, in_channels=1).state_dict()}
    path = tmp / "other.pt"
    save_checkpoint(path, state)
    return path


def cli(main: Callable, argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """Run an entry point in-process as the console script would; returns its stderr, asserting exit 2 in one line."""
    code = run_cli(main, argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), (code, err)
    return err


def predict_cli(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    from resnet_any.predict import main

    return cli(main, ["--checkpoint", str(SHIPPED_FILE), *argv], capsys)


# name -> (action(tmp, capsys), expected): a str is a regex the UserError (or CLI line) must match;
# a callable checks the documented recovery on what the action returned.
CASES: dict[str, tuple[Callable[[Path, Any], Any], Any]] = {
    # images: the predict CLI's and the app's loaders
    "corrupt JPEG (predict loader)": (lambda t, c: open_image(corrupt(t, "a.jpg", "JPEG")), r"cannot read image"),
    "corrupt PNG (app upload)": (lambda t, c: open_upload(corrupt(t, "a.png", "PNG")), r"corrupt or truncated"),
    "zero-byte file (app upload)": (lambda t, c: open_upload(empty(t)), r"empty \(0 bytes\)"),
    "zero-byte file (predict CLI)": (lambda t, c: predict_cli([str(empty(t))], c), r"cannot read image"),
    "text named .png (app upload)": (lambda t, c: open_upload(text_png(t)), r"not an image this app can read"),
    "text named .png (predict CLI)": (lambda t, c: predict_cli([str(text_png(t))], c), r"cannot read image .*notes"),
    "decompression bomb (predict loader)": (lambda t, c: open_image(bomb(t)), r"too large to decode safely"),
    "decompression bomb (app upload)": (lambda t, c: open_upload(bomb(t)), r"limit is 40 megapixels"),
    "16-bit PNG into a gray model": (
        lambda t, c: preprocess_image(Image.fromarray(np.full((20, 20), 10000, np.uint16)), GRAY8),
        # 10000/65535 of full scale is 39/255: scaled down, not clipped to 255
        lambda x: shape_of(x) == (1, 8, 8) and x.dtype == torch.uint8 and 35 <= int(x.max()) <= 43),
    "CMYK JPEG into an RGB model": (
        lambda t, c: preprocess_image(open_image(png(t, "c.jpg", Image.new("CMYK", (40, 30), (0, 255, 255, 0)))),
                                      RGB32),
        lambda x: shape_of(x) == (3, 32, 32) and int(x[0].float().mean()) > int(x[1].float().mean())),  # red stays red
    "palette PNG": (lambda t, c: preprocess_image(open_image(png(t, "p.png", Image.new("P", (9, 9), 3))), RGB32),
                    lambda x: shape_of(x) == (3, 32, 32)),
    "RGBA PNG": (lambda t, c: preprocess_image(open_upload(png(t, "r.png", Image.new("RGBA", (9, 9), (0, 0, 0, 0)))),
                                               RGB32),
                 lambda x: shape_of(x) == (3, 32, 32)),
    "grayscale into an RGB model": (lambda t, c: preprocess_image(Image.new("L", (16, 16), 128), RGB32),
                                    lambda x: shape_of(x) == (3, 32, 32) and torch.equal(x[0], x[1])),
    "RGB into a grayscale model": (lambda t, c: preprocess_image(Image.new("RGB", (16, 16), (10, 200, 30)), GRAY8),
                                   lambda x: shape_of(x) == (1, 8, 8)),
    "mixed modes through the predict CLI": (
        lambda t, c: __import__("resnet_any.predict", fromlist=["main"]).main(
            ["--checkpoint", str(SHIPPED_FILE), str(png(t, "m1.png", Image.new("RGBA", (5, 7)))),
             str(png(t, "m2.png", Image.fromarray(np.zeros((9, 9), np.uint16)))),
             str(png(t, "m3.jpg", Image.new("CMYK", (12, 12))))]),
        lambda code: code == 0),
    # series
    "series with interior NaN": (lambda t, c: preprocess_series([1, 2, np.nan, 4], SERIES),
                                 lambda x: shape_of(x) == (1, 10) and bool(torch.isfinite(x).all())),
    "series all NaN": (lambda t, c: preprocess_series([np.nan] * 5, SERIES), r"no finite values"),
    "series with ragged rows": (lambda t, c: preprocess_series([[1, 2, 3], [1, 2]], SERIES), r"must be numbers"),
    "series of strings": (lambda t, c: preprocess_series(["a", "b"], SERIES), r"must be numbers"),
    "series CSV with strings (predict loader)": (
        lambda t, c: read_series_csv(_write(t / "s.csv", "1,2,x\n")), r"line 1: series values must be numbers"),
    "series CSV ragged for a 2-channel model": (
        lambda t, c: read_series_csv(_write(t / "r.csv", "1,2,3\n1,2\n"), channels=2), r"2 rows of equal length"),
    "UCR TSV row with a label only": (lambda t, c: read_ucr_tsv(_write(t / "X_TRAIN.tsv", "1\t0.1\t0.2\n2\n")),
                                      r"line 2: expected a label and at least one value"),
    "UCR TSV with a non-number": (lambda t, c: read_ucr_tsv(_write(t / "Y_TRAIN.tsv", "1\t0.1\tabc\n")),
                                  r"line 1: bad value 'abc'"),
    # graphs
    "graph edge index out of range": (lambda t, c: validate_graph(G([[0, 1], [1, 5]], 3), "g"),
                                      r"edge index 5 out of range for 3 nodes"),
    "graph negative edge index": (lambda t, c: validate_graph(G([[0, -1], [1, 2]], 3), "g"), r"edge index -1"),
    "graph with no edges": (lambda t, c: _no_edge_forward(), lambda y: shape_of(y) == (4, 2)),
    # datasets and the trainer
    "empty dataset": (lambda t, c: load_dataset("image", "folder", str(_mkdir(t / "nothing"))), r"no .*found|empty"),
    "single-class dataset": (lambda t, c: Trainer(TrainConfig(domain="image", dataset="folder", device="cpu",
                                                              data_dir=str(folder(t, ["only"])), width=4)),
                             r"has only one class \(only\); a classifier needs at least two"),
    "batch size larger than the dataset": (lambda t, c: small_trainer(t, batch_size=100_000),
                                           lambda tr: tr.steps_per_epoch == 1),
    "unknown config key": (lambda t, c: TrainConfig.from_dict({"epochs": 1, "learning_rate": 0.1}),
                           r"unknown key 'learning_rate'"),
    "unknown config key (train CLI)": (
        lambda t, c: cli(__import__("resnet_any.train.cli", fromlist=["main"]).main,
                         ["--config", str(_write(t / "c.yaml", "epochs: 1\nlr_max: 2\n"))], c),
        r"unknown key 'lr_max'"),
    # checkpoints of another model or class count
    "checkpoint of another class count via --init": (
        lambda t, c: init_from(__import__("resnet_any").create_model("resnet18", num_classes=3, in_channels=1,
                                                                      width=16, stem="cifar"), SHIPPED_FILE),
        lambda report: report["fresh_head"] and report["loaded"] > 0),
    "checkpoint of another model via --init": (
        lambda t, c: init_from(__import__("resnet_any").create_model("resnet18", num_classes=10, in_channels=1,
                                                                      width=4), ckpt_of_other_model(t)),
        r"does not fit this model|shares no weights"),
    "checkpoint of another model via load_checkpoint": (lambda t, c: load_checkpoint(ckpt_of_other_model(t)),
                                                        r"do not fit model 'resnet18'"),
    "checkpoint of another model (evaluate CLI)": (
        lambda t, c: cli(__import__("resnet_any.evaluate", fromlist=["main"]).main,
                         ["--checkpoint", str(ckpt_of_other_model(t))], c), r"do not fit model"),
    "app checkpoint outside the runs dir": (lambda t, c: resolve_checkpoint("../../etc/passwd.pt", t / "runs"),
                                            r"not one of the listed models"),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _no_edge_forward() -> torch.Tensor:
    """A graph of isolated nodes is valid: validation passes and the model still classifies each node."""
    from resnet_any import create_model

    g = G([], 4)
    validate_graph(g, "g")
    model = create_model("gcn_resnet", num_classes=2, in_channels=3).eval()
    with torch.no_grad():
        return model(g.x, g.edge_index)


def test_table_has_25_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    action, expected = CASES[name]
    if isinstance(expected, str):
        try:
            result = action(tmp_path, capsys)
        except UserError as e:
            message = " ".join(str(e).split())
            assert re.search(expected, message), message
            assert "Traceback" not in message
            return
        # CLI cases return their one error line
        assert isinstance(result, str) and re.search(expected, result), (name, result)
    else:
        result = action(tmp_path, capsys)
        assert expected(result), (name, result)
