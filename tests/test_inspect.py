"""`python -m resnet_any.inspect`: counts against torchvision's published figures, gradient flow, bad input."""
from __future__ import annotations

import subprocess
import sys

import pytest

from resnet_any import create_model
from resnet_any.inspect import count_macs, example_inputs, gradient_norms, main


@pytest.mark.parametrize("name, published_gmacs", [("resnet18", 1.81), ("resnet50", 4.09)])
def test_macs_match_torchvision_model_card(name, published_gmacs):
    # torchvision's weights tables list these as "GFLOPS" for one 224x224 image (they count MACs)
    macs = count_macs(create_model(name), example_inputs("image", (3, 224, 224)))
    assert macs / 1e9 == pytest.approx(published_gmacs, abs=0.005)


def test_gradient_norms_vanish_or_explode_without_skips():
    inputs = example_inputs("image", (3, 16, 16), batch=4)
    with_skip = gradient_norms(create_model("resnet152", num_classes=10, stem="cifar"), inputs, 10)
    without = gradient_norms(create_model("resnet152", num_classes=10, stem="cifar", skip=False), inputs, 10)
    spread = lambda norms: max(v for _, v in norms) / min(v for _, v in norms)  # noqa: E731
    assert spread(without) > 100 * spread(with_skip)


def test_cli_report_and_plot(tmp_path, capsys):
    png = tmp_path / "grads.png"
    assert main(["--model", "series_resnet", "--input-size", "1,64", "--grad-norms", str(png)]) == 0
    out = capsys.readouterr().out
    assert "parameters" in out and "layer3" in out and "no skips" in out
    assert png.stat().st_size > 1000


def test_cli_bad_input_is_one_line_exit_2():
    r = subprocess.run([sys.executable, "-m", "resnet_any.inspect", "--model", "resnet19"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "unknown model 'resnet19'" in r.stderr
