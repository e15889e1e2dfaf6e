"""Archives of datasets (.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz, .zip): detection and safe, cached extraction.

`extract` unpacks an archive once into the cache (keyed by its path, size and mtime, under a lock so
concurrent DDP ranks do not race) and returns the folder; tar members with absolute paths, ".." or
links are refused.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from pathlib import Path

from ..errors import UserError
from .storage import fingerprint, locked

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")


def is_archive(p: Path) -> bool:
    """True if `p` is a file whose name ends in one of ARCHIVE_SUFFIXES (case-insensitive)."""
    return p.is_file() and p.name.lower().endswith(ARCHIVE_SUFFIXES)


def archive_stem(p: Path) -> str:
    """The file name without its archive suffix ("cifar10.tar.gz" -> "cifar10")."""
    name = p.name
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return p.stem


def extract(archive: Path, cache: Path) -> Path:
    """Extract an archive once into the cache, keyed by its path, size and mtime; return the folder."""
    st = archive.stat()
    dest = cache / "extracted" / fingerprint(str(archive.resolve()), st.st_size, st.st_mtime_ns)
    with locked(cache / "extracted"):
        return _extract_locked(archive, dest)


def _extract_locked(archive: Path, dest: Path) -> Path:
    """Extract into a temp folder, then rename: an interrupted extraction is never mistaken for a complete one."""
    done = dest / ".complete"
    if done.exists():
        return dest
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)
        else:
            with tarfile.open(archive) as t:
                _safe_extract(t, tmp)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"cannot extract archive {str(archive)!r}: {e}") from e
    if dest.exists():  # left by an interrupted run before .complete was written
        shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    done.touch()
    return dest


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract refusing absolute paths, ".." and links (the "data" filter; checked by hand on older Pythons)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    members = []
    for m in tar.getmembers():
        if m.name.startswith(("/", "\\")) or ".." in Path(m.name).parts or m.issym() or m.islnk():
            raise tarfile.TarError(f"unsafe member {m.name!r}")
        members.append(m)
    tar.extractall(dest, members=members)
