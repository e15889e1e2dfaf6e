"""The precision a default run picks: bf16 autocast where the CPU computes bf16 natively (read independently
from /proc/cpuinfo here), channels_last for images, fp32 for graphs; said in the first line, kept in config.json."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resnet_any.train import TrainConfig, Trainer
from resnet_any.train.plan.hardware import auto_amp, native_bf16


def _cpu_flags() -> set[str]:
    """The kernel's CPU feature flags (not torch's probes)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        pytest.skip("no /proc/cpuinfo on this system")
    return {f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()}


def _expected_amp(domain: str) -> str:
    native = bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
    return "bf16" if native and domain in ("image", "series") else "off"


def test_native_bf16_agrees_with_the_kernels_cpu_flags() -> None:
    assert (native_bf16(torch.device("cpu")) is not None) == bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
    for domain in ("image", "series", "volume", "graph"):
        assert auto_amp(domain, torch.device("cpu")) == _expected_amp(domain), domain


@pytest.mark.parametrize("domain, channels_last", [("image", True), ("series", False), ("graph", False)])
def test_a_default_run_records_its_precision(tmp_path: Path, domain: str, channels_last: bool) -> None:
    trainer = Trainer(TrainConfig(domain=domain, epochs=1, width=8, out=str(tmp_path / "run"), quiet=True,
                                  device="cpu"))
    start = next(trainer.run())
    assert start["config"]["amp"] == _expected_amp(domain)
    assert start["config"]["channels_last"] is channels_last
    if domain == "image":  # the model the run trains is in the memory format it says
        conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert ("autocast" in start["precision"]) == (_expected_amp(domain) == "bf16")


def test_opting_out_is_fp32_nchw_and_the_first_line_says_so(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "resnet_any.train", "--domain", "image", "--epochs", "1", "--width",
                           "8", "--amp", "off", "--no-channels-last", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "on cpu (fp32)," in first, first
    config = json.loads((out / "config.json").read_text())
    assert (config["amp"], config["channels_last"]) == ("off", False)


def test_bf16_default_learns_digits_as_well_as_fp32(tmp_path: Path) -> None:
    """Same seed and epochs: the default precision's test accuracy no more than 3 points below fp32 NCHW on real digits."""
    if _expected_amp("image") != "bf16":
        pytest.skip("this CPU has no native bf16: the default is fp32 already")
    acc = {}
    for label, opts in (("default", {}), ("fp32", {"amp": "off", "channels_last": False})):
        cfg = TrainConfig(domain="image", epochs=3, width=8, out=str(tmp_path / label), quiet=True, device="cpu", **opts)
        acc[label] = [r for r in Trainer(cfg).run() if r["type"] == "end"][0]["test_accuracy"]
    assert acc["fp32"] > 0.8  # the comparison means something only for a model that learned
    assert acc["default"] >= acc["fp32"] - 0.03, acc


def test_validation_runs_in_the_training_precision_and_the_test_split_in_fp32(tmp_path: Path) -> None:
    """Each epoch's val_loss is that of autocast logits (as Lightning validates); the test metrics are fp32's."""
    if _expected_amp("image") != "bf16":
        pytest.skip("this CPU has no native bf16: validation and test are both fp32")
    from resnet_any.data import load_dataset, normalize
    from resnet_any.train import load_checkpoint

    cfg = TrainConfig(domain="image", epochs=1, width=8, batch_size=32, out=str(tmp_path / "run"), quiet=True,
                      device="cpu")
    trainer = Trainer(cfg)
    # on a CPU evaluation keeps the training batch size (bigger batches were slower there)
    assert {len(y) for _, y in trainer.task.batches("val")} <= {32, trainer.task.size("val") % 32}
    records = list(trainer.run())
    epoch, end = next(r for r in records if r["type"] == "epoch"), records[-1]
    model, meta = load_checkpoint(tmp_path / "run" / "best.pt")
    data = load_dataset("image", "digits", image_size=meta["data"]["image_size"])
    assert (len(data.val), len(data.test)) == (trainer.task.size("val"), trainer.task.size("test"))
    model = model.to(memory_format=torch.channels_last).eval()

    def scored(split, amp: bool) -> tuple[float, float]:
        x = normalize(split.x, meta["data"]).contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            logits = torch.cat([model(c) for c in x.split(32)]).float()
        loss = torch.nn.functional.cross_entropy(logits, split.y.long()).item()
        return loss, (logits.argmax(1) == split.y).float().mean().item()

    bf16_loss, _ = scored(data.val, amp=True)
    fp32_loss, _ = scored(data.val, amp=False)
    assert bf16_loss != fp32_loss  # else this test could not tell the precisions apart
    assert epoch["val_loss"] == pytest.approx(bf16_loss, rel=1e-5)
    assert end["test_accuracy"] == pytest.approx(scored(data.test, amp=False)[1], abs=1e-9)


@pytest.mark.parametrize("size, expected", [(16, ["layer4.0.conv1"]), (32, [])])
def test_one_pixel_convs_follow_the_imagenet_stems_strides(size: int, expected: list[str]) -> None:
    """16 px: conv1 /2 -> 8, maxpool /2 -> 4, layer2 -> 2, layer3 -> 1, so layer4's 3x3 stride-2 conv sees 1x1
    (its 1x1 downsample is unpadded, unaffected); at 32 px layer4 sees 2x2."""
    from resnet_any import create_model
    from resnet_any.train.plan.hardware import one_pixel_convs

    model = create_model("resnet18", num_classes=10, in_channels=3)
    assert one_pixel_convs(model, (3, size, size)) == expected
    assert model.training  # the probe leaves the model's mode as it found it


def _plan_bf16(data, **options):
    """The plan of a CPU run of `data` with bf16 asked (or auto): its amp and notes."""
    from resnet_any.train.plan import make_plan

    plan = make_plan(TrainConfig(device="cpu", **options), data=(data,))
    return plan.config.amp, plan.notes


def test_asked_bf16_is_kept_on_a_one_pixel_map_with_a_warning(tmp_path: Path) -> None:
    """8x8 images through the ImageNet stem (/4 -> 2x2, layer2 -> 1x1): layer3's strided conv sees 1 pixel."""
    if _expected_amp("image") != "bf16":
        pytest.skip("this CPU has no native bf16")
    torch.manual_seed(0)
    x, y = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8), torch.arange(40) % 2
    common = dict(domain="image", model="resnet18", model_kwargs={"stem": "imagenet"}, out=str(tmp_path / "run"))
    amp, notes = _plan_bf16((x, y), amp="bf16", **common)
    assert amp == "bf16" and any(n.startswith("--amp bf16 kept as asked, but layer3.0.conv1") for n in notes), notes
    amp, notes = _plan_bf16((x, y), **common)
    assert amp == "off" and any(n.startswith("fp32, not bf16: layer3.0.conv1") for n in notes), notes


def test_graph_level_data_with_bf16_asked_plans_without_probing(tmp_path: Path) -> None:
    """Graph samples are PyG Data, not tensors: nothing is probed, nothing crashes."""
    from torch_geometric.data import Data

    torch.manual_seed(0)
    graphs = [Data(x=torch.randn(5, 3), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]), y=torch.tensor([i % 2]))
              for i in range(30)]
    amp, notes = _plan_bf16(graphs, domain="graph", amp="bf16", out=str(tmp_path / "run"))
    assert amp == "bf16" and not any("1-pixel" in n for n in notes)
