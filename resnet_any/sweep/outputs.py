"""A sweep's outputs: results.csv ranked on the metric, best.yaml, and Optuna's plots."""
from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from resnet_any.sweep.config import METRICS, Sweep, best_of, shown

if TYPE_CHECKING:
    import optuna


def results(study: "optuna.Study", sweep: Sweep) -> list[dict[str, Any]]:
    """One row per trial: COMPLETE ranked on the metric, then PRUNED (ranked), then the rest by number."""
    from optuna.trial import TrialState

    rows = []
    for t in study.get_trials(deepcopy=False):
        note = t.user_attrs.get("error") or t.user_attrs.get("surplus") or ""
        if t.state == TrialState.PRUNED:
            note = f"pruned after epoch {t.user_attrs.get('pruned_at_epoch')}"
        retried = t.system_attrs.get("failed_trial")
        if retried is not None:
            note = "; ".join(filter(None, (note, f"resumed interrupted trial {retried}")))
        if t.state == TrialState.FAIL and not note:
            note = "interrupted: its process died"
        rows.append({"number": t.number, "state": t.state.name, **{k: t.params.get(k) for k in sweep.space},
                     sweep.metric: best_of(list(t.intermediate_values.values()), sweep.metric),
                     "epochs": t.user_attrs.get("epochs", len(t.intermediate_values)), "run": t.user_attrs.get("run"),
                     "note": note})
    group = {"COMPLETE": 0, "PRUNED": 1}
    sign = -1 if METRICS[sweep.metric] == "max" else 1

    def rank(r: dict[str, Any]) -> tuple:
        if r["state"] not in group:
            return (2, False, r["number"])
        return (group[r["state"]], r[sweep.metric] is None, sign * (r[sweep.metric] or 0.0))

    return sorted(rows, key=rank)


def _plots(study: "optuna.Study", out: Path) -> list[str]:
    """history.png and importances.png (Optuna's matplotlib plots); a line for each one skipped."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as plots

    notes = []
    plots.plot_optimization_history(study)
    plt.savefig(out / "history.png", dpi=120, bbox_inches="tight")
    plt.close("all")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    varying = [k for k in complete[0].params if len({repr(t.params.get(k)) for t in complete}) > 1] if complete else []
    if len(complete) < 2 or not varying:
        notes.append(f"importances.png skipped: it needs 2 completed trials with a varying parameter "
                     f"({len(complete)} completed{', none varies' if len(complete) >= 2 else ''})")
    else:
        with warnings.catch_warnings():  # PED-ANOVA's note on tiny studies (equal importances) is not ours to print
            warnings.simplefilter("ignore")
            plots.plot_param_importances(study)
        plt.savefig(out / "importances.png", dpi=120, bbox_inches="tight")
        plt.close("all")
    return notes


def report(study: "optuna.Study", sweep: Sweep) -> list[dict[str, Any]]:
    """Write results.csv, best.yaml and the plots; print the ranking; return the rows."""
    rows = results(study, sweep)
    if not rows:
        return rows
    with open(sweep.out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for r in rows:
        value = r[sweep.metric]
        print(f"  {r['number']:>4}  {r['state']:<8}  {sweep.metric}={'-' if value is None else f'{value:.4f}'}  "
              f"epochs={r['epochs']}  {shown({k: r[k] for k in sweep.space})}  {r['note']}")
    if rows[0]["state"] == "COMPLETE":
        best = {**sweep.base, **{k: rows[0][k] for k in sweep.space}}
        (sweep.out / "best.yaml").write_text(yaml.safe_dump(best, sort_keys=False))
    for note in _plots(study, sweep.out):
        print(f"note: {note}")
    return rows
