"""Benchmark rows: one schema for every suite, printed beside the published anchors or written as JSON."""
from __future__ import annotations

import json
import math
import statistics
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

from resnet_any.errors import UserError

KEYS = ("suite", "case", "metric", "ours", "anchor", "unit")


def make_row(suite: str, case: str, metric: str, ours: float, anchor: float | None = None, unit: str = "",
             **extra: Any) -> dict[str, Any]:
    """One result: our figure, the published (or same-run reference) anchor, and any extra keys."""
    row: dict[str, Any] = {"suite": suite, "case": case, "metric": metric, "ours": float(ours),
                           "anchor": None if anchor is None else float(anchor), "unit": unit}
    row.update({k: v for k, v in extra.items() if v is not None})
    return row


def summary(values: Sequence[float]) -> dict[str, Any]:
    """mean, sample std (0 for one value) and n of repeated measurements."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("summary of no values")
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return {"mean": statistics.fmean(vals), "std": std, "n": len(vals)}


def seeds_row(suite: str, case: str, metric: str, values: Sequence[float], anchor: float | None = None,
              unit: str = "fraction", **extra: Any) -> dict[str, Any]:
    """A row whose figure is the mean over seeds (or folds), with std, n and the raw values."""
    s = summary(values)
    return make_row(suite, case, metric, s["mean"], anchor, unit, **s, values=[round(float(v), 6) for v in values],
                    **extra)


def _num(value: float | None, unit: str) -> str:
    """A figure printed at a precision that suits its unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit in ("fraction", "x"):
        return f"{value:.3f}"
    if unit == "s":
        return f"{value:.1f}"
    if unit == "value":  # a target in its own units (an RMSE of 0.04 or of 70 passengers): 4 significant digits
        return f"{value:.4g}"
    return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"


def _ours(row: dict[str, Any]) -> str:
    text = _num(row["ours"], row["unit"])
    if row.get("n", 1) > 1 and "std" in row:
        text += f" ± {_num(row['std'], row['unit'])}"
    return text


def _gap(row: dict[str, Any]) -> str:
    if row.get("anchor") in (None, 0):
        return "-"
    if row["unit"] == "fraction":  # accuracies: a difference in points is what papers quote
        return f"{row['ours'] - row['anchor']:+.3f}"
    return f"{row['ours'] / row['anchor'] - 1:+.1%}"


def _goal(row: dict[str, Any]) -> str:
    """`goal` is a floor (accuracy), `limit` a ceiling (time); either prints with ok or MISS."""
    if row.get("goal") is not None:
        bound, ok = f">={_num(row['goal'], row['unit'])}", row["ours"] >= row["goal"]
    elif row.get("limit") is not None:
        bound, ok = f"<={_num(row['limit'], row['unit'])}", row["ours"] <= row["limit"]
    else:
        return ""
    return f"{bound} {'ok' if ok else 'MISS'}"


def format_table(rows: Iterable[dict[str, Any]]) -> str:
    """A plain-text table: case, metric, ours (± std), anchor, gap, unit, goal, note."""
    header = ("case", "metric", "ours", "anchor", "gap", "unit", "goal", "note")
    lines = [header]
    for r in rows:
        lines.append((r["case"], r["metric"], _ours(r), _num(r.get("anchor"), r["unit"]), _gap(r), r["unit"],
                      _goal(r), str(r.get("note", ""))))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for j, line in enumerate(lines):
        cells = [c.ljust(w) if i in (0, 1, 5, 6, 7) else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def comma_choices(text: str, valid: Sequence[str], what: str, flag: str, lower: bool = False) -> list[str]:
    """The entries of a comma-list option, each checked against `valid`: one UserError naming the bad one, or the
    empty list (`what` names an entry in the message, `flag` the option)."""
    items = [t.strip().lower() if lower else t.strip() for t in text.split(",") if t.strip()]
    for t in items:
        if t not in valid:
            raise UserError(f"unknown {what} {t!r}; valid: {', '.join(valid)}")
    if not items:
        raise UserError(f"{flag} is empty; valid: {', '.join(valid)}")
    return items


def check_writable(path: str | Path) -> None:
    """Raise a UserError unless a file can be written at `path` (its folder is made if missing)."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"--json {str(p)!r} is a folder; give a file path")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p.parent, prefix=".bench-", suffix=".tmp"):
            pass
    except OSError as e:
        raise UserError(f"cannot write --json {str(p)!r}: {e.strerror or e}") from None


def write_json(rows: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Write the rows as a JSON list (the schema in KEYS plus extra keys)."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(list(rows), indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot write --json {str(p)!r}: {e.strerror or e}") from None
