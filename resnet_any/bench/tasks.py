"""tasks: regression and multi-label targets in every domain, resnet_any beside references trained in the same run.

`python -m resnet_any.bench tasks [--quick] [--json PATH]`. Three parts, each on data built from real sets (what
each set means: tasks_data's docstring; the references and metrics: tasks_refs'):
- series regression: Covid3Month and CardanoSentiment (their own splits) and two forecasting-window sets (Airline,
  solar), `resnet_any.fit(None, (x, y), None, (x_test, y_test), domain="series", task="regress")` with its
  defaults, beside aeon's MiniRocketRegressor, the training mean and (windows) the last-k mean; RMSE, MAE, R².
  The issue's goal: RMSE at or below the better of MiniRocket and the mean (printed as the row's limit).
- MNIST canvases of 2-4 digits: the set of digits present (10 tags) and the number of digits, through
  `fit(..., domain="image", task="multilabel" | "regress")` beside torchvision's resnet18 trained by a plain loop
  for the same epochs on the same canvases, and the prevalence / mean predictor; mAP, macro F1 at 0.5, RMSE.
- MUTAG ring counts: `fit(None, train, val, test, domain="graph", task="regress")` beside a plain PyG GCN with
  mean pooling and the training mean.
The canvases are 80 px by default: at 64 px or less resnet_any takes the CIFAR stem (no stride-2 stem, no
max-pool), measured at 76 ms a canvas and epoch on the 2 shared cores against 12 ms at 80 px (the ImageNet stem
torchvision's resnet18 has), too slow for the suite's 20-minute budget; `--canvas 64` measures that path.
A resnet_any row whose run fails (a core without the task, a bad summary) records the error and the suite goes on.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from resnet_any.bench.table import make_row
from resnet_any.errors import UserError

HELP = ("regression and multi-label in every domain (series, MNIST canvases, MUTAG rings), resnet_any beside "
        "MiniRocket, mean predictors, torchvision resnet18 and a PyG GCN trained in the same run")
PARTS = ("series", "image", "graph")
# full run: 628 s with --threads 1 on the 2 shared CPU cores (load average 2.2 -> 3.4; series 191 s, images 430 s,
# graphs 7 s); every value is recorded in the JSON's settings row (results/tasks.json). With torch's default 2
# threads on the shared cores, Covid3Month's run alone was not done after 5 minutes: use --threads 1 there.
FULL = dict(canvas=80, image_sizes=(2000, 400, 800), image_epochs=5, graph_epochs=None, series_epochs=None)
QUICK = dict(canvas=64, image_sizes=(64, 32, 48), image_epochs=1, graph_epochs=2, series_epochs=2)
GCN_EPOCHS = 100  # resnet_any's graph-level recipe trains 100 epochs; the GCN gets the same when it is not given


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the tasks suite."""
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)}")
    from resnet_any.bench.tasks_data import EXTRINSIC, WINDOW_SETS

    sets = (*EXTRINSIC, *WINDOW_SETS)
    p.add_argument("--series", default=",".join(sets), help=f"series sets, comma list of {', '.join(sets)}")
    p.add_argument("--data-dir", metavar="ROOT", help="folder holding MNIST/raw and TUDataset/MUTAG/raw "
                   "(default: ../shared/data beside the repository)")
    p.add_argument("--canvas", type=int, help=f"canvas side in pixels (default {FULL['canvas']})")
    p.add_argument("--image-sizes", metavar="TRAIN,VAL,TEST", help="canvases per split (default "
                   + ",".join(map(str, FULL["image_sizes"])) + ")")
    p.add_argument("--image-epochs", type=int, help=f"epochs of both image models (default {FULL['image_epochs']})")
    p.add_argument("--series-epochs", type=int, help="resnet_any's series epochs (default: its own)")
    p.add_argument("--graph-epochs", type=int, help=f"epochs of both graph models (default: resnet_any's own, "
                   f"{GCN_EPOCHS} for the GCN)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch intra-op threads (1 on a shared 2-core machine: 2 thrash)")
    p.add_argument("--quick", action="store_true", help="smoke mode: tiny slices and canvases, 1-2 epochs")


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The sizes and epochs of this run: the mode's, with any option given on top."""
    s = dict(QUICK if args.quick else FULL)
    for key in ("canvas", "image_epochs", "series_epochs", "graph_epochs"):
        if getattr(args, key) is not None:
            if getattr(args, key) < 1:
                raise UserError(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")
            s[key] = getattr(args, key)
    if args.image_sizes:
        try:
            sizes = tuple(int(v) for v in args.image_sizes.split(","))
        except ValueError:
            sizes = ()
        if len(sizes) != 3 or min(sizes) < 2:
            raise UserError(f"--image-sizes takes three counts >= 2 as TRAIN,VAL,TEST, got {args.image_sizes!r}")
        s["image_sizes"] = sizes
    if s["canvas"] < 60:
        raise UserError(f"--canvas {s['canvas']} is too small for 4 digits side by side; use 60 or more")
    return s


# ---------------------------------------------------------------- resnet_any through fit


def fit_ours(train: Any, val: Any, test: Any, *, domain: str, task: str, seed: int,
             epochs: int | None, **pinned: Any) -> tuple[dict | None, str | None, float, float]:
    """(summary, error text, wall s, CPU s) of `resnet_any.fit(None, train, val, test, ...)` with its defaults
    (and the `pinned` options, when a default had to be overridden)."""
    import resnet_any

    options = {"epochs": epochs, **pinned} if epochs else dict(pinned)
    start, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="resnet_any_tasks_") as tmp:
        try:
            # sinks=[]: the run prints nothing, so stdout holds only the table
            summary, error = resnet_any.fit(None, train, val, test, domain=domain, task=task, seed=seed, quiet=True,
                                            sinks=[], out=str(Path(tmp) / "run"), **options), None
        except Exception as e:  # noqa: BLE001 - a core without the task yet: the row says why, the suite goes on
            summary, error = None, f"{type(e).__name__}: {e}".splitlines()[0][:400]
    return summary, error, time.perf_counter() - start, time.process_time() - cpu


# A default the core derives and then refuses for the task (seen: mixup 0.2 derived for a small image set, then
# "--mixup mixes or balances classes; a multilabel run has none"): the run is retried with that option pinned,
# and the row records the pin and the default's error, so the figure is never passed off as the defaults'.
PIN_ON_ERROR = {"--mixup": {"mixup": 0.0}, "--cutmix": {"cutmix": 0.0}}


def fit_ours_pinning(*args: Any, **kwargs: Any) -> tuple[dict | None, str | None, float, float, dict]:
    """`fit_ours`, retried with an option pinned while the defaults fail on one of PIN_ON_ERROR; + the pins."""
    pinned: dict[str, Any] = {}
    summary, error, wall, cpu = fit_ours(*args, **kwargs)
    for _ in PIN_ON_ERROR:
        flag = next((f for f in PIN_ON_ERROR if error and f in error and not PIN_ON_ERROR[f].keys() <= pinned.keys()),
                    None)
        if flag is None:
            break
        pinned |= PIN_ON_ERROR[flag]
        pinned["default_error"] = pinned.get("default_error") or error
        summary, error, w, c = fit_ours(*args, **kwargs, **{k: v for k, v in pinned.items() if k != "default_error"})
        wall, cpu = wall + w, cpu + c
    return summary, error, wall, cpu, pinned


def _ours_metrics(summary: dict | None, error: str | None, keys: tuple[str, ...]) -> tuple[dict | None, str | None]:
    """The summary's test_* figures by short name, or why there are none."""
    if error or summary is None:
        return None, error or "no summary"
    missing = [k for k in keys if summary.get(f"test_{k}") is None]
    if missing:
        return None, f"summary has no test_{missing[0]} (keys: {', '.join(sorted(summary))[:300]})"
    return {k: float(summary[f"test_{k}"]) for k in keys}, None


def _notes(summary: dict | None) -> dict[str, Any]:
    """What resnet_any said about its run: warnings, notes, epochs and model, for the JSON."""
    if not summary:
        return {}
    return {"warnings": summary.get("warnings") or None, "fit_epochs": summary.get("epochs"),
            "model": summary.get("model"), "notes": [str(n)[:300] for n in summary.get("notes") or []] or None}


# ---------------------------------------------------------------- rows


def error_row(case: str, metric: str, unit: str, error: str, wall: float) -> dict:
    """A row of a run that did not finish: no figure, the error text."""
    row = make_row("tasks", case, metric, 0.0, None, unit, error=error, seconds=round(wall, 1),
                   note=f"not measured: {error[:140]}")
    row["ours"] = None
    return row


def regress_row(case: str, m: dict, wall: float, cpu: float, *, anchor: float | None = None,
                limit: float | None = None, anchor_note: str = "", **extra: Any) -> dict:
    """An RMSE row with MAE, R² and times beside it."""
    note = f"MAE {m['mae']:.4g}, R² {m['r2']:.3f}, {wall:.1f} s" + (f"; {anchor_note}" if anchor_note else "")
    return make_row("tasks", case, "rmse", m["rmse"], anchor, "value", limit=limit, mae=m["mae"], r2=m["r2"],
                    seconds=round(wall, 2), cpu_seconds=round(cpu, 2), note=note, **extra)


def tags_row(case: str, m: dict, wall: float, cpu: float, *, anchor: float | None = None, anchor_note: str = "",
             **extra: Any) -> dict:
    """A mAP row with the F1s, AUROC and subset accuracy beside it."""
    note = (f"macro F1 {m['macro_f1']:.3f}, micro F1 {m['micro_f1']:.3f}, AUROC {m['auroc']:.3f}, "
            f"subset acc {m['subset_accuracy']:.3f}, {wall:.1f} s" + (f"; {anchor_note}" if anchor_note else ""))
    return make_row("tasks", case, "map", m["map"], anchor, "fraction", seconds=round(wall, 2),
                    cpu_seconds=round(cpu, 2), note=note, **{k: v for k, v in m.items() if k != "map"}, **extra)


# ---------------------------------------------------------------- the three parts


def run_series(args: argparse.Namespace, s: dict, log: Callable[[str], None]) -> list[dict]:
    """Each series set: resnet_any (defaults), MiniRocket, the mean (and the last-k mean for windows)."""
    import torch

    from resnet_any.bench.tasks_data import WINDOW_SETS, series_sets
    from resnet_any.bench.tasks_refs import mean_predictor, minirocket, persistence, regression_metrics, timed

    names = [n.strip() for n in args.series.split(",") if n.strip()]
    unknown = [n for n in names if n not in (*WINDOW_SETS, "Covid3Month", "CardanoSentiment")]
    if unknown:
        raise UserError(f"unknown --series {unknown[0]!r}; valid: Covid3Month, CardanoSentiment, "
                        + ", ".join(WINDOW_SETS))
    # numba compiles MiniRocket's kernels on the first fit (about 20 s here): done once on a toy set, so that the
    # first set's row times the method, not the compiler
    rng = np.random.default_rng(0)
    _, warm, _ = timed(minirocket, rng.random((12, 1, 16)), rng.random(12), rng.random((2, 1, 16)))
    s["minirocket_warmup_s"] = round(warm, 1)
    rows = []
    for d in series_sets(names, quick=args.quick):
        size = dict(n_train=len(d.y_train), n_test=len(d.y_test), length=int(d.x_train.shape[-1]),
                    channels=int(d.x_train.shape[1]), meaning=d.meaning)
        refs: dict[str, tuple[dict, float, float]] = {}
        pred, wall, cpu = timed(minirocket, d.x_train, d.y_train, d.x_test, args.seed)
        refs["MiniRocket"] = (regression_metrics(d.y_test, pred), wall, cpu)
        pred, wall, cpu = timed(mean_predictor, d.y_train, len(d.y_test))
        refs["mean"] = (regression_metrics(d.y_test, pred), wall, cpu)
        if d.name in WINDOW_SETS:
            k = WINDOW_SETS[d.name][2]
            pred, wall, cpu = timed(persistence, d.x_test, k)
            refs[f"last-{k} mean"] = (regression_metrics(d.y_test, pred), wall, cpu)
        summary, error, wall, cpu = fit_ours((torch.from_numpy(d.x_train), torch.from_numpy(d.y_train).float()), None,
                                             (torch.from_numpy(d.x_test), torch.from_numpy(d.y_test).float()),
                                             domain="series", task="regress", seed=args.seed,
                                             epochs=s["series_epochs"])
        m, error = _ours_metrics(summary, error, ("rmse", "mae", "r2"))
        best = min(("MiniRocket", "mean"), key=lambda n: refs[n][0]["rmse"])
        bound = refs[best][0]["rmse"]
        if m is None:
            rows.append(error_row(f"{d.name} / resnet_any", "rmse", "value", error, wall))
        else:
            rows.append(regress_row(f"{d.name} / resnet_any", m, wall, cpu, anchor=bound, limit=bound,
                                    anchor_note=f"anchor: the better of MiniRocket and the mean ({best})",
                                    **size, **_notes(summary)))
        for name, (rm, rwall, rcpu) in refs.items():
            rows.append(regress_row(f"{d.name} / {name}", rm, rwall, rcpu, **size))
        log(f"  {d.name}: " + "; ".join(f"{r['case'].split(' / ')[1]} {r['ours']:.4g}" if r["ours"] is not None
                                        else f"{r['case'].split(' / ')[1]} failed" for r in rows[-len(refs) - 1:]))
    return rows


def run_image(args: argparse.Namespace, s: dict, log: Callable[[str], None]) -> list[dict]:
    """MNIST canvases: tags (multi-label) and count (regression), resnet_any beside resnet18 and the mean."""
    import torch

    from resnet_any.bench.tasks_data import canvas_splits, shared_root
    from resnet_any.bench.tasks_refs import (mean_predictor, multilabel_metrics, regression_metrics,
                                             resnet18_loop, timed)

    c = canvas_splits(shared_root(args.data_dir), s["image_sizes"], size=s["canvas"], seed=args.seed)
    size = dict(canvas=s["canvas"], n_train=len(c["train"].x), n_val=len(c["val"].x), n_test=len(c["test"].x),
                epochs=s["image_epochs"])
    log(f"  canvases {s['canvas']} px: train/val/test {size['n_train']}/{size['n_val']}/{size['n_test']}")
    rows = []
    for task, target, metric in (("multilabel", "tags", "map"), ("regress", "count", "rmse")):
        case = f"MNIST canvases {target}"
        y = {k: getattr(v, target) for k, v in c.items()}
        score = multilabel_metrics if task == "multilabel" else regression_metrics
        row = tags_row if task == "multilabel" else regress_row
        summary, error, wall, cpu, pinned = fit_ours_pinning(
            *((torch.from_numpy(c[k].x), torch.from_numpy(y[k])) for k in ("train", "val", "test")),
            domain="image", task=task, seed=args.seed, epochs=s["image_epochs"])
        keys = ("map", "macro_f1", "micro_f1", "auroc", "accuracy") if task == "multilabel" else ("rmse", "mae", "r2")
        m, error = _ours_metrics(summary, error, keys)
        pred, rwall, rcpu = timed(resnet18_loop, c["train"].x, y["train"], c["test"].x, task=task,
                                  epochs=s["image_epochs"], seed=args.seed, log=log)
        ref = score(y["test"], pred)
        if m is None:
            rows.append(error_row(f"{case} / resnet_any", metric, "fraction" if metric == "map" else "value",
                                  error, wall))
        else:
            if task == "multilabel":
                m["subset_accuracy"] = m.pop("accuracy")
            pins = {k: v for k, v in pinned.items() if k != "default_error"}
            note = "anchor: torchvision resnet18, same canvases and epochs" + (
                f"; pinned {', '.join(f'{k}={v}' for k, v in pins.items())}: the defaults failed" if pins else "")
            rows.append(row(f"{case} / resnet_any", m, wall, cpu, anchor=ref[metric], anchor_note=note, **size,
                            pinned=pins or None, default_error=pinned.get("default_error"), **_notes(summary)))
        rows.append(row(f"{case} / torchvision resnet18", ref, rwall, rcpu, **size))
        pred, mwall, mcpu = timed(mean_predictor, y["train"], len(y["test"]))
        rows.append(row(f"{case} / {'prevalence' if task == 'multilabel' else 'mean'}", score(y["test"], pred),
                        mwall, mcpu, **size))
        log(f"  {case}: " + "; ".join(f"{r['case'].split(' / ')[1]} {r['ours']:.4g}" if r["ours"] is not None
                                      else f"{r['case'].split(' / ')[1]} failed" for r in rows[-3:]))
    return rows


def run_graph(args: argparse.Namespace, s: dict, log: Callable[[str], None]) -> list[dict]:
    """MUTAG ring counts: resnet_any beside a plain GCN with mean pooling and the training mean."""
    from resnet_any.bench.tasks_data import mutag_rings, shared_root
    from resnet_any.bench.tasks_refs import gcn_loop, mean_predictor, regression_metrics, timed

    g = mutag_rings(shared_root(args.data_dir), seed=args.seed)
    if args.quick:
        g = {"train": g["train"][:40], "val": g["val"][:16], "test": g["test"]}
    y = {k: np.array([float(d.y.view(-1)[0]) for d in v]) for k, v in g.items()}
    size = dict(n_train=len(g["train"]), n_val=len(g["val"]), n_test=len(g["test"]))
    summary, error, wall, cpu = fit_ours(g["train"], g["val"], g["test"], domain="graph", task="regress",
                                         seed=args.seed, epochs=s["graph_epochs"])
    m, error = _ours_metrics(summary, error, ("rmse", "mae", "r2"))
    epochs = s["graph_epochs"] or GCN_EPOCHS
    pred, rwall, rcpu = timed(gcn_loop, g["train"], g["test"], epochs=epochs, seed=args.seed)
    ref = regression_metrics(y["test"], pred)
    rows = []
    if m is None:
        rows.append(error_row("MUTAG rings / resnet_any", "rmse", "value", error, wall))
    else:
        rows.append(regress_row("MUTAG rings / resnet_any", m, wall, cpu, anchor=ref["rmse"],
                                anchor_note="anchor: PyG GCN, mean pooling, same split", **size, **_notes(summary)))
    rows.append(regress_row("MUTAG rings / PyG GCN", ref, rwall, rcpu, **size, epochs=epochs))
    pred, mwall, mcpu = timed(mean_predictor, y["train"], len(y["test"]))
    rows.append(regress_row("MUTAG rings / mean", regression_metrics(y["test"], pred), mwall, mcpu, **size))
    log("  MUTAG rings: " + "; ".join(f"{r['case'].split(' / ')[1]} {r['ours']:.4g}" if r["ours"] is not None
                                      else f"{r['case'].split(' / ')[1]} failed" for r in rows))
    return rows


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict]:
    """The chosen parts in order, then one row of the run's settings, machine and wall time."""
    import torch

    from resnet_any.bench.timing import load_average, machine

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise UserError(f"unknown --parts {bad[0] if bad else args.parts!r}; valid: {', '.join(PARTS)}")
    s = settings(args)
    if args.threads:
        if args.threads < 1:
            raise UserError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    start, load_before = time.perf_counter(), load_average()
    rows: list[dict] = []
    for part in parts:
        log(f"tasks: {part}")
        t = time.perf_counter()
        rows += {"series": run_series, "image": run_image, "graph": run_graph}[part](args, s, log)
        log(f"tasks: {part} done in {time.perf_counter() - t:.0f} s")
    rows.append(make_row("tasks", "suite", "wall_time", time.perf_counter() - start, None, "s", parts=parts,
                         quick=bool(args.quick), seed=args.seed, **{k: list(v) if isinstance(v, tuple) else v
                                                                    for k, v in s.items()},
                         machine=machine(torch.device("cpu")), load_before=load_before, load_after=load_average(),
                         argv=sys.argv[1:],
                         note=f"{'quick' if args.quick else 'full'}: {', '.join(parts)}; load average "
                              f"{load_before} -> {load_average()}"))
    return rows
