"""Datasets uploaded through the app: a zip, CSV, TSV, Parquet or npz file saved into the data root.

Every upload gets a fresh folder `uploads/<random>/` under the data root, so uploads never meet each other
or the operator's files, and its path (relative to the root) is what the Train tab's dataset field takes.
A single file keeps a sanitised name. A zip is extracted member by member with every check made before a
byte is written: no absolute names, no `..`, no backslashes or control characters, no links, no encrypted
members, no archives inside (the image loader would unpack those into its cache unchecked), at most
`MAX_FILES` files and `max_bytes` bytes in all (counted while writing, whatever the zip's headers claim).
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from resnet_any.app.dataroot import MAX_NAME_BYTES, UPLOADS, DataRoot
from resnet_any.app.limits import upload_size
from resnet_any.app.messages import PublicError
from resnet_any.data.archives import ARCHIVE_SUFFIXES

FILE_SUFFIXES = (".csv", ".tsv", ".parquet", ".npz")
UPLOAD_SUFFIXES = (".zip",) + FILE_SUFFIXES
MAX_FILES = 10_000
CHUNK = 1 << 20
# what zip tools add beside the data: never part of a dataset
JUNK = ("__MACOSX", ".DS_Store", "Thumbs.db")


def safe_name(name: str, default: str = "data") -> str:
    """A file name of letters, digits, '.', '-' and '_' only, with its suffix kept (lower-cased)."""
    base = Path(str(name).replace("\\", "/")).name
    stem, suffix = os.path.splitext(base)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-")[:80] or default
    suffix = suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", suffix) else ""
    return stem + suffix


def _member_parts(name: str) -> tuple[str, ...] | None:
    """The path parts of a zip member, None for junk to skip; a PublicError for a name unsafe to write."""
    if "\\" in name or any(ord(c) < 32 or c == "\x7f" for c in name):
        raise PublicError("the zip holds a member name with a backslash or a control character; zip the folder again "
                       "with a standard tool")
    pure = PurePosixPath(name)
    if pure.is_absolute() or name.startswith("~") or (len(name) > 1 and name[1] == ":"):
        raise PublicError("the zip holds a member with an absolute path; members must be relative")
    parts = tuple(p for p in pure.parts if p not in ("", "."))
    if any(p == ".." for p in parts):
        raise PublicError("the zip holds a member whose path contains '..'; members must stay inside the zip's folder")
    if any(len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts):
        raise PublicError(f"the zip holds a member name longer than {MAX_NAME_BYTES} bytes")
    if not parts or any(p in JUNK or p.startswith("._") for p in parts):
        return None
    return parts


# Compressed formats a reader inflates in memory (npz members, gzip'd IDX files, Parquet pages): what they
# declare they hold may be at most this many times the upload limit, so a 1 MB file cannot claim 1 GB
INFLATE_FACTOR = 10


def _inflated_bytes(path: Path) -> int:
    """What a compressed data file declares it inflates to (its own size for other files), read from headers only."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with zipfile.ZipFile(path) as z:
                return sum(i.file_size for i in z.infolist())
        if suffix == ".gz":
            with open(path, "rb") as f:  # gzip's trailer: the inflated size mod 2**32 (one member)
                f.seek(-4, os.SEEK_END)
                return max(int.from_bytes(f.read(4), "little"), path.stat().st_size)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path).metadata
            return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    except Exception:  # noqa: BLE001 - an unreadable file is the reader's to report, with its row and column
        return path.stat().st_size
    return path.stat().st_size


def _check_inflation(files: list[Path], max_bytes: int) -> None:
    """Refuse compressed data that would inflate past INFLATE_FACTOR x the upload limit when a reader loads it."""
    total = sum(_inflated_bytes(f) for f in files)
    if total > INFLATE_FACTOR * max_bytes:
        raise PublicError(f"the data inflates to more than {INFLATE_FACTOR * max_bytes / 2**20:.0f} MB when read "
                          f"(compressed npz, gzip or Parquet); the limit is {INFLATE_FACTOR} times the upload limit")


def _checked_members(z: zipfile.ZipFile, max_bytes: int) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """The members to extract, after every check that needs no writing."""
    members, total = [], 0
    for info in z.infolist():
        parts = _member_parts(info.filename)
        if parts is None:
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise PublicError("the zip holds a symbolic link; zip the files themselves")
        if info.flag_bits & 0x1:
            raise PublicError("the zip is encrypted; upload it without a password")
        if info.is_dir():
            members.append((info, parts))
            if len(members) > 2 * MAX_FILES:  # folders cost inodes too
                raise PublicError(f"the zip holds more than {2 * MAX_FILES:,} entries; the limit is {2 * MAX_FILES:,}")
            continue
        if parts[-1].lower().endswith(ARCHIVE_SUFFIXES):
            raise PublicError("the zip holds another archive; upload one zip of the files themselves")
        total += info.file_size
        members.append((info, parts))
        if sum(1 for m, _ in members if not m.is_dir()) > MAX_FILES:
            raise PublicError(f"the zip holds more than {MAX_FILES:,} files; the limit is {MAX_FILES:,}")
        if total > max_bytes:
            raise PublicError(f"the zip extracts to more than {max_bytes / 2**20:.0f} MB; the limit is "
                           f"{max_bytes / 2**20:.0f} MB")
    if not any(not m.is_dir() for m, _ in members):
        raise PublicError("the zip holds no files")
    return members


def _extract(src: Path, dest: Path, max_bytes: int) -> None:
    """Extract the checked members of the zip `src` into the empty folder `dest`, counting bytes as they land."""
    try:
        with zipfile.ZipFile(src) as z:
            members = _checked_members(z, max_bytes)
            written = 0
            for info, parts in members:
                target = dest.joinpath(*parts)
                if not Path(os.path.abspath(target)).is_relative_to(dest):  # belt and braces
                    raise PublicError("the zip holds a member outside its folder")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as fin, open(target, "xb") as fout:
                    while True:
                        chunk = fin.read(CHUNK)
                        if not chunk:
                            break
                        written += len(chunk)
                        if written > max_bytes:
                            raise PublicError(f"the zip extracts to more than {max_bytes / 2**20:.0f} MB; the limit "
                                           f"is {max_bytes / 2**20:.0f} MB")
                        fout.write(chunk)
    except PublicError:
        raise
    except FileExistsError:
        raise PublicError("the zip holds the same file twice (names differing only in case or in slashes?)") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError, ValueError):
        raise PublicError("the file is not a readable zip archive (corrupt, truncated or an unsupported "
                       "compression method)") from None
    except OSError:
        raise PublicError("cannot extract the zip: a member clashes with another (a file and a folder of the same "
                       "name?) or the server's disk is full") from None


def _tree_size(folder: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for f in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def save_upload(src: str | os.PathLike | None, root: DataRoot, max_bytes: int,
                max_total_bytes: int | None = None) -> str:
    """Save one uploaded file into a fresh folder under root/uploads; returns the dataset's path relative to root.

    A zip's path is its one top-level folder or file when it has just one, else the folder it was extracted to.
    """
    if src is None:
        raise PublicError("no file given; upload a zip, CSV, TSV, Parquet or npz file")
    path = Path(src)
    name = path.name
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise PublicError(f"a dataset upload must be one of {', '.join(UPLOAD_SUFFIXES)} (a zip of a folder, or one "
                       f"table); got {'a ' + suffix[:12] + ' file' if suffix else 'a file without a suffix'}")
    size = upload_size(path, max_bytes)
    uploads = root.path / UPLOADS
    uploads.mkdir(parents=True, exist_ok=True)
    if max_total_bytes is not None and _tree_size(uploads) + size > max_total_bytes:
        raise PublicError("the server's space for uploads is full; try again later")
    folder = uploads / secrets.token_hex(6)
    folder.mkdir()
    try:
        if suffix == ".zip":
            dest = folder / safe_name(name[: -len(suffix)], "dataset")
            dest.mkdir()
            _extract(path, dest, max_bytes)
            entries = [e for e in dest.iterdir() if not e.name.startswith(".")]
            target = entries[0] if len(entries) == 1 else dest
            _check_inflation([f for f in dest.rglob("*") if f.is_file()], max_bytes)
            if max_total_bytes is not None and _tree_size(uploads) > max_total_bytes:
                raise PublicError("the server's space for uploads is full; try again later")
        else:
            target = folder / safe_name(name)
            shutil.copyfile(path, target)
            _check_inflation([target], max_bytes)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return root.relative(target)
