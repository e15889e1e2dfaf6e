"""Checkpoints: round trip, refusal of pickles that would run code, atomic writes, --init and --freeze-backbone."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision

from resnet_any import create_model
from resnet_any.data import load_dataset, normalize
from resnet_any.errors import UserError
from resnet_any.train import TrainConfig, Trainer, load_checkpoint
from resnet_any.files import atomic_write, read_checkpoint
from resnet_any.domains.weights import init_from


class Payload:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Trainer, dict]:
    out = tmp_path_factory.mktemp("ckpt") / "run"
    trainer = Trainer(TrainConfig(domain="image", width=8, epochs=1, out=str(out)))
    end = list(trainer.run())[-1]
    return out, trainer, end


def test_load_checkpoint_round_trip_gives_identical_outputs(run) -> None:
    out, trainer, end = run
    model, meta = load_checkpoint(out / "best.pt")
    assert not model.training
    assert meta["model"] == "resnet18" and meta["domain"] == "image" and meta["task"] == "classify"
    assert meta["class_names"] == [str(i) for i in range(10)] and meta["config"]["width"] == 8
    splits = load_dataset("image", "digits")
    x = normalize(splits.test.x, meta["data"])
    # the run trained in channels_last (the image default); the loaded model is plain NCHW, as a user gets it
    trainer.model.eval().to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        assert torch.equal(model(x), trainer.model(x))
        acc = (model(x).argmax(1) == splits.test.y).float().mean().item()
    assert acc == pytest.approx(end["test_accuracy"], abs=1e-6)  # summary.json's figure, recomputed independently


def test_crafted_pickle_is_refused_and_runs_nothing(run, tmp_path: Path) -> None:
    out = run[0]
    marker = tmp_path / "ran.txt"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "resnet_any", "model": Payload(marker)}, evil)
    with pytest.raises(UserError, match="refused to load"):
        load_checkpoint(evil)
    with pytest.raises(UserError, match="refused to load"):
        Trainer(TrainConfig(domain="image", width=8, epochs=1, init=str(evil), out=str(tmp_path / "a")))
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    torch.save({"format": "resnet_any", "config": Payload(marker)}, resumed / "last.pt")
    with pytest.raises(UserError, match="refused to load"):
        Trainer(TrainConfig(out=str(resumed), resume=True))
    assert not marker.exists()
    assert (out / "best.pt").is_file()


def test_corrupt_and_empty_checkpoints(run, tmp_path: Path) -> None:
    data = (run[0] / "last.pt").read_bytes()
    (tmp_path / "half.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(UserError, match="not a readable PyTorch file"):
        read_checkpoint(tmp_path / "half.pt")
    with pytest.raises(UserError, match="empty"):
        read_checkpoint(tmp_path / "empty.pt")
    with pytest.raises(UserError, match="not a readable PyTorch file"):
        read_checkpoint(tmp_path / "text.pt")
    with pytest.raises(UserError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.pt")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "bare.pt")
    with pytest.raises(UserError, match="not a resnet_any checkpoint"):
        load_checkpoint(tmp_path / "bare.pt")


def test_atomic_write_keeps_the_old_file_when_a_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "last.pt"
    target.write_bytes(b"old and intact")

    def fails_midway(f) -> None:
        f.write(b"half of the new")
        raise OSError(28, "No space left on device")

    with pytest.raises(UserError, match="No space left on device"):
        atomic_write(target, fails_midway)
    assert target.read_bytes() == b"old and intact"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_init_from_torchvision_state_dict(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tv = torchvision.models.resnet18().eval()
    path = tmp_path / "tv.pth"
    torch.save(tv.state_dict(), path)
    # same classes and channels: the outputs match torchvision's exactly
    ours = create_model("resnet18", num_classes=1000).eval()
    report = init_from(ours, path)
    assert report["loaded"] == len(tv.state_dict()) and not report["fresh_head"]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), rtol=1e-4, atol=1e-5)
    # 10 classes, grayscale: the head stays fresh, the RGB stem is summed over colour
    gray = create_model("resnet18", num_classes=10, in_channels=1)
    fresh_fc = gray.fc.weight.clone()
    report = init_from(gray, path)
    assert report["fresh_head"] and report["adapted"] == ["conv1.weight"]
    assert torch.equal(gray.fc.weight, fresh_fc)
    assert torch.equal(gray.conv1.weight, tv.conv1.weight.sum(1, keepdim=True))
    assert torch.equal(gray.layer4[1].conv2.weight, tv.layer4[1].conv2.weight)
    with pytest.raises(UserError, match="does not fit this model"):
        init_from(create_model("resnet18", num_classes=10, width=32), path)


def test_init_and_freeze_backbone_train_only_the_head(run, tmp_path: Path) -> None:
    src = run[0] / "best.pt"
    out = tmp_path / "frozen"
    Trainer_ = Trainer(TrainConfig(domain="image", width=8, epochs=1, init=str(src), freeze_backbone=True,
                                   lr=0.05, out=str(out)))
    list(Trainer_.run())
    before, after = read_checkpoint(src)["model"], read_checkpoint(out / "last.pt")["model"]
    for k in before:
        if k.startswith("fc."):
            assert not torch.equal(before[k], after[k]), k
        else:
            assert torch.equal(before[k], after[k]), k  # BatchNorm statistics included
    config = json.loads((out / "config.json").read_text())
    assert config["init"] == str(src) and config["freeze_backbone"] is True
