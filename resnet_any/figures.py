"""The matplotlib kit every picture shares: an off-screen figure, its PNG bytes, and a PNG written into a folder.

A run's curves.png, evaluate's confusion matrix and regression/tag plots, explain's pictures and the app draw
through it, so the backend choice and the atomic write live in one place (a bottom floor: it imports only
errors and files).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from resnet_any.errors import UserError
from resnet_any.files import atomic_write


def figure(width: float, height: float) -> Any:
    """A matplotlib Figure of that size in inches (Agg backend: no display needed), laid out to fit."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_png(data: bytes, folder: str | Path, name: str) -> Path:
    """PNG bytes written atomically as `folder`/`name` (the folder made when missing); returns the path."""
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {str(out)!r}: {e.strerror or e}") from None
    atomic_write(out / name, lambda f: f.write(data))
    return out / name
