"""Sinks: console lines (plain, throttled, quiet, TTY bar) and the run files written from a record stream."""
from __future__ import annotations

import io
import json
from pathlib import Path

from resnet_any.train.run.sinks import Console, MetricsFile, file_sinks

START = {"type": "start", "config": {"epochs": 3, "model": "resnet18", "dataset": "digits", "domain": "image"},
         "parameters": 1234, "samples": {"train": 10, "val": 5, "test": 5}, "num_classes": 10, "device": "cpu",
         "start_epoch": 0, "history": [], "out": "runs/x", "steps_per_epoch": 4}


def epoch(e: int) -> dict:
    return {"type": "epoch", "epoch": e, "lr": 0.1, "train_loss": 1.0 / e, "train_acc": 0.5, "val_loss": 0.9,
            "val_acc": 0.6, "seconds": 0.1, "samples_per_s": 100.0}


END = {"type": "end", "test_accuracy": 0.75, "test_loss": 0.5, "best_epoch": 3, "wall_seconds": 1.0,
       "out": "runs/x", "stopped": False}


def render(**kw) -> list[str]:
    stream = io.StringIO()
    console = Console(stream=stream, **kw)
    for rec in (START, {"type": "step", "epoch": 1, "step": 2, "steps_per_epoch": 4, "loss": 1.0,
                        "samples_per_s": 10.0, "eta_s": 3.0}, epoch(1), epoch(2), epoch(3), END):
        console.write(rec)
    console.close()
    return stream.getvalue().splitlines()


def test_plain_lines_are_throttled_but_keep_first_and_last_epoch() -> None:
    lines = render(tty=False, every_s=3600)
    assert lines[0].startswith("resnet18 (1,234 parameters) on digits [image: 10 train / 5 val / 5 test")
    assert [line.split()[1] for line in lines[1:-1]] == ["1/3", "3/3"]
    assert lines[-1].startswith("done: test_accuracy 0.7500  test_loss 0.5000  best_epoch 3")
    assert len(render(tty=False, every_s=0)) == 5


def test_quiet_prints_only_the_result_and_tty_draws_a_bar(capsys) -> None:
    assert render(quiet=True, tty=False) == [render(tty=False)[-1]]
    lines = render(tty=True, every_s=0)
    assert len(lines) == 5 and "epoch 1/3" in capsys.readouterr().err  # the tqdm bar lives on stderr


def test_metrics_file_rewrites_history_then_appends(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"epoch": 1}) + "\n" + json.dumps({"epoch": 2}) + "\n")
    sink = MetricsFile(tmp_path)
    sink.write({**START, "start_epoch": 1, "history": [{"epoch": 1, "val_acc": 0.5}]})
    sink.write(epoch(2))
    sink.close()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[0] == {"epoch": 1, "val_acc": 0.5}
    assert rows[1] == {k: v for k, v in epoch(2).items() if k != "type"}


def test_file_sinks_write_config_summary_curves_and_events(tmp_path: Path) -> None:
    sinks = file_sinks(tmp_path)
    for rec in (START, epoch(1), epoch(2), END):
        for s in sinks:
            s.write(rec)
    for s in sinks:
        s.close()
    assert json.loads((tmp_path / "config.json").read_text()) == START["config"]
    assert json.loads((tmp_path / "summary.json").read_text()) == {k: v for k, v in END.items() if k != "type"}
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert list(tmp_path.glob("events.out.tfevents.*"))
