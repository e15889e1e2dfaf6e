"""What the machine offers a training step: the autocast precision and memory format `--amp auto` and
`--channels-last` (unset) resolve to, chosen from the device's own capabilities, never from its name.

The rule, measured side by side by `python -m resnet_any.bench speed` (README, "Speed"):
- bf16 autocast where the hardware computes bf16 natively: a CUDA GPU that supports it, or a CPU with
  AVX512-BF16 or AMX (oneDNN then runs convolutions and matrix products in bf16 at up to twice the fp32
  rate, and halves the memory traffic). Other CPUs emulate bf16 and run slower than fp32: they keep fp32.
- not for graphs: a GCN step on a citation graph is sparse message passing over a few thousand nodes,
  bound by indexing rather than arithmetic; bf16 gained under 10% on Cora and rounds its features.
- only for our registry models (measured); a model the user built keeps fp32 unless --amp says otherwise,
  and so do volumes (unmeasured, and a 3D ResNet diverged in bf16 where fp32 trained).
- not where a strided, padded convolution sees a map one pixel wide: there the CPU's bf16 weight gradient
  (oneDNN, torch 2.14) comes out NaN at random, 8-40% of steps (a 3x3 stride-2 conv on a 1x1 input;
  fp32 and 2x2 inputs: never), so a 16 px image through the ImageNet stem trains in fp32 (`one_pixel_convs`).
- the test split, evaluate and predict score in fp32 whatever the training precision (tasks.predict_split).
- channels_last for image batches: oneDNN's and cuDNN's fast convolution kernels want NHWC.
"""
from __future__ import annotations

import torch
from torch import nn

from resnet_any.data.base import DataSplits
from resnet_any.errors import UserError
from resnet_any.train.options import RunConfig, amp_on_device

# the domains whose registry models were measured faster in bf16 with unchanged accuracy (bench speed)
BF16_DOMAINS = ("image", "series")


def native_bf16(device: torch.device) -> str | None:
    """The instruction set or GPU feature that computes bf16 natively on `device`, or None."""
    if device.type == "cuda":
        return "CUDA bf16" if torch.cuda.is_bf16_supported() else None
    if device.type != "cpu":
        return None
    cpu = getattr(torch, "cpu", None)
    # torch.cpu exposes these probes (private, present since torch 2.1): a missing one means "unknown", not "yes"
    for feature, probe in (("AMX", "_is_amx_tile_supported"), ("AVX512-BF16", "_is_avx512_bf16_supported")):
        check = getattr(cpu, probe, None)
        if check is not None and check():
            return feature
    return None


def auto_amp(domain: str, device: torch.device, own_model: bool = False) -> str:
    """What --amp auto means for this domain's registry models (or a user's own model) on this device: 'bf16' or 'off'."""
    return "bf16" if domain in BF16_DOMAINS and not own_model and native_bf16(device) else "off"


def auto_channels_last(domain: str) -> bool:
    """What an unset --channels-last means: on for image batches (4-D), where the convolution kernels want NHWC."""
    return domain == "image"


def describe(amp: str, channels_last: bool, domain: str, device: torch.device) -> str:
    """The precision and memory format of a run, as its first line says them: 'bf16 autocast (AVX512-BF16), channels_last'."""
    if amp == "off":
        precision = "fp32"
    else:
        feature = native_bf16(device) if amp == "bf16" else None
        precision = f"{amp} autocast" + (f" ({feature})" if feature and device.type == "cpu" else "")
    return precision + (", channels_last" if channels_last and domain == "image" else "")


def one_pixel_convs(model: nn.Module, sample_shape: tuple[int, ...]) -> list[str]:
    """The strided, padded convolutions of `model` that see a side of one pixel on a sample of this shape.

    One forward pass of a zero batch in eval mode (shapes depend only on the input's): [] when the model
    cannot run on a plain tensor (a graph model), since then no convolution can be judged.
    """
    found: list[str] = []
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and isinstance(m.padding, tuple):
            def check(mod: nn.Module, args: tuple, name: str = name) -> None:
                sides = args[0].shape[2:]
                if any(side == 1 and stride > 1 and pad > 0
                       for side, stride, pad in zip(sides, mod.stride, mod.padding)):
                    found.append(name)
            hooks.append(m.register_forward_pre_hook(check))
    was_training = model.training
    try:
        param = next(model.parameters(), None)
        x = torch.zeros(1, *sample_shape, device=param.device if param is not None else "cpu")
        model.eval()
        with torch.no_grad():
            model(x)
    except Exception:  # noqa: BLE001 - a model that takes no plain tensor has no convolution to judge here
        return []
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return found


def pick_device(name: str) -> torch.device:
    """Resolve auto|cpu|cuda[:N]|mps to a device that exists, or raise a UserError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {name} but no CUDA device is available; use --device cpu or auto")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"--device {name} but only {torch.cuda.device_count()} CUDA device(s) exist")
        return dev
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps but MPS is not available; use --device cpu or auto")
    return torch.device(name)


def check_amp(amp: str | None, device: torch.device) -> None:
    """Refuse an explicit --amp the device cannot run (before the data loads, so it fails at once)."""
    problem = amp_on_device(amp, device.type)
    if problem:
        raise UserError(problem)
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError("--amp bf16 is not supported by this GPU; use --amp fp16")


def precision(config: RunConfig, asked: str | None, device: torch.device, model: nn.Module, splits: DataSplits,
              own_model: bool) -> tuple[RunConfig, str | None]:
    """--amp and --channels-last resolved in one place: the device's native precision, then the 1-pixel-conv hazard.

    Returns the config with amp and channels_last set, and the note the hazard gave (None without one).
    Registry models only are probed: probing a user's model would run its forward once more, with whatever
    side effects it has. Graphs are never probed: their samples are not plain tensors.
    """
    amp = auto_amp(config.domain, device, own_model) if config.amp == "auto" else config.amp
    cl = auto_channels_last(config.domain) if config.channels_last is None else config.channels_last
    config = config.replace(amp=amp, channels_last=cl)
    if own_model or amp != "bf16" or device.type != "cpu" or splits.layout != "samples" or not len(splits.train):
        return config, None
    item = splits.train[0]
    sample = item[0] if isinstance(item, (tuple, list)) else None
    convs = one_pixel_convs(model, tuple(sample.shape)) if isinstance(sample, torch.Tensor) else []
    if not convs:
        return config, None
    where = f"{convs[0]}" + (f" and {len(convs) - 1} more" if len(convs) > 1 else "")
    larger = "a larger --image-size" if config.domain == "image" else "longer or larger samples"
    if asked in (None, "auto"):
        return config.replace(amp="off"), (
            f"fp32, not bf16: {where} sees a 1-pixel map at input size {tuple(sample.shape)}, where the CPU's "
            f"bf16 weight gradients come out NaN at random; {larger} would train in bf16")
    return config, (f"--amp bf16 kept as asked, but {where} sees a 1-pixel map at input size {tuple(sample.shape)}, "
                    "where the CPU's bf16 weight gradients come out NaN at random: expect non-finite steps "
                    "(--amp off avoids them)")
