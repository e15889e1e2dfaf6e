"""What the app tells a remote user about an error: the one place that decides it.

The data readers raise the same errors for the command line and for the app, and do not know who asks.
On the command line the reader of a message is the owner of the files, who may see everything in them;
a user of the app is someone else, on another machine. `public_message` renders any exception for that
user:

- `DataError` (a problem in a data file): the file named relative to the data root, the row (line,
  sample) and column, and what was expected; never the value found there, never a server path. A file
  outside the data root is not named at all (the app reads none, but a dataset's cache may be elsewhere).
- `PublicError`: a refusal the app composed itself from what the user sent (a bad path, a number out of
  range, a rate limit); shown as it is.
- any other `UserError`: shown only when it is on the short allow-list below (messages known to hold
  nothing but names the user typed and the valid choices), some of them reworded for the app; else a
  generic line.
- anything else: a generic line naming the exception's type only.

In every case a text that still looks like it holds a server path is replaced by the generic line.
The full message goes to the server's log (the operator's), never to the user.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from resnet_any.errors import DataError, UserError

GENERIC = ("the data could not be loaded or trained on; check its layout against the README's \"Your own files\" "
           "section; the details are in the server's log")
OUT_OF_MEMORY = "out of memory; lower the batch size or pick a smaller model"
MAX_TEXT = 600  # characters of one message
MAX_NAME = 120  # characters of a file or column name in a message

# (pattern, rewrite): a UserError whose whole text matches is shown, as `rewrite` (re.Match.expand) or as is.
# Each holds nothing but a dataset/model name the user typed, option values the user sent, and constant text.
_NAME = r"'[^'/\\\n]{0,100}'"
ALLOWED: tuple[tuple[re.Pattern[str], str | None], ...] = tuple((re.compile(p), r) for p, r in (
    (rf"unknown domain {_NAME}; valid: [\w, ]+", None),
    (rf"unknown (image|series|graph|volume) dataset {_NAME}; valid: .*", None),
    (rf"model {_NAME} is an? \w+ model, not \w+; valid: [\w, ]+", None),
    (rf"unknown --[\w-]+ {_NAME}; valid: [\w, ]+", None),
    (r"--[\w-]+ must be [^/\\]{1,80}, got [^/\\]{1,80}", None),
    (rf"dataset {_NAME} has only one class \(.*\); a classifier needs at least two",
     "the dataset has only one class; a classifier needs at least two"),
    (rf"dataset {_NAME} has an empty (train|val) split", r"the dataset has an empty \1 split"),
    (rf"domain {_NAME} has no recipe for {_NAME} data", None),
    (r"(\w+) needs --data-dir: ([^/\\].*)", r"\1 needs a data dir (a folder in the data root): \2"),
    (r"MNIST is not embedded and the network is unreachable.*",
     "mnist is not on this server: upload the four MNIST IDX files (a zip) and give their folder as the data dir"),
    (r"(cifar10|cifar100) needs a download and the network is unreachable.*",
     r"\1 is not on this server; train on an image folder of it instead (upload a zip of class folders)"),
    (rf"series dataset ({_NAME}) is not shipped with aeon and the network is unreachable.*",
     r"series dataset \1 is not on this server: upload its NAME_TRAIN.tsv and NAME_TEST.tsv (a zip) and give "
     r"their folder as the data dir with the dataset name"),
    (rf"(\w+) needs a download and the network is unreachable.*",
     r"\1 is not on this server and cannot be downloaded; pick another dataset"),
))
# An absolute path (POSIX, home-relative or Windows) where a message would name one.
_ABSOLUTE = re.compile(r"(^|[\s'\"(=:,\[])(/|~[\w/]|[A-Za-z]:[\\/])")


class PublicError(UserError):
    """A refusal the app composed from the user's own input and constant text: safe for any audience."""


def _one_line(text: str, limit: int = MAX_TEXT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _leaks_path(text: str, data_root: Path | None) -> bool:
    """Whether `text` looks like it names a server path (the data root, the home or working dir, any absolute one)."""
    if _ABSOLUTE.search(text):
        return True
    places = [str(data_root)] if data_root is not None else []
    places += [os.getcwd(), str(Path.home())]
    return any(p and len(p) > 1 and p in text for p in places)


def relative_name(path: object, data_root: Path | None) -> str | None:
    """`path` relative to the data root (POSIX separators), or None when it is not inside it."""
    if path is None or data_root is None:
        return None
    root = Path(data_root)
    candidates = [Path(os.path.abspath(os.fspath(path)))]  # as the reader was given it: no link followed
    try:
        candidates.append(candidates[0].resolve())
    except (OSError, RuntimeError):
        pass
    for p in candidates:
        for r in (root, root.resolve()):
            try:
                rel = p.relative_to(r).as_posix()
            except ValueError:
                continue
            return rel if rel != "." else ""
    return None


def _short(name: object) -> str:
    text = " ".join(str(name).split())
    return repr(text if len(text) <= MAX_NAME else text[: MAX_NAME - 3] + "...")


def render_data_error(error: DataError, data_root: Path | None) -> str:
    """A DataError for a remote user: where (relative to the data root) and what was expected, never the value."""
    rel = relative_name(error.path, data_root)
    if rel is None:
        name = "a file of the dataset" if error.path is not None else None
    else:
        name = _short(rel) if rel else "the data root"
    layout = ("the data does not have the expected layout; check it against the README's \"Your own files\" "
              "section")
    if error.expected is None:  # its text holds no content of the file: shown as the owner reads it, names relative
        text = _one_line(error.render(name, _short))
        return text if not _leaks_path(error.render("", _short), data_root) else _one_line(
            f"{error.place(name, _short)}: {layout}")
    expected = _one_line(error.expected)
    if _leaks_path(expected, data_root):
        expected = layout
    where = error.place(name, _short)
    return _one_line(f"{where}: {expected}" if where else expected)


def public_message(error: BaseException, data_root: Path | None, fallback: str = GENERIC) -> str:
    """The one line a remote user of the app is told about `error` (see the module docstring for the rules)."""
    if isinstance(error, MemoryError):
        return OUT_OF_MEMORY
    if isinstance(error, DataError):
        return render_data_error(error, data_root)
    if isinstance(error, PublicError):
        text = _one_line(str(error))
        return text if not _leaks_path(text, data_root) else fallback
    if isinstance(error, UserError):
        text = _one_line(str(error))
        for pattern, rewrite in ALLOWED:
            m = pattern.fullmatch(text)
            if m is not None:
                shown = _one_line(m.expand(rewrite)) if rewrite is not None else text
                return shown if not _leaks_path(shown, data_root) else fallback
        return fallback
    return f"{fallback} ({type(error).__name__})"
