"""Where loaders keep files: the writable cache, local copies of read-only data, network checks, find-else-download."""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from ..errors import UserError

CACHE_ENV = "RESNET_ANY_CACHE"
OFFLINE_ENV = "RESNET_ANY_OFFLINE"
Found = TypeVar("Found")


def _writable(path: Path) -> bool:
    """True if `path` exists (or can be created) and a file can be written inside it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
        return True
    except OSError:
        return False


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder: `cache_dir`, else $RESNET_ANY_CACHE, else ~/.cache/resnet_any, else a temp dir."""
    if cache_dir is not None:
        path = Path(cache_dir).expanduser()
        if not _writable(path):
            raise UserError(f"cache dir {str(path)!r} is not writable; pass a writable folder")
        return path
    candidates = []
    if os.environ.get(CACHE_ENV):
        candidates.append(Path(os.environ[CACHE_ENV]).expanduser())
    candidates.append(Path.home() / ".cache" / "resnet_any")
    # A read-only home (containers, CI sandboxes) must not stop an offline default run.
    candidates.append(Path(tempfile.gettempdir()) / f"resnet_any-{os.getuid() if hasattr(os, 'getuid') else 'user'}")
    for path in candidates:
        if _writable(path):
            return path
    raise UserError(f"no writable cache dir among {', '.join(map(str, candidates))}; set ${CACHE_ENV}")


def online(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Quick reachability check so a download is tried only when it can succeed (never hangs)."""
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def find_or_download(find: Callable[[], Found | None], download: Callable[[], object], *, host: str,
                     offline: str, offline_public: str, failed: str, missing: str) -> Found:
    """What `find` finds; else, when `host` answers, what it finds after `download`; else a one-line UserError.

    The messages say where the files go: `offline` when the network is unreachable, `failed` (followed by
    ": <the exception>") when the download raises, `missing` when it ran but `find` still finds nothing.
    `offline_public` is what a remote user of the app is told instead of `offline`, which names the server's
    cache (UserError's `public`); the other two name it too, and the app shows them as a generic line.
    """
    found = find()
    if found is not None:
        return found
    if not online(host):
        raise UserError(offline, public=offline_public)
    try:
        download()
    except Exception as e:  # noqa: BLE001 - any download failure becomes one clear line
        raise UserError(f"{failed}: {e}") from e
    found = find()
    if found is None:
        raise UserError(missing)
    return found


def fingerprint(*parts: object) -> str:
    """Short stable hash of strings/numbers, used to key cache entries."""
    h = hashlib.sha1()
    for part in parts:
        h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def tree_fingerprint(files: list[Path]) -> str:
    """Hash of paths, sizes and mtimes: changes whenever a file is added, removed or rewritten."""
    h = hashlib.sha1()
    for f in files:
        st = f.stat()
        h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def copy_files(files: list[Path], dest: Path) -> Path:
    """Copy `files` into `dest` (created), skipping ones already there with the same size."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = dest / f.name
        if target.exists() and target.stat().st_size == f.stat().st_size:
            continue
        # Copy the bytes only: sources may be read-only and the cache copy must stay writable.
        shutil.copyfile(f, target)
    return dest


def require_dir(path: str | os.PathLike | None, what: str, layout: str) -> Path:
    """Return `path` as a Path if it is an existing, non-empty folder, else a UserError describing `layout`."""
    if path is None:
        raise UserError(f"{what} needs --data-dir: {layout}",
                        public=f"{what} needs a data dir (a folder in the data root): {layout}")
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"data dir {str(p)!r} for {what} does not exist; expected {layout}")
    if p.is_dir() and not any(p.iterdir()):
        raise UserError(f"data dir {str(p)!r} for {what} is empty; expected {layout}")
    return p


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` so concurrent processes (DDP ranks) do not build the same cache twice."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no flock; concurrent first runs there are the user's risk
        yield
        return
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
