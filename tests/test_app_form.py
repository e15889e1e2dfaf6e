"""The app's gradio-free parts: form coercion (form.py), plot data (plots.py), a job's plan (jobs.py); no server."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_any.app.form import make_config, names_only, quick_recipe, whole_number, width_info
from resnet_any.app.messages import PublicError
from resnet_any.app.plots import LOSS_COLUMNS, LOSS_CURVES, curve_frame, nice_top

REPO = Path(__file__).resolve().parents[1]


def test_form_and_plots_import_without_gradio() -> None:
    """form.py and plots.py are testable and usable where gradio is not installed: they never import it."""
    code = ("import sys; import resnet_any.app.form, resnet_any.app.plots, resnet_any.app.jobs; "
            "sys.exit('gradio' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


@pytest.mark.parametrize("value, expected", [(5, 5), (5.0, 5), (0, 0), (None, None), ("", None)])
def test_whole_number_accepts(value, expected) -> None:
    assert whole_number("width", value, 0, 1024) == expected


@pytest.mark.parametrize("value, minimum, maximum, message", [
    (2.5, 0, None, "width must be a whole number, got '2.5'"),
    (True, 0, None, "width must be a whole number, got 'True'"),
    (math.nan, 0, None, "width must be a whole number, got 'nan'"),
    ("8", 0, None, "width must be a whole number, got '8'"),
    (-1, 0, None, "width must be >= 0, got -1"),
    (300.0, 1, 200, "width must be <= 200 on this server, got 300"),
])
def test_whole_number_refuses(value, minimum, maximum, message) -> None:
    with pytest.raises(PublicError) as err:
        whole_number("width", value, minimum, maximum)
    assert str(err.value) == message


def test_names_only() -> None:
    names_only("GunPoint")
    names_only("")
    for path in ("a/b", "..", "x.csv", "~", "a\\b", "a\nb"):
        with pytest.raises(PublicError, match="dataset names only"):
            names_only(path)


@pytest.mark.parametrize("values, top", [
    ([0.37], 0.4),            # step 0.1: 0.1, 0.12, 0.15, ... 0.3 < 0.37 <= 0.4
    ([13], 15),               # step 10: 10, 12 < 13 <= 15
    ([1.21, 0.5], 1.5),       # step 1: 1.2 < 1.21 <= 1.5
    ([2, 10], 10),            # exactly a power of ten
    ([], 1.0), ([None, math.nan, -3, 0], 1.0),  # nothing finite and positive
])
def test_nice_top(values, top) -> None:
    assert nice_top(values) == pytest.approx(top)


def test_curve_frame_names_every_curve_first() -> None:
    frame = curve_frame([{"epoch": 1, "loss": 0.5, "curve": "train"}], LOSS_COLUMNS, LOSS_CURVES)
    assert list(frame.columns) == LOSS_COLUMNS and len(frame) == 4
    assert list(frame["curve"]) == [*LOSS_CURVES, "train"]
    assert frame["epoch"][:3].isna().all() and frame["loss"][:3].isna().all()
    assert (frame["epoch"][3], frame["loss"][3]) == (1.0, 0.5)


def test_quick_recipes_come_from_the_recipes_table() -> None:
    from resnet_any.train.plan.recipes import QUICK_RECIPES

    assert quick_recipe("series") == QUICK_RECIPES["series"]
    assert quick_recipe("nosuch") == QUICK_RECIPES["image"]
    assert width_info("series") == "first-stage channels: 16 = this quick preset, 0 = the recipe's"


def test_empty_fields_stay_unset(tmp_path: Path) -> None:
    """What a form or API client leaves empty is not set (the plan derives it); what it sends is kept, as numbers."""
    config = make_config(tmp_path, "series", "GunPoint", None, "", None, None, None, None, "", "", max_epochs=7)
    assert config.explicit().keys() == {"domain", "dataset", "quiet", "out"}
    assert Path(config.out).parent == tmp_path and Path(config.out).name.startswith("series-")
    config = make_config(tmp_path, "image", " digits ", "", "resnet18", 0, 3.0, 32.0, 1, "adam", "off")
    assert (config.dataset, config.model, config.width, config.epochs, config.batch_size, config.lr,
            config.optimizer, config.amp) == ("digits", "resnet18", None, 3, 32, 1.0, "adam", "off")
    with pytest.raises(PublicError, match="epochs must be <= 7 on this server, got 8"):
        make_config(tmp_path, "series", "GunPoint", None, "", None, 8, None, None, "", "", max_epochs=7)


def test_a_job_plans_as_the_cli_with_derived_epochs_capped(tmp_path: Path) -> None:
    """TrainJob resolves the config as make_plan does; derived epochs above the server's cap become the cap."""
    from resnet_any.app.jobs import TrainJob
    from resnet_any.train import TrainConfig
    from resnet_any.train.plan import make_plan

    config = TrainConfig(domain="series", dataset="GunPoint", quiet=True, out=str(tmp_path / "run"))
    cli = make_plan(config).config
    assert cli.epochs > 7
    assert TrainJob(config)._plan().config == cli
    capped = TrainJob(config, max_epochs=7)._plan().config
    assert capped == make_plan(config.merged({"epochs": 7})).config and capped.epochs == 7
    assert TrainJob(config, max_epochs=cli.epochs + 1)._plan().config == cli
