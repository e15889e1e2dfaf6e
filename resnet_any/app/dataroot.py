"""The app's data root: the one folder whose files the Train tab may read, and how typed paths map into it.

Paths a user types (the dataset field, the data dir field) are relative to the data root. A path is
accepted only if it stays inside the root after every symbolic link is followed; absolute paths, `..`,
NUL and control characters, and over-long names are refused before the file system is asked anything.
A folder is accepted only if nothing under it links out of the root, and an image manifest only if every
image it lists is inside the root. Refusals are one line that names neither the resolved path nor
whether it exists. Uploads (uploads.py) land in `UPLOADS` under the root; the embedded dataset names
stay available as names.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from resnet_any.app.messages import PublicError

UPLOADS = "uploads"
MAX_PATH_CHARS = 1024
MAX_NAME_BYTES = 255
MAX_TREE_ENTRIES = 200_000
# Named datasets whose loaders read Python pickles (or torch files that may fall back to pickles) from their
# data dir: never from a folder users can fill. graph: Planetoid's raw files are pickles, TU's processed ones
# torch files; graphs of your own are CSV folders, given as the dataset path.
PICKLED = {"image": {"cifar10", "cifar100"}}
NO_DATA_DIR_DOMAINS = {"graph"}


def check_syntax(text: str, what: str) -> PurePosixPath:
    """`text` as a relative POSIX path, or the refusal: absolute, '~', drive letters, backslashes, '..', NUL and
    control characters, more than MAX_PATH_CHARS characters or a name over MAX_NAME_BYTES bytes."""
    if (not isinstance(text, str) or not text or len(text) > MAX_PATH_CHARS
            or any(ord(c) < 32 or c == "\x7f" for c in text) or "\\" in text or text.startswith("~")
            or (len(text) > 1 and text[1] == ":")):
        raise refusal(what)
    pure = PurePosixPath(text)
    if pure.is_absolute() or any(part == ".." for part in pure.parts) \
            or any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for part in pure.parts):
        raise refusal(what)
    return pure


def refusal(what: str) -> PublicError:
    """The one refusal of a path that is not acceptable: it repeats nothing of the path or the file system."""
    return PublicError(f"{what} must be a path inside the data root, relative to it (no absolute path, no '..', "
                       f"no link out of it); upload your data to put it there")


class DataRoot:
    """The folder the Train tab reads from (created if missing), resolved once."""

    def __init__(self, path: str | os.PathLike) -> None:
        p = Path(path).expanduser()
        p.mkdir(parents=True, exist_ok=True)
        self.path = p.resolve()

    def __str__(self) -> str:
        return str(self.path)

    def inside(self, p: str | os.PathLike) -> bool:
        """Whether `p`, every link followed, is the root or under it."""
        try:
            real = Path(os.path.realpath(p))
        except (OSError, ValueError):
            return False
        return real == self.path or real.is_relative_to(self.path)

    def relative(self, p: Path) -> str:
        """`p` (inside the root) as the path a user types."""
        return Path(p).relative_to(self.path).as_posix()

    def locate(self, text: str, what: str) -> Path:
        """The existing file or folder `text` names relative to the root, links followed, or a PublicError.

        Syntax is checked first (no file system access for a refused path); then the resolved path must be
        inside the root, exist, and (a folder) hold nothing that links out of the root.
        """
        text = text.strip() if isinstance(text, str) else text
        pure = check_syntax(text, what)
        candidate = self.path.joinpath(*pure.parts)
        if not self.inside(candidate):
            raise refusal(what)
        real = Path(os.path.realpath(candidate))
        uploads = self.path / UPLOADS
        if real == uploads or uploads.is_relative_to(real):
            # the root itself or the uploads folder would read every user's uploads (and show their class
            # names and folder tokens); an upload is reached by its own uploads/<token>/... path only
            raise refusal(what)
        try:
            exists = real.exists()
        except (OSError, ValueError):
            raise refusal(what) from None
        if not exists:
            shown = text if len(text) <= 120 else text[:117] + "..."
            raise PublicError(f"{what} {shown!r} is not in the data root; upload your data first (its path is "
                              f"filled in for you) or check the spelling")
        self.check_tree(real, what)
        return real

    def check_tree(self, p: Path, what: str) -> None:
        """Refuse a folder with a link out of the root below it, or anything but plain files and folders."""
        if p.is_file():
            if not stat.S_ISREG(p.stat().st_mode):
                raise PublicError(f"{what} is not a plain file or folder")
            return
        if not p.is_dir():
            raise PublicError(f"{what} is not a plain file or folder")
        seen, count = set(), 0
        for dirpath, dirnames, filenames in os.walk(p, followlinks=True):
            real_dir = os.path.realpath(dirpath)
            if real_dir in seen:  # a link loop inside the root: walk each folder once
                dirnames[:] = []
                continue
            seen.add(real_dir)
            for name in dirnames + filenames:
                count += 1
                if count > MAX_TREE_ENTRIES:
                    raise PublicError(f"{what} holds more than {MAX_TREE_ENTRIES:,} files and folders; the app reads "
                                   f"smaller datasets")
                entry = os.path.join(dirpath, name)
                if os.path.islink(entry) and not self.inside(entry):
                    raise refusal(what)
                try:
                    mode = os.stat(entry).st_mode
                except OSError:
                    continue  # a dangling link inside the root: the reader skips or names it
                if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    raise PublicError(f"{what} holds something that is neither a plain file nor a folder")

    def check_manifest(self, manifest: Path, what: str) -> None:
        """Refuse an image manifest (.jsonl/.csv, or a folder holding one) listing an image outside the root."""
        from resnet_any.data import images

        for file, _, _, where in images.manifest_rows(manifest):
            if not self.inside(file):
                raise PublicError(f"{what}: the manifest's {where} names an image outside the data root; image paths "
                               f"must be relative to the manifest and stay inside the data root")


def resolve_dataset(root: DataRoot, domain: str, dataset: str | None, data_dir: str | None,
                    known: list[str]) -> tuple[str | None, str | None]:
    """The Train tab's dataset and data dir fields as TrainConfig values: a name stays a name, a path becomes an
    absolute path inside the root (checked); anything else is a PublicError.

    `known` are the domain's dataset names: a field matching one (case-insensitively) is that name, even if a
    file of that name is in the root. A bare word that is neither a name nor in the root stays a name, so the
    loader answers "unknown dataset ...; valid: ..." (it is never looked up relative to the server's working
    directory).
    """
    from resnet_any.data import PATH_SUFFIXES, dataset_path

    name = (dataset or "").strip()
    lower = {n.lower() for n in known}
    dir_text = (data_dir or "").strip()
    resolved_dir = None
    if dir_text:
        if domain in NO_DATA_DIR_DOMAINS:
            raise PublicError(f"the {domain} domain takes no data dir in the app: give your graph folder (nodes.csv "
                              f"and edges.csv, or graphs.csv and edges.csv) as the dataset path")
        if name.lower() in PICKLED.get(domain, set()):
            raise PublicError(f"{name.lower()} reads Python pickles from its data dir, which the app does not load; "
                           f"train on an image folder of it instead (the dataset path)")
        real_dir = root.locate(dir_text, "the data dir")
        if domain == "image" and name.lower() == "manifest":
            root.check_manifest(real_dir, "the data dir")
        resolved_dir = str(real_dir)
    if not name:
        return None, resolved_dir
    check_syntax(name, "the dataset")
    if name.lower() in lower:
        return name, resolved_dir
    bare = "/" not in name and not any(name.lower().endswith(s) for s in PATH_SUFFIXES.get(domain, ())) \
        and not name.lower().endswith((".jsonl", ".csv", ".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".npz"))
    if bare:
        try:
            in_root = os.path.lexists(root.path / name)  # a link counts (locate refuses one that leads out)
        except (OSError, ValueError):
            in_root = False
        if not in_root:
            if resolved_dir is None or len(name) > 100 or dataset_path(domain, name, resolved_dir) is not None:
                # neither a known name nor in the root (a name in a data dir is looked up there only): one answer
                # for every such word, never a look at the server's working directory, whose answer would differ
                # for names that exist there
                raise PublicError(f"unknown {domain} dataset {name[:100]!r}; valid: {', '.join(known)}, or a path "
                                  "in the data root")
            return name, resolved_dir
    real = root.locate(name, "the dataset")
    if domain == "image" and real.is_file() and real.suffix.lower() in (".jsonl", ".csv"):
        root.check_manifest(real, "the dataset")
    return str(real), resolved_dir
