"""The one exception type a user can cause; CLIs print its message and exit with code 2."""
from __future__ import annotations

import os


class UserError(ValueError):
    """Bad input from the user (unknown name, bad path, corrupt file, invalid value).

    The message is a single line naming the bad value and what would be valid.
    Command-line entry points catch it, print it to stderr and exit 2, never a traceback.
    """


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
