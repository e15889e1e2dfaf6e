"""Optimizers skip weight decay on norms and biases; schedules have the documented shapes; clipping bounds steps."""
from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from resnet_any import create_model
from resnet_any.train import TrainConfig, Trainer
from resnet_any.train.run.optim import Schedule, build_optimizer, param_groups

SPE = 5  # steps per epoch


def cfg(**kw) -> TrainConfig:
    base = dict(optimizer="sgd", lr=0.1, weight_decay=5e-4, momentum=0.9, nesterov=True, schedule="cosine",
                warmup_epochs=0, step_size=3, gamma=0.1, patience=1, epochs=10)
    return TrainConfig(**{**base, **kw})


def lrs(c: TrainConfig, epochs: int | None = None, val_losses: list[float] | None = None) -> list[float]:
    """The learning rate used at every optimizer step of a run."""
    p = nn.Parameter(torch.zeros(2, 2))
    opt = build_optimizer(nn.Linear(2, 2), c)
    sched = Schedule(opt, c, SPE)
    out = []
    for e in range(epochs or c.epochs):
        for _ in range(SPE):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step_batch()
        sched.step_epoch(val_losses[e] if val_losses else 1.0)
    del p
    return out


def test_no_weight_decay_on_norms_and_biases() -> None:
    model = create_model("resnet18", num_classes=10, width=8)
    decay, no_decay = param_groups(model, 5e-4)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert all(names[id(p)].endswith(("conv1.weight", "conv2.weight", "downsample.0.weight", "fc.weight"))
               for p in decay["params"])
    assert {names[id(p)] for p in no_decay["params"]} >= {"bn1.weight", "bn1.bias", "fc.bias"}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    for name, kind in (("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)):
        opt = build_optimizer(model, cfg(optimizer=name))
        assert isinstance(opt, kind) and [g["weight_decay"] for g in opt.param_groups] == [5e-4, 0.0]
    assert build_optimizer(model, cfg()).param_groups[0]["nesterov"] is True


def test_weight_decay_by_name_prefix_shrinks_each_group_by_its_own_rate() -> None:
    # GCNII's recipe: convolutions (layer*) decay at 0.01, the dense stem and head at 5e-4, biases never.
    # With a zero loss gradient one plain SGD step multiplies each weight by exactly (1 - lr * decay)
    model = create_model("gcn_resnet", in_channels=6, num_classes=3, depth=3, style="gcnii", hidden_channels=8)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = build_optimizer(model, cfg(lr=0.5, momentum=0.0, nesterov=False,
                                     weight_decay_by_prefix={"layer": 0.01, "layer1.1": 0.1}))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for name, p in model.named_parameters():
        if p.ndim <= 1:
            rate = 0.0
        elif name.startswith("layer1.1."):
            rate = 0.1  # the longest prefix wins
        elif name.startswith("layer"):
            rate = 0.01
        else:
            rate = 5e-4
        torch.testing.assert_close(p.detach(), before[name] * (1 - 0.5 * rate), msg=name)
    assert {n.split(".")[0] for n in before} >= {"conv1", "layer1", "fc"}


def test_weight_decay_by_prefix_rejects_bad_values() -> None:
    from resnet_any.errors import UserError
    from resnet_any.train.options import validate

    with pytest.raises(UserError, match=r"weight_decay_by_prefix\['layer'\].*-1"):
        validate(TrainConfig(weight_decay_by_prefix={"layer": -1}))
    with pytest.raises(UserError, match="mapping"):
        validate(TrainConfig(weight_decay_by_prefix=[0.01]))


def test_schedule_shapes() -> None:
    cos = lrs(cfg(schedule="cosine"))
    assert cos[0] == pytest.approx(0.1) and all(a >= b for a, b in zip(cos, cos[1:])) and cos[-1] < 1e-3
    assert cos[len(cos) // 2] == pytest.approx(0.05, rel=0.05)  # half way down a cosine is half the peak

    warm = lrs(cfg(schedule="warmup_cosine", warmup_epochs=2))
    peak = warm.index(max(warm))
    assert peak == 2 * SPE and max(warm) == pytest.approx(0.1)
    assert all(a < b for a, b in zip(warm[:peak], warm[1:peak + 1]))
    assert all(a >= b for a, b in zip(warm[peak:], warm[peak + 1:]))

    step = lrs(cfg(schedule="step"))
    assert step[3 * SPE - 1] == pytest.approx(0.1) and step[3 * SPE] == pytest.approx(0.01)
    assert step[6 * SPE] == pytest.approx(0.001)

    one = lrs(cfg(schedule="onecycle"))
    assert max(one) == pytest.approx(0.1) and one[0] == pytest.approx(0.1 / 25) and one[-1] < 1e-4

    flat = lrs(cfg(schedule="none"))
    assert set(flat) == {0.1}

    plateau = lrs(cfg(schedule="plateau", epochs=5), val_losses=[1.0, 0.5, 0.5, 0.5, 0.5])
    per_epoch = plateau[::SPE]
    assert per_epoch[:3] == [0.1, 0.1, 0.1] and per_epoch[4] == pytest.approx(0.01)


@pytest.mark.parametrize("schedule", ["cosine", "warmup_cosine", "step", "onecycle", "plateau", "none"])
def test_schedule_state_survives_weights_only_round_trip(schedule: str) -> None:
    c = cfg(schedule=schedule, warmup_epochs=1)
    opt = build_optimizer(nn.Linear(2, 2), c)
    sched = Schedule(opt, c, SPE)
    for _ in range(7):
        opt.step()
        sched.step_batch()
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    opt2 = build_optimizer(nn.Linear(2, 2), c)
    sched2 = Schedule(opt2, c, SPE)
    sched2.load_state_dict(torch.load(buf, weights_only=True))
    for _ in range(3):
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step_batch()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_gradient_clipping_bounds_every_step(tmp_path: Path) -> None:
    clip, lr = 1e-6, 0.1
    trainer = Trainer(TrainConfig(domain="image", width=8, epochs=1, optimizer="sgd", momentum=0.0, lr=lr,
                                  weight_decay=0.0, schedule="none", clip_grad=clip, label_smoothing=0.3,
                                  out=str(tmp_path / "run")))
    assert trainer.objective.label_smoothing == 0.3
    before = [p.detach().clone() for p in trainer.model.parameters()]
    list(trainer.run())
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    moved = math.sqrt(sum(float((last[n] - b).pow(2).sum())
                          for (n, _), b in zip(trainer.model.named_parameters(), before)))
    # plain SGD moves the weights by lr * (clipped norm <= clip) per step at most
    assert 0 < moved <= lr * clip * trainer.steps_per_epoch * (1 + 1e-3)
