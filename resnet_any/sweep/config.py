"""The sweep file: its keys and their checks, the Sweep a worker runs from, its sampler and pruner."""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from resnet_any.errors import UserError, read_text_file
from resnet_any.train.options import BY_NAME, TrainConfig, check_value, validate
from resnet_any.train.plan.recipes import check_domain
from resnet_any.train.run.selection import MONITORED, TASK_SELECTS

if TYPE_CHECKING:
    import optuna

SWEEP_KEYS = ("base", "space", "sampler", "pruner", "trials", "workers", "metric", "seed", "out", "storage")
OLD_KEYS = ("grid", "random", "parallel", "mode")  # mode: accepted and unused by the old sweep
# every metric --select can watch, with its direction from the one table (train/run/selection.py): lower RMSE,
# MAE and loss are better, higher accuracy, R², mAP, F1 and AUROC
METRICS = {key: "max" if sign > 0 else "min" for select, (key, sign) in MONITORED.items() if select != "val"}
# the trainer keeps the epoch best on the sweep's metric unless the base config chooses its own rule
SELECT_FOR = {metric: "val" if metric == "val_acc" else metric for metric in METRICS}
SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler", "grid": "GridSampler"}
PRUNERS = {"median": "MedianPruner", "hyperband": "HyperbandPruner", "none": "NopPruner"}
RANGE_KEYS = ("low", "high", "log", "step")
PER_TRIAL = ("out", "resume")  # the sweep sets these for each trial


@dataclass(frozen=True)
class Sweep:
    """A checked sweep file: everything a worker needs, nothing resolved from the storage yet."""

    base: dict[str, Any]
    space: dict[str, Any]
    sampler: str
    sampler_args: dict[str, Any]
    pruner: str
    pruner_args: dict[str, Any]
    trials: int
    workers: int
    metric: str
    seed: int
    out: Path
    storage: str
    notes: list[str] = field(default_factory=list)

    @property
    def direction(self) -> str:
        """Optuna's direction of the metric."""
        return "maximize" if METRICS[self.metric] == "max" else "minimize"

    @property
    def study_name(self) -> str:
        """One study per out folder name: the same file on several machines joins one study."""
        return self.out.name


def _old_range(name: str, spec: Any) -> Any:
    """An old random-space entry in the new form ({log_uniform: [a, b]} -> {low: a, high: b, log: true})."""
    if isinstance(spec, dict) and len(spec) == 1:
        (kind, bounds), = spec.items()
        if kind in ("uniform", "log_uniform", "int") and isinstance(bounds, list) and len(bounds) == 2:
            return {"low": bounds[0], "high": bounds[1], **({"log": True} if kind == "log_uniform" else {})}
    if isinstance(spec, list):
        return spec
    raise UserError(f"bad search space entry {name}: {spec!r}; valid: a list of choices or {{low: a, high: b, log: true}}")


def _translate_old(raw: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Today's form of a `grid:` or `random:` file, and a note showing it."""
    # old sweeps ran every trial to its end: no pruner unless the file now asks for one
    new = {"pruner": "none", **{k: v for k, v in raw.items() if k not in OLD_KEYS}}
    if "parallel" in raw:
        new["workers"] = raw["parallel"]
    if "grid" in raw:
        grid = raw["grid"]
        if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
            raise UserError("grid must map each config key to a non-empty list of values")
        new.update(space=grid, sampler="grid", trials=math.prod(len(v) for v in grid.values()))
    else:
        spec = raw["random"]
        if not isinstance(spec, dict) or not isinstance(spec.get("space"), dict):
            raise UserError("random needs trials: N and space: {key: choices or range}")
        new.update(space={k: _old_range(k, v) for k, v in spec["space"].items()}, sampler="random",
                   trials=spec.get("trials"), seed=spec.get("seed", 0))
    shown = yaml.safe_dump({k: new[k] for k in ("space", "sampler", "pruner", "trials", "workers") if k in new},
                           default_flow_style=True, width=10**6).strip()
    return new, f"grid:/random: is the old sweep form; read as {shown} (write it so to silence this note)"


def _integer(value: Any, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"{what} must be an integer >= {low}, got {value!r}")
    return value


def _named(value: Any, what: str, table: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """A sampler or pruner given as a name or {type: name, **its Optuna arguments}, arguments checked by name."""
    import optuna

    args: dict[str, Any] = {}
    if isinstance(value, dict):
        args = {k: v for k, v in value.items() if k != "type"}
        value = value.get("type")
    if value not in table:
        raise UserError(f"unknown {what} {value!r}; valid: {', '.join(table)}")
    module = optuna.samplers if what == "sampler" else optuna.pruners
    accepted = set(inspect.signature(getattr(module, table[value])).parameters) - {"self", "search_space", "seed"}
    for key in args:
        if key not in accepted:
            raise UserError(f"{what} {value}: unknown argument {key!r}; valid: {', '.join(sorted(accepted)) or 'none'}")
    return value, args


def _check_space(space: Any, sampler: str) -> dict[str, Any]:
    """Each key a training option; each entry a list of valid values or a {low, high, log, step} range of them."""
    if not isinstance(space, dict) or not space:
        raise UserError("space must map training options to a list of choices or a range {low: a, high: b}")
    checked = {}
    for name, spec in space.items():
        key = str(name).replace("-", "_")
        option = BY_NAME.get(key)
        if option is None:
            raise UserError(f"space: {name!r} is not a training option; valid: {', '.join(sorted(BY_NAME))}")
        if key in PER_TRIAL:
            raise UserError(f"space: {key!r} is set by the sweep for each trial; remove it")
        if isinstance(spec, list):
            if not spec:
                raise UserError(f"space: {key} has an empty list of choices")
            for v in spec:
                # Optuna stores choices as they are: numbers, strings and booleans, not mappings or lists
                if not isinstance(v, (bool, int, float, str)):
                    raise UserError(f"space: {key} choice {v!r} is not a number, string or boolean")
                try:
                    check_value(option, v)
                except UserError as e:
                    raise UserError(f"space: {key}: {e}") from None
            checked[key] = list(spec)
        elif isinstance(spec, dict):
            checked[key] = _check_range(key, option, spec, sampler)
        else:
            raise UserError(f"space: {key} must be a list of choices or a range {{low: a, high: b}}, got {spec!r}")
    return checked


def _check_range(key: str, option: Any, spec: dict[str, Any], sampler: str) -> dict[str, Any]:
    """A range of a numeric option: int values for an int option, floats for a float one; bounds valid values."""
    if sampler == "grid":
        raise UserError(f"sampler grid takes only lists of choices; space {key} is a range {spec}: list its values "
                        f"(e.g. {key}: [a, b, c]) or use sampler tpe or random")
    unknown = set(spec) - set(RANGE_KEYS)
    if unknown or "low" not in spec or "high" not in spec:
        raise UserError(f"space: {key} range {spec} must have low and high (optional log, step); "
                        f"{'unknown ' + repr(sorted(unknown)[0]) if unknown else 'missing a bound'}")
    if option.type not in (int, float):
        raise UserError(f"space: {key} is a {option.type.__name__} option, a range needs a number; list its choices")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    number = int if option.type is int else (int, float)
    for what, v in (("low", low), ("high", high)) + ((("step", step),) if step is not None else ()):
        if isinstance(v, bool) or not isinstance(v, number):
            raise UserError(f"space: {key} {what} must be {'an integer' if option.type is int else 'a number'}, got {v!r}")
    if not low < high:
        raise UserError(f"space: {key} range needs low < high, got low {low}, high {high}")
    for v in (low, high):
        try:
            check_value(option, v)
        except UserError as e:
            raise UserError(f"space: {key} range: {e}") from None
    if not isinstance(log, bool):
        raise UserError(f"space: {key} log must be true or false, got {log!r}")
    if log and low <= 0:
        raise UserError(f"space: {key} log range needs low > 0, got {low}")
    if step is not None and (step <= 0 or log):
        raise UserError(f"space: {key} step must be > 0 and cannot go with log: true, got step {step}")
    return {"low": low, "high": high, "log": log, **({"step": step} if step is not None else {})}


def storage_url(value: Any, out: Path) -> str:
    """The storage URL: the file's storage:, else a SQLite file in the out folder."""
    if value is None:
        return f"sqlite:///{out.resolve() / 'study.db'}"
    if not isinstance(value, str) or "://" not in value:
        raise UserError(f"storage must be an Optuna database URL such as sqlite:///path/study.db or "
                        f"postgresql://user@host/db, got {value!r}")
    return value


def load_sweep(path: str | Path, out: str | Path | None = None) -> Sweep:
    """Read and check a sweep file (opening no storage, starting nothing); `out` overrides the file's."""
    p = Path(path)
    text = read_text_file(p, "sweep file")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise UserError(f"sweep file {str(p)!r} is not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(raw, dict):
        raise UserError(f"sweep file {str(p)!r} must be a mapping")
    notes = []
    if "grid" in raw or "random" in raw:
        if ("grid" in raw) == ("random" in raw) or "space" in raw:
            raise UserError("a sweep needs exactly one of space: (or the old grid: or random:)")
        raw, note = _translate_old(raw)
        notes.append(note)
    unknown = set(raw) - set(SWEEP_KEYS)
    if unknown:
        raise UserError(f"sweep file: unknown key {sorted(unknown)[0]!r}; valid: {', '.join(SWEEP_KEYS)}")
    base_task = (raw.get("base") or {}).get("task") if isinstance(raw.get("base"), dict) else None
    # a regression or multi-label base is judged on its own metric unless the file names one
    metric = raw.get("metric", {"regress": "val_rmse", "multilabel": "val_map"}.get(base_task, "val_acc"))
    if metric not in METRICS:
        raise UserError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    if base_task in TASK_SELECTS and metric not in ("val_loss", "train_loss", *TASK_SELECTS[base_task]):
        raise UserError(f"metric {metric!r} is not a metric of a {base_task} run; valid: "
                        f"{', '.join(('val_loss', 'train_loss', *TASK_SELECTS[base_task]))}")
    sampler, sampler_args = _named(raw.get("sampler", "tpe"), "sampler", SAMPLERS)
    pruner, pruner_args = _named(raw.get("pruner", "median"), "pruner", PRUNERS)
    base = raw.get("base") or {}
    cfg = TrainConfig.from_dict(base, source="sweep base")  # an unknown key fails here, naming the valid ones
    validate(cfg)
    for key in PER_TRIAL:
        if getattr(cfg, key) is not None:
            raise UserError(f"sweep base: {key!r} is set by the sweep for each trial; remove it")
    # a dataset path without a domain has it read from its files by each trial; a named domain must exist
    if (cfg.domain is not None or not cfg.dataset) and "domain" not in (raw.get("space") or {}):
        check_domain(cfg.domain)
    select = cfg.select or SELECT_FOR[metric]
    if select == "train_loss" and metric.startswith("val"):
        raise UserError(f"metric {metric!r} needs a validation split, which select: train_loss gives up; use "
                        "metric: train_loss or select: val")
    space = _check_space(raw.get("space"), sampler)
    grid_size = math.prod(len(v) for v in space.values()) if sampler == "grid" else None
    trials = raw.get("trials", grid_size)
    if trials is None:
        raise UserError(f"sampler {sampler} needs trials: N, the number of finished trials the study ends with")
    trials = _integer(trials, "trials", 1)
    if grid_size is not None and trials > grid_size:
        raise UserError(f"trials: {trials} exceeds the grid's {grid_size} combinations; set trials <= {grid_size}")
    out = Path(out or raw.get("out") or f"runs/sweep-{p.stem}")
    sweep = Sweep(base={**base, "select": select}, space=space, sampler=sampler, sampler_args=sampler_args,
                  pruner=pruner, pruner_args=pruner_args, trials=trials,
                  workers=_integer(raw.get("workers", 1), "workers", 1), metric=metric,
                  seed=_integer(raw.get("seed", 0), "seed", 0), out=out,
                  storage=storage_url(raw.get("storage"), out), notes=notes)
    try:  # their arguments' values are checked by Optuna's constructors: here, not in a worker's traceback
        make_sampler(sweep, sweep.seed)
        make_pruner(sweep)
    except (TypeError, ValueError) as e:
        raise UserError(f"sampler {sampler} {sampler_args} or pruner {pruner} {pruner_args}: {e}") from None
    return sweep


def _grid_sampler(*args: Any, **kwargs: Any) -> "optuna.samplers.GridSampler":
    """Optuna's grid sampler without its study.stop() on the last grid point: that works only inside
    Study.optimize, and our workers end on the study's count of finished trials anyway."""
    from optuna.samplers import GridSampler

    class Grid(GridSampler):
        def after_trial(self, *args: Any, **kwargs: Any) -> None:
            pass

    return Grid(*args, **kwargs)


def make_sampler(sweep: Sweep, seed: int) -> "optuna.samplers.BaseSampler":
    """The sweep's Optuna sampler, seeded."""
    import optuna

    if sweep.sampler == "grid":
        return _grid_sampler(sweep.space, seed=seed, **sweep.sampler_args)
    return getattr(optuna.samplers, SAMPLERS[sweep.sampler])(seed=seed, **sweep.sampler_args)


def make_pruner(sweep: Sweep) -> "optuna.pruners.BasePruner":
    """The sweep's Optuna pruner."""
    import optuna

    return getattr(optuna.pruners, PRUNERS[sweep.pruner])(**sweep.pruner_args)


def shown(params: dict[str, Any]) -> str:
    """Parameters as one short line: lr=0.001 width=16."""
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def best_of(values: list[float], metric: str) -> float | None:
    """The best of a trial's per-epoch values on the metric (None without any)."""
    return (max if METRICS[metric] == "max" else min)(values) if values else None
