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
        raise UserError(_unreadable(p, detail.group(1) if detail else text[:200])) from None
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - arbitrary bytes reach every corner of the unpickler (IndexError, struct.error...)
        raise UserError(_unreadable(p, " ".join(str(e).split())[:200] or type(e).__name__)) from None
    return obj


# what a file that torch cannot load most likely is, by its first bytes (the message a user can act on)
_LEGACY_TORCH = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # torch.save's old format: a pickled magic number
_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"\x93NUMPY", "a NumPy .npy array"), (b"\x89HDF", "an HDF5 file (a Keras or TensorFlow model?)"),
          (b"\x1f\x8b", "a gzip-compressed file (decompress it first?)"), (b"%PDF", "a PDF document"))


def _unreadable(p: Path, detail: str) -> str:
    """The message for a file torch.load cannot read: what the file looks like, else torch's own words."""
    what = _looks_like(p)
    if what is None and ("EOF" in detail or "Ran out of input" in detail):
        what = "it is a PyTorch file that ends too soon (cut short or damaged)"
    return f"checkpoint {str(p)!r} is not a readable PyTorch file: {what or detail}"


def _looks_like(p: Path) -> str | None:
    """What the file seems to be, in a user's words; None where it looks like an intact PyTorch file."""
    try:
        with open(p, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        return f"it cannot be read ({e.strerror or e})"
    if head.startswith(b"PK\x03\x04"):  # torch.save's format is a zip archive
        try:
            with zipfile.ZipFile(p) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return "it is a zip archive cut short or damaged (copied or downloaded only in part?)"
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return None
        if names and all(n.endswith(".npy") for n in names):
            return "it is a NumPy .npz archive, not a checkpoint written by torch.save"
        return "it is a zip archive of other files, not a checkpoint written by torch.save"
    if head.startswith(_LEGACY_TORCH):  # torch reads a whole one or refuses its objects (handled before this)
        return "it is a PyTorch file of the old format that ends too soon or is damaged"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return f"it is {name}, not a checkpoint written by torch.save"
    if len(head) > 8 and head[8:10] == b'{"' and 0 < int.from_bytes(head[:8], "little") < 100_000_000:
        return "it is a safetensors file; load it with safetensors and save the tensors with torch.save"
    if head[:1] == b"\x80":
        return "it is a Python pickle, not a checkpoint written by torch.save"
    if b"\x00" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as e:
            text = head[:e.start].decode("utf-8") if e.start >= len(head) - 3 else None  # a character cut at 4096
        if text is not None:
            kind = "a JSON file" if text.lstrip()[:1] in ("{", "[") else "a text file"
            return f"it holds text ({kind}?), not a checkpoint written by torch.save"
    return "its bytes are not a format torch.save writes (another program's file, or a damaged one)"


def is_resnet_any(obj: Any) -> bool:
    """Whether a loaded object is a resnet_any training checkpoint."""
    return isinstance(obj, dict) and obj.get("format") == FORMAT
