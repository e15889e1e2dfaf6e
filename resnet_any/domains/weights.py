"""Weights into models: a resnet_any checkpoint rebuilt as its model, and --init/--pretrained transfer.

Model-level, as timm keeps `load_checkpoint` beside its model factory: the trainer, inference, export and
the app load through here; reading the file itself (never running code) is resnet_any.files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_any.core.registry import build
from resnet_any.domains.checkpoint_info import CheckpointInfo
from resnet_any.errors import UserError
from resnet_any.files import is_resnet_any, read_checkpoint


def build_model(ckpt: dict[str, Any], model: nn.Module | None = None) -> nn.Module:
    """The checkpoint's model with its weights: rebuilt through the registry, or `model` (any nn.Module) loaded."""
    name = ckpt.get("model_name")
    if model is None:
        if name is None:
            cls = ckpt.get("model_class") or "a model of your own"
            raise UserError(f"this checkpoint holds {cls}, not a registry model: build it and pass it, as in "
                            "load_checkpoint(path, model=MyModel(...))")
        model = build(name, **ckpt["model_kwargs"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        line = " ".join(str(e).split())[:300]
        what = repr(name) if name else type(model).__name__
        raise UserError(f"checkpoint weights do not fit model {what}: {line}") from None
    return model


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu",
                    model: nn.Module | None = None) -> tuple[nn.Module, CheckpointInfo]:
    """Load a resnet_any checkpoint as (model in eval mode on `device`, meta) ready for inference.

    Registry models are rebuilt from the checkpoint; for a model of your own (trained with `fit`) pass an
    instance as `model` and the weights load into it. meta (a CheckpointInfo, readable by attribute or by
    key as the dict it was) holds model, model_kwargs, domain, task, class_names, num_classes, data
    (preprocessing facts), config (the run's resolved options as a dict), epoch and best (epoch, val_acc).
    """
    ckpt = read_checkpoint(path)
    if not is_resnet_any(ckpt):
        raise UserError(f"{str(path)!r} is not a resnet_any checkpoint (a bare state_dict? use --init for those)")
    model = build_model(ckpt, model).to(device).eval()
    return model, CheckpointInfo.from_checkpoint(ckpt)


def _state_dict_of(obj: Any, path: str | Path) -> dict[str, torch.Tensor]:
    if is_resnet_any(obj):
        return obj["model"]
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):  # common wrappers of other trainers
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise UserError(f"{str(path)!r} holds no state_dict (expected a resnet_any checkpoint or a mapping of tensors)")


def init_from(model: nn.Module, path: str | Path, flag: str = "--init") -> dict[str, Any]:
    """Load weights for transfer learning; a head of another class count is left fresh. Returns a report.

    `flag` names the option that asked, in messages (--init, --pretrained).
    """
    src = _state_dict_of(read_checkpoint(path), path)
    # DataParallel / torch.compile prefixes would make every key miss
    src = {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in src.items()}
    own = model.state_dict()
    load, skipped_head, adapted = {}, [], []
    mismatched = []
    for k, target in own.items():
        if k not in src:
            continue
        v = src[k]
        if v.shape == target.shape:
            load[k] = v
        elif k.startswith("fc."):
            skipped_head.append(k)
        elif v.ndim == target.ndim and v.ndim >= 3 and v.shape[0] == target.shape[0] and v.shape[2:] == target.shape[2:] \
                and target.shape[1] == 1:
            # an RGB stem onto a grayscale model: summing over colour keeps the filter's response (as timm does)
            load[k] = v.sum(dim=1, keepdim=True)
            adapted.append(k)
        else:
            mismatched.append(f"{k} {tuple(v.shape)} vs {tuple(target.shape)}")
    if mismatched:
        raise UserError(f"{flag} {str(path)!r} does not fit this model: {mismatched[0]}"
                        + (f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""))
    body = [k for k in own if not k.startswith("fc.")]
    if not any(k in load for k in body):
        raise UserError(f"{flag} {str(path)!r} shares no weights with this model (keys like {next(iter(src))!r})")
    missing = [k for k in body if k not in load and not k.endswith("num_batches_tracked")]
    model.load_state_dict(load, strict=False)
    return {"loaded": len(load), "fresh_head": bool(skipped_head), "adapted": adapted, "missing": missing,
            "unused": [k for k in src if k not in own]}
