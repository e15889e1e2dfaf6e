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
- metrics are computed in fp32 whatever the training precision (tasks.predict_split).
- channels_last for image batches: oneDNN's and cuDNN's fast convolution kernels want NHWC.
"""
from __future__ import annotations

import torch

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
