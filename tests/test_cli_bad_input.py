"""Issue 3 §5: every bad input exits 2 with one clear stderr line, no traceback, and nothing in --out is lost."""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (train flags, text the error line must contain)."""
    empty = tmp / "empty"
    empty.mkdir()
    (tmp / "unknown_key.yaml").write_text("epochs: 1\nlearning_rate: 0.1\n")
    run = tmp / "existing_run"
    run.mkdir()
    for name, data in {"config.json": b"{}", "metrics.jsonl": b'{"epoch": 1}\n', "last.pt": b"weights",
                       "best.pt": b"best weights"}.items():
        (run / name).write_bytes(data)
    (tmp / "corrupt.pt").write_bytes(b"PK\x03\x04 truncated zip")
    (tmp / "myphotos").mkdir()
    return {
        # issue 24: a misspelt path is said to be missing, with the near name, not "choose a domain"
        "misspelt path": (["--dataset", str(tmp / "myphotoz")],
                          f"--dataset {str(tmp / 'myphotoz')!r} does not exist: no such file or folder, and no "
                          f"dataset is named so (did you mean {tmp / 'myphotos'}?)"),
        "misspelt path with a domain": (["--domain", "image", "--dataset", str(tmp / "myphotoz")],
                                        f"(did you mean {tmp / 'myphotos'}?)"),
        "unknown domain": (["--domain", "audio"], "unknown domain 'audio'; valid: image, series, graph, volume"),
        "unknown model": (["--domain", "image", "--model", "resnet19"], "unknown model 'resnet19'"),
        "model of another domain": (["--domain", "image", "--model", "series_resnet"],
                                    "'series_resnet' is a series model, not image"),
        "unknown dataset": (["--domain", "image", "--dataset", "imagenet22k"], "imagenet22k"),
        "missing data dir": (["--domain", "image", "--dataset", "folder", "--data-dir", str(tmp / "nowhere")],
                             "nowhere"),
        "empty data dir": (["--domain", "image", "--dataset", "folder", "--data-dir", str(empty)], "empty"),
        "epochs < 1": (["--domain", "image", "--epochs", "0"], "--epochs must be >= 1, got 0"),
        "lr = 0": (["--domain", "image", "--lr", "0"], "--lr must be > 0, got 0"),
        "lr < 0": (["--domain", "series", "--lr", "-0.1"], "--lr must be > 0"),
        "batch size < 1": (["--domain", "image", "--batch-size", "0"], "--batch-size must be >= 1, got 0"),
        "not a number": (["--domain", "image", "--epochs", "two"], "invalid int value: 'two'"),
        "fp16 on cpu": (["--domain", "image", "--amp", "fp16", "--device", "cpu"], "--amp fp16 needs a CUDA device"),
        "resume without checkpoint": (["--domain", "image", "--resume", "--out", str(empty)], "no checkpoint"),
        "resume without out": (["--domain", "image", "--resume"], "--resume needs --out"),
        "config with unknown key": (["--config", str(tmp / "unknown_key.yaml")], "unknown key 'learning_rate'"),
        "missing config": (["--config", str(tmp / "nope.yaml")], "does not exist"),
        "out holds a run": (["--domain", "image", "--out", str(run)], "already holds a run"),
        "corrupt init": (["--domain", "image", "--init", str(tmp / "corrupt.pt"), "--out", str(tmp / "i")],
                         "not a readable PyTorch file"),
    } | ({} if torch.cuda.is_available() else
         {"cuda without a gpu": (["--domain", "image", "--device", "cuda"], "no CUDA device is available")})


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("bad_input")
    table = cases(tmp)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}

    def call(flags: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "resnet_any.train", *flags], cwd=tmp, env=env,
                              capture_output=True, text=True, timeout=300)

    # each case is a fresh interpreter importing torch: run them side by side
    with ThreadPoolExecutor(max_workers=4) as pool:
        procs = dict(zip(table, pool.map(call, (flags for flags, _ in table.values()))))
    return tmp, {name: (procs[name], expected) for name, (_, expected) in table.items()}


CASES = ["misspelt path", "misspelt path with a domain", "unknown domain", "unknown model", "model of another domain", "unknown dataset", "missing data dir",
         "empty data dir", "epochs < 1", "lr = 0", "lr < 0", "batch size < 1", "not a number", "fp16 on cpu",
         "resume without checkpoint", "resume without out", "config with unknown key", "missing config",
         "out holds a run", "corrupt init"]


@pytest.mark.parametrize("name", CASES)
def test_bad_input_exits_2_with_one_line(results, name: str) -> None:
    _, table = results
    proc, expected = table[name]
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (name, proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_cuda_request_without_gpu(results) -> None:
    _, table = results
    assert set(table) - {"cuda without a gpu"} == set(CASES)
    if "cuda without a gpu" not in table:
        pytest.skip("a CUDA device is present")
    proc, expected = table["cuda without a gpu"]
    assert proc.returncode == 2 and expected in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_nothing_in_out_is_lost(results) -> None:
    tmp, _ = results
    run = tmp / "existing_run"
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "config.json", "last.pt", "metrics.jsonl"]
    assert (run / "last.pt").read_bytes() == b"weights" and (run / "best.pt").read_bytes() == b"best weights"
    assert (run / "metrics.jsonl").read_bytes() == b'{"epoch": 1}\n' and (run / "config.json").read_bytes() == b"{}"
    # failed starts leave no half-made run directories behind
    assert not (tmp / "i").exists() and not (tmp / "runs").exists()
