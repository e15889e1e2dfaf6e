"""The one exception type a user can cause, and the one place that turns it into a CLI's exit code 2."""
from __future__ import annotations

import argparse
import difflib
import functools
import os
import sys
import warnings
from typing import Any, Callable, NoReturn, Sequence


class UserError(ValueError):
    """Bad input from the user (unknown name, bad path, corrupt file, invalid value).

    The message is a single line naming the bad value and what would be valid.
    Command-line entry points catch it, print it to stderr and exit 2, never a traceback.

    `public` says, where the error is raised, what a remote user of the app may see of it
    (`resnet_any.app.messages.public_message`): False (the default) for nothing but a generic line; True
    when the whole text holds only names the user typed, option values and constant text; or the text to
    show instead (the message reworded without what is not theirs: a server path, a file's content).
    str() is the same whichever it is: the command line always prints the full message.
    """

    def __init__(self, *args: object, public: bool | str = False) -> None:
        super().__init__(*args)
        self.public = public


class NotThisRank(Exception):
    """Raised on ranks > 0 for work that runs in one process (full-batch node classification): exit cleanly."""


def read_text_file(path: str | os.PathLike, what: str) -> str:
    """The text of a user's file, or a UserError saying it is missing or unreadable (`what` names it)."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} {str(p)!r} does not exist")
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {what} {str(p)!r}: {e}") from None


def cli_environment() -> None:
    """What a command-line process sets before torch loads; importing the library sets nothing.

    torch's OpenMP workers spin while waiting by default; on a small or busy CPU they starve the main
    thread (a resnet18 step measured 2.5 s spinning vs 0.06 s passive on 2 shared cores). OpenMP reads
    this when torch loads, so entry points call it first; an explicit setting by the user wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Parser(argparse.ArgumentParser):
    """argparse that raises UserError instead of printing usage and exiting, so every error is one line.

    Flags are matched whole: argparse's prefix matching would take a misspelt `--epoch 3` for `--epochs 3`
    without a word, and a flag added later could silently change what an old command line means. An
    unknown flag is answered with the closest known one ("did you mean --epochs?").
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self._suggestions: dict[str, str | None] = {}

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        """argparse's, remembering the nearest known flag to each unknown one this parser met."""
        ns, extras = super().parse_known_args(args, namespace)
        # a sub-command's parser hands its extras up to the top one, which knows none of its flags
        for flag in extras:
            if flag.startswith("-") and flag not in self._suggestions:
                known = [o for o in self._option_string_actions if o.startswith("--")]
                found = difflib.get_close_matches(flag.split("=", 1)[0], known, n=1, cutoff=0.6)
                self._suggestions[flag] = found[0] if found else None
        return ns, extras

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        """Parse `args`; unknown arguments are a UserError that names the nearest known flag, if any."""
        ns, extras = self.parse_known_args(args, namespace)
        if extras:
            hints = [f"did you mean {hint}?" for hint in (self._suggestion(f) for f in extras) if hint]
            self.error(f"unrecognized arguments: {' '.join(extras)}" + (f"; {' '.join(hints)}" if hints else ""))
        return ns

    def _suggestion(self, flag: str) -> str | None:
        """The nearest known flag to `flag`: the sub-command's that met it first, else this parser's."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    if isinstance(sub, Parser) and sub._suggestions.get(flag):
                        return sub._suggestions[flag]
        return self._suggestions.get(flag)

    def error(self, message: str) -> NoReturn:
        """Turn argparse's complaint into a UserError."""
        raise UserError(f"{self.prog}: {message}")


def one_line_warning(message: Warning | str, category: type, filename: str, lineno: int, file=None,
                     line: str | None = None) -> None:
    """Print a warning as `warning: ...` on one line, as errors are, without Python's file, line and source."""
    print(f"warning: {' '.join(str(message).split())}", file=file or sys.stderr)


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Call an entry point; a UserError becomes one stderr line and exit code 2, never a traceback."""
    # third-party deprecation chatter would break the one-line contract of errors
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    shown = warnings.showwarning
    warnings.showwarning = one_line_warning
    try:
        return main(argv)
    except UserError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; lower --batch-size or --image-size", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = shown


def command(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], int]:
    """Decorate a CLI's `main(argv)` so that calling it returns 2 with one stderr line on a UserError."""

    @functools.wraps(main)
    def wrapped(argv: Sequence[str] | None = None) -> int:
        return run_cli(main, argv)

    return wrapped


class DataError(UserError):
    """A problem found in a user's data file, with where it is and what was found as separate fields.

    The message is composed from `text` and the fields, once for every reader of it. In `text`, "{at}" stands
    for the place (the file, the row as its user counts rows, the column: "'f.csv' row 7 (as a spreadsheet
    counts rows: the header is row 1), column 'c'") and "{path}" for the file alone. str() is the full
    one-line message the command line prints to the file's owner, the file named as the reader was given it.
    A server tells a remote user the same text with the file named relative to its data root
    (`resnet_any.app.messages.public_message`), which is safe only when the text holds no content of the
    file: a reader whose `text` quotes what it found (a cell, a line, names found in the file, an exception
    about it) also gives `expected`, the problem and what would be valid without that content, which the
    server shows after the place instead.

    path: the file or folder (as the reader was given it); row: the row/line/sample number as the user
    counts it (`unit` says which, `counting` how it is counted); column: a column or array name; value: what
    was found there (content of the file).
    """

    def __init__(self, text: str, *, path: object = None, row: int | None = None, column: str | None = None,
                 value: object = None, expected: str | None = None, unit: str = "row",
                 counting: str | None = None) -> None:
        self.text = text
        self.path = path
        self.row = row
        self.column = column
        self.value = value
        self.expected = expected
        self.unit = unit
        self.counting = counting
        super().__init__(self.render(None if path is None else repr(str(path))))

    def place(self, name: str | None, quote: Callable[[object], str] = repr) -> str:
        """Where the problem is: `name` standing for the file, then the row and the column that are known."""
        where = name or ""
        if self.row is not None:
            where += f" {self.unit} {int(self.row)}"
            if self.counting:
                where += f" ({self.counting})"
        if self.column is not None:
            where += f"{',' if self.row is not None else ''} column {quote(self.column)}"
        return where.strip()

    def render(self, name: str | None, quote: Callable[[object], str] = repr) -> str:
        """The message with `name` standing for the file ({path}) and in the place ({at})."""
        return self.text.replace("{at}", self.place(name, quote)).replace("{path}", name or "")
