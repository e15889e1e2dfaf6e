"""File I/O every floor shares: atomic writes, and checkpoint reads that never run code (weights_only=True).

The bottom of the house, beside errors.py: it imports nothing of resnet_any but UserError, so the model
factory, the trainer, the sinks, inference and explain all write and read through it.
"""
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
