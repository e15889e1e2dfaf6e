"""Checkpoints: atomic writes, and loads that never run code (torch.load with weights_only=True only)."""
from __future__ import annotations

import io
import json
import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from resnet_any.errors import UserError

FORMAT = "resnet_any"
VERSION = 1
TMP_MARK = ".tmp-"


def _fsync_dir(directory: Path) -> None:
    # the rename itself is durable only once the directory entry is flushed (POSIX)
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write `path` via a temp file in the same directory, fsync, then os.replace: readers see old or new, never half."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise UserError(f"cannot write {str(path)!r}: {e.strerror or e}") from None
    _fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Atomically replace a text file."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | Path, data: Any) -> None:
    """Atomically replace a JSON file (indented, trailing newline)."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def remove_stale_temps(directory: str | Path) -> None:
    """Delete temp files left by a write that was killed midway (they never replaced anything)."""
    d = Path(directory)
    if d.is_dir():
        for p in d.iterdir():
            if TMP_MARK in p.name and p.is_file():
                try:
                    p.unlink()
                except OSError:
                    pass


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Atomically save a checkpoint dict of tensors and plain Python values."""
    atomic_write(path, lambda f: torch.save(state, f))


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """torch.load with weights_only=True; anything that would need code to unpickle is refused with a UserError."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"checkpoint {str(p)!r} does not exist")
    if p.stat().st_size == 0:
        raise UserError(f"checkpoint {str(p)!r} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's legacy-format warnings say nothing a user can act on
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = " ".join(str(e).split())
        # torch words this differently across versions ("Unsupported global: GLOBAL x" / "unsupported GLOBAL x whose
        # module is blocked"); never echo its advice to retry with weights_only=False
        found = re.search(r"unsupported global:? (?:GLOBAL )?([\w.]+)", text, re.IGNORECASE)
        if found:
            raise UserError(f"refused to load {str(p)!r}: it references {found.group(1)}, and loading it would run "
                            "code (only weights_only checkpoints of tensors and plain values are accepted)") from None
        detail = re.search(r"WeightsUnpickler error: (.*?)(?: Check the documentation|$)", text)
        if not detail and "weights_only" in text:
            raise UserError(f"refused to load {str(p)!r}: it holds objects that would need code to unpickle (only "
                            "weights_only checkpoints of tensors and plain values are accepted)") from None
        raise UserError(f"checkpoint {str(p)!r} is not a readable PyTorch file: "
                        f"{detail.group(1) if detail else text[:200]}") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError, AttributeError, TypeError) as e:
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise UserError(f"checkpoint {str(p)!r} is not a readable PyTorch file: {msg}") from None
    return obj


def is_resnet_any(obj: Any) -> bool:
    """Whether a loaded object is a resnet_any training checkpoint."""
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def build_model(ckpt: dict[str, Any], model: nn.Module | None = None) -> nn.Module:
    """The checkpoint's model with its weights: rebuilt through the registry, or `model` (any nn.Module) loaded."""
    name = ckpt.get("model_name")
    if model is None:
        if name is None:
            cls = ckpt.get("model_class") or "a model of your own"
            raise UserError(f"this checkpoint holds {cls}, not a registry model: build it and pass it, as in "
                            "load_checkpoint(path, model=MyModel(...))")
        from resnet_any.domains import create_model

        model = create_model(name, **ckpt["model_kwargs"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        line = " ".join(str(e).split())[:300]
        what = repr(name) if name else type(model).__name__
        raise UserError(f"checkpoint weights do not fit model {what}: {line}") from None
    return model


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu",
                    model: nn.Module | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Load a resnet_any checkpoint as (model in eval mode on `device`, meta) ready for inference.

    Registry models are rebuilt from the checkpoint; for a model of your own (trained with `fit`) pass an
    instance as `model` and the weights load into it. meta holds model, model_kwargs, domain, task,
    class_names, num_classes, data (preprocessing facts), config (the run's resolved options as a dict),
    epoch and best (epoch, val_acc).
    """
    ckpt = read_checkpoint(path)
    if not is_resnet_any(ckpt):
        raise UserError(f"{str(path)!r} is not a resnet_any checkpoint (a bare state_dict? use --init for those)")
    model = build_model(ckpt, model).to(device).eval()
    meta = {k: ckpt.get(k) for k in ("domain", "task", "class_names", "num_classes", "data", "config", "epoch",
                                     "best", "model_kwargs", "version", "model_class", "split_sizes")}
    meta["model"] = ckpt["model_name"] or ckpt.get("model_class")
    return model, meta


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
