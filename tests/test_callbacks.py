"""Callbacks: early stopping counts epochs without a gain, and a resumed run stops where an uninterrupted one would."""
from __future__ import annotations

from resnet_any.train.run.callbacks import Callback, EarlyStopping

# val_acc, val_loss per epoch; with patience 2 the count of epochs without a gain (neither a higher
# accuracy nor the same accuracy at a lower loss) is 0, 0, 1, 2 -> stop after epoch 4
CURVE = [(0.50, 1.00), (0.60, 0.90), (0.60, 0.95), (0.55, 0.97), (0.70, 0.50)]


class FakeTrainer:
    def __init__(self) -> None:
        self.stops = 0

    def request_stop(self, early: bool = True) -> None:
        self.stops += 1


def rows(upto: int) -> list[dict]:
    return [{"epoch": i + 1, "val_acc": a, "val_loss": l, "train_loss": 1.0} for i, (a, l) in enumerate(CURVE[:upto])]


def test_early_stopping_counts_epochs_without_a_gain() -> None:
    cb, t = EarlyStopping(patience=2), FakeTrainer()
    cb.on_start(t, {"history": []})
    for row in rows(5):
        cb.on_epoch_end(t, row)
        if t.stops:
            break
    assert cb.stopped_epoch == 4 and t.stops == 1


def test_a_resumed_run_replays_its_history() -> None:
    """Killed after epoch 3: the fresh callback of the resumed run counts epochs 1-3 from the checkpoint's history."""
    cb, t = EarlyStopping(patience=2), FakeTrainer()
    cb.on_start(t, {"history": rows(3)})
    cb.on_epoch_end(t, rows(4)[-1])
    assert cb.stopped_epoch == 4 and t.stops == 1


def test_without_validation_it_watches_the_training_loss() -> None:
    cb, t = EarlyStopping(patience=1), FakeTrainer()
    cb.on_start(t, {"history": []})
    for epoch, loss in enumerate([1.0, 0.8, 0.9], 1):
        cb.on_epoch_end(t, {"epoch": epoch, "val_acc": None, "val_loss": None, "train_loss": loss})
    assert cb.stopped_epoch == 3


def test_early_stop_option_on_real_data(tmp_path, one_thread: None) -> None:
    """--early-stop 1 with a min-delta no accuracy can gain: epoch 2 gains nothing that counts, so the run stops
    after epoch 2 of 10 and summary.json says so. min-delta is early stopping's: best.pt still keeps any gain."""
    import json

    from resnet_any.train import TrainConfig, train

    out = tmp_path / "run"
    summary = train(TrainConfig(domain="image", dataset="digits", width=8, epochs=10, early_stop=1, min_delta=1.0,
                                out=str(out), quiet=True))
    assert summary["early_stopped"] is True and summary["early_stopped_epoch"] == 2
    assert summary["epochs"] == 2 and summary["stopped"] is False
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    first, second = ((r["val_acc"], -r["val_loss"]) for r in rows)
    assert summary["best_epoch"] == (2 if second > first else 1)
    assert json.loads((out / "summary.json").read_text())["early_stopped_epoch"] == 2


class NoDecay(Callback):
    """Hands the optimizer one group of every parameter, without weight decay."""

    def param_groups(self, model, config):
        return [{"params": list(model.parameters()), "weight_decay": 0.0}]


def test_a_callbacks_parameter_groups_reach_the_optimizer_however_the_run_was_planned(tmp_path) -> None:
    """Given to make_plan, or only to a Trainer handed a plan made without them: the callback's groups decide."""
    from resnet_any.train import TrainConfig, Trainer
    from resnet_any.train.plan import make_plan

    cfg = dict(domain="image", width=4, epochs=1, device="cpu", quiet=True, optimizer="adamw", weight_decay=0.05)
    plain = Trainer(TrainConfig(out=str(tmp_path / "plain"), **cfg))
    assert [g["weight_decay"] for g in plain.optimizer.param_groups] == [0.05, 0.0]  # decay, then no-decay group
    planned = make_plan(TrainConfig(out=str(tmp_path / "b"), **cfg))
    for trainer in (Trainer(TrainConfig(out=str(tmp_path / "a"), **cfg), callbacks=[NoDecay()]),
                    Trainer(planned, callbacks=[NoDecay()])):
        assert [g["weight_decay"] for g in trainer.optimizer.param_groups] == [0.0]
        assert sum(len(g["params"]) for g in trainer.optimizer.param_groups) == len(list(trainer.model.parameters()))
        assert any("parameter groups come from a callback" in n for n in trainer.notes)
    assert planned.param_groups is None  # the caller's plan is left as it was: the trainer's is a new one
