"""docs/graphs.md's table of `bench graphs`, generated from its JSON (results/graphs.json) so figures and text cannot drift.

`python -m resnet_any.bench.graphs_table [PATH]` prints it; tests/test_bench_graphs.py checks the page holds it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "graphs.json"
SHOWN = ("test_accuracy", "epoch seconds", "peak RSS", "wall seconds", "wall seconds ratio")


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "fraction":
        return f"{value:.3f}"
    return f"{value:.3g} {unit}".strip()


def markdown(rows: list[dict[str, Any]]) -> str:
    """One line per case: resnet_any's figures beside the plain PyG script's, in the same run."""
    cases: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        cases.setdefault(r["case"], {})[r["metric"]] = r
    lines = ["| case | epochs | test accuracy (plain PyG) | epoch (plain) | peak RSS (plain) | whole run (plain) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for case, by in cases.items():
        first = next(iter(by.values()))
        cells = []
        for metric in ("test_accuracy", "epoch seconds", "peak RSS", "wall seconds"):
            r = by.get(metric)
            cells.append("-" if r is None else f"{_cell(r.get('ours'), r['unit'])} ({_cell(r.get('anchor'), r['unit'])})")
        lines.append(f"| {case} | {first.get('epochs', '-')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else RESULTS).read_text(encoding="utf-8"))))
