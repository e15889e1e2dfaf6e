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
- any other `UserError`: what its `public` field, set where it is raised, allows: the text as it is when
  True (it holds nothing but names the user typed, option values and constant text), the reworded text
  when a str (the message without what is not the user's: the server's cache, a file's content); else
  (the default) a generic line. The decision is made from that field, never from the wording.
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
        public = getattr(error, "public", False)
        if public is True:
            shown = _one_line(str(error))
        elif isinstance(public, str) and public.strip():
            shown = _one_line(public)
        else:
            return fallback
        return shown if not _leaks_path(shown, data_root) else fallback
    return f"{fallback} ({type(error).__name__})"
