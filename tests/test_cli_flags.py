"""Every command line built on errors.Parser matches flags whole and suggests the nearest one for a typo."""
from __future__ import annotations

import pytest

from resnet_any.errors import Parser, UserError


def test_a_prefix_is_not_taken_for_a_flag() -> None:
    """Before: `--epoch 3` silently meant `--epochs 3` (argparse's allow_abbrev)."""
    p = Parser(prog="demo")
    p.add_argument("--epochs", type=int)
    with pytest.raises(UserError, match=r"unrecognized arguments: --epoch 3; did you mean --epochs\?"):
        p.parse_args(["--epoch", "3"])
    assert p.parse_args(["--epochs", "3"]).epochs == 3


def test_no_suggestion_when_nothing_is_close() -> None:
    p = Parser(prog="demo")
    p.add_argument("--epochs", type=int)
    with pytest.raises(UserError) as e:
        p.parse_args(["--zzzzzz"])
    assert str(e.value) == "demo: unrecognized arguments: --zzzzzz"


@pytest.mark.parametrize("module, argv, hint", [
    ("resnet_any.train.cli", ["--domain", "image", "--epoch", "3"], "--epochs"),
    ("resnet_any.train.cli", ["--domain", "image", "--batchsize=8"], "--batch-size"),
    ("resnet_any.evaluate", ["--checkpoint", "x.pt", "--jsn"], "--json"),
    ("resnet_any.predict", ["--checkpoint", "x.pt", "--topk", "3"], "--top-k"),
    ("resnet_any.export", ["--checkpoint", "x.pt", "--out", "m.onnx", "--formt", "onnx"], "--format"),
    ("resnet_any.inspect", ["--model", "resnet18", "--input-siz", "3,32,32"], "--input-size"),
    ("resnet_any.explain.__main__", ["--checkpoint", "x.pt", "a.png", "--out", "o", "--methd", "cam"], "--method"),
    ("resnet_any.bench.__main__", ["speed", "--quick", "--batch-sz", "2"], "--batch-size"),
])
def test_every_command_line_suggests_the_flag(module: str, argv: list[str], hint: str) -> None:
    import importlib

    with pytest.raises(UserError, match=f"did you mean {hint}\\?"):
        importlib.import_module(module).build_parser().parse_args(argv)


def test_the_sweep_command_line_suggests_too(capsys) -> None:
    from resnet_any.sweep.cli import main

    assert main(["--config", "s.yaml", "--ot", "x"]) == 2
    assert "did you mean --out?" in capsys.readouterr().err
