"""Issue 16 §2: curves.png people can read, warnings on one line, and why label smoothing caps confidence."""
from __future__ import annotations

import warnings

from resnet_any.errors import run_cli
from resnet_any.train.plan.notes import smoothing_note
from resnet_any.train.run.sinks import curves_figure


def _rows(losses: list[float]) -> list[dict]:
    return [{"epoch": e + 1, "train_loss": loss, "val_loss": loss * 1.1, "train_acc": 0.5, "val_acc": 0.5}
            for e, loss in enumerate(losses)]


def test_curves_have_a_title_the_kept_epoch_and_integer_epoch_ticks():
    fig = curves_figure(_rows([2.0, 1.0, 0.8, 0.7, 0.65, 0.6]), "digits-run: resnet18 on digits", (4, "val"))
    assert fig.get_suptitle() == "digits-run: resnet18 on digits"
    loss, acc = fig.axes
    for ax in (loss, acc):
        assert any(line.get_label() == "kept: epoch 4 (val)" and list(line.get_xdata()) == [4, 4]
                   for line in ax.get_lines())
        fig.canvas.draw()
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert loss.get_yscale() == "linear"  # 2.0 / 0.6: a linear axis shows it well


def test_a_loss_spanning_more_than_100x_is_drawn_on_a_log_axis():
    fig = curves_figure(_rows([7.2, 0.5, 0.1, 0.05, 0.03]))
    assert fig.axes[0].get_yscale() == "log" and "log" in fig.axes[0].get_ylabel()
    assert fig.axes[1].get_yscale() == "linear"


def test_warnings_print_on_one_clean_line(capsys):
    def main(argv):
        warnings.warn("skipped 2 unreadable image file(s) in 'photos'\n  (see the log)", UserWarning)
        return 0

    assert run_cli(main, []) == 0
    err = capsys.readouterr().err
    assert err == "warning: skipped 2 unreadable image file(s) in 'photos' (see the log)\n", err


def test_label_smoothing_says_where_confidence_tops_out():
    note = smoothing_note(0.1, 10)
    assert "91%" in note and "label smoothing 0.1" in note and "\n" not in note
    assert smoothing_note(0.0, 10) == ""
