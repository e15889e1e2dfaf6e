"""The README's table of `bench tasks`, generated from its JSON (results/tasks.json) so figures and text cannot drift.

`python -m resnet_any.bench.tasks_table [PATH]` prints it; tests/test_bench_tasks.py checks the README holds it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "tasks.json"
LOWER_IS_BETTER = {"rmse"}


def _value(row: dict[str, Any]) -> str:
    if row.get("ours") is None:
        return "failed"
    return f"{row['ours']:.4g}"


def markdown(rows: list[dict[str, Any]]) -> str:
    """One line per data set: resnet_any's figure (with R² or macro F1 and seconds), then every reference's."""
    cases: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        if " / " in r["case"]:
            data, who = r["case"].split(" / ", 1)
            cases.setdefault(data, {})[who] = r
    lines = ["| data | metric | resnet_any | references, same splits, same run | best |",
             "| --- | --- | --- | --- | --- |"]
    for data, by in cases.items():
        ours = by.get("resnet_any")
        if ours is None:
            continue
        metric = ours["metric"]
        extra = (f"R² {ours['r2']:.2f}, " if ours.get("r2") is not None else
                 f"macro F1 {ours['macro_f1']:.3f}, " if ours.get("macro_f1") is not None else "")
        shown = _value(ours) + (f" ({extra}{ours['seconds']:.0f} s)" if ours.get("ours") is not None else
                                f" ({str(ours.get('error', ''))[:60]})")
        refs = {who: r for who, r in by.items() if who != "resnet_any" and r.get("ours") is not None}
        sign = -1 if metric in LOWER_IS_BETTER else 1
        scored = {**refs, **({"resnet_any": ours} if ours.get("ours") is not None else {})}
        best = max(scored, key=lambda w: sign * scored[w]["ours"]) if scored else "-"
        lines.append(f"| {data} | {metric.upper() if metric != 'map' else 'mAP'} | {shown} | "
                     + "; ".join(f"{who} {_value(r)}" for who, r in refs.items()) + f" | {best} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table of a tasks JSON (default: the committed results)."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else RESULTS
    print(markdown(json.loads(path.read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
