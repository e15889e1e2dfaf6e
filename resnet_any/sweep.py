"""`python -m resnet_any.sweep --config sweep.yaml`: an Optuna study over any training options, pruned, shared, kill-safe.

A sweep file:

    base: {domain: series, dataset: GunPoint, epochs: 30}   # any `python -m resnet_any.train` config keys
    space:                                                  # a list is a choice, a mapping a range
      lr: {low: 1.0e-4, high: 1.0e-2, log: true}            # (step: optional; an int option gives int values)
      width: [8, 16, 32]
    sampler: tpe          # tpe | random | grid (grid: choices only); or {type: tpe, n_startup_trials: 4}
    pruner: median        # median | hyperband | none; or {type: median, n_startup_trials: 2, n_warmup_steps: 1}
    trials: 12            # COMPLETE + PRUNED trials of the study, across workers, machines and re-runs
    workers: 2            # processes on this machine
    metric: val_acc       # ranked on validation, never on test; acc/f1/auroc go up, losses down
    seed: 0
    out: runs/sweep-gunpoint
    storage: null         # default sqlite:///<out>/study.db; any Optuna RDB URL (postgresql://..., mysql://...)

Each worker is a process asking the shared storage for trials until the study holds `trials` finished ones;
each trial is a training run in `out/trial-NNNN/` that reports its per-epoch metric to the pruner through a
trainer callback. A trial left RUNNING by a dead process (a kill -9, a lost machine) is marked FAIL and
queued again with the same parameters and run folder, which resumes from its `last.pt`. `results.csv` ranks
the trials, `best.yaml` is the winner for `python -m resnet_any.train --config best.yaml`.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import fcntl
import inspect
import json
import math
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import yaml

from resnet_any.errors import Parser, UserError, cli_environment, command, read_text_file
from resnet_any.train.options import BY_NAME, TrainConfig, check_value, validate
from resnet_any.train.recipes import check_domain

if TYPE_CHECKING:
    import optuna

SWEEP_KEYS = ("base", "space", "sampler", "pruner", "trials", "workers", "metric", "seed", "out", "storage")
OLD_KEYS = ("grid", "random", "parallel", "mode")  # mode: accepted and unused by the old sweep
METRICS = {"val_acc": "max", "val_loss": "min", "val_balanced_accuracy": "max", "val_macro_f1": "max",
           "val_auroc": "max", "train_loss": "min"}
# the trainer keeps the epoch best on the sweep's metric unless the base config chooses its own rule
SELECT_FOR = {"val_acc": "val", "val_loss": "val_loss", "val_balanced_accuracy": "val_balanced_accuracy",
              "val_macro_f1": "val_macro_f1", "val_auroc": "val_auroc", "train_loss": "train_loss"}
SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler", "grid": "GridSampler"}
PRUNERS = {"median": "MedianPruner", "hyperband": "HyperbandPruner", "none": "NopPruner"}
RANGE_KEYS = ("low", "high", "log", "step")
PER_TRIAL = ("out", "resume")  # the sweep sets these for each trial
# Heartbeats find the trials of dead processes on other machines; a dead process on this machine is seen at
# once by its pid. Grace: several missed beats, so a busy machine's slow write is not taken for a death.
HEARTBEAT_S = 10
GRACE_S = 60
POLL_S = 1.0
MAX_RETRIES = 3  # a trial that kills its process every time (out of memory) is given up after this many


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


# ---- the file ----------------------------------------------------------------------------------------


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


def _storage_url(value: Any, out: Path) -> str:
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
    metric = raw.get("metric", "val_acc")
    if metric not in METRICS:
        raise UserError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
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
                  storage=_storage_url(raw.get("storage"), out), notes=notes)
    try:  # their arguments' values are checked by Optuna's constructors: here, not in a worker's traceback
        _sampler(sweep, sweep.seed)
        _pruner(sweep)
    except (TypeError, ValueError) as e:
        raise UserError(f"sampler {sampler} {sampler_args} or pruner {pruner} {pruner_args}: {e}") from None
    return sweep


# ---- the study -----------------------------------------------------------------------------------------


def _quiet_optuna() -> None:
    """Our own one line per trial instead of Optuna's log; its experimental-feature warnings are noise here."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")
    # our workers run their own heartbeat thread around each trial (they ask and tell, not Study.optimize)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


def _sqlite_connection(url: str) -> Callable[[], sqlite3.Connection]:
    """Connections to a study's SQLite file that several worker processes share.

    They wait up to 2 minutes for another's write lock (5 s by default), and the file is in WAL mode:
    readers never block the writer, and a commit is not an fsync (a killed process still loses nothing;
    only a power cut may drop the last commits). Without these, each heartbeat, report and tell is an
    fsync, which a disk shared with other jobs can stretch to seconds.
    """
    from sqlalchemy.engine import make_url

    path = make_url(url).database

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, timeout=120, check_same_thread=False)  # pooled across threads
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return connect


def _open(sweep: Sweep, create: bool) -> "optuna.Study":
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    engine_kwargs = {"creator": _sqlite_connection(sweep.storage)} if sweep.storage.startswith("sqlite") else {}
    try:
        storage = RDBStorage(sweep.storage, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                             grace_period=GRACE_S,
                             heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES))
        if create:
            return optuna.create_study(storage=storage, study_name=sweep.study_name, direction=sweep.direction,
                                       load_if_exists=True)
        return optuna.load_study(storage=storage, study_name=sweep.study_name)
    except Exception as e:  # sqlalchemy, a missing database driver, a refused connection: the reason is the message
        reason = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise UserError(f"cannot open storage {sweep.storage!r}: {reason.strip()}") from None


def open_study(sweep: Sweep, create: bool = False) -> "optuna.Study":
    """The sweep's study in its storage (created when `create`); an unreachable storage is a UserError."""
    from sqlalchemy.engine import make_url

    _quiet_optuna()
    if sweep.storage == _storage_url(None, sweep.out):
        sweep.out.mkdir(parents=True, exist_ok=True)
    # processes started at once would race to create a SQLite file's tables: they take turns (a lock beside
    # the file; a missing folder is left for the connection to report)
    database = Path(make_url(sweep.storage).database or "") if sweep.storage.startswith("sqlite") else None
    beside = database is not None and database.name not in ("", ":memory:") and database.parent.is_dir()
    with _locked(database.with_name(database.name + ".lock")) if beside else contextlib.nullcontext():
        study = _open(sweep, create)
    if study.direction.name.lower() != sweep.direction:
        raise UserError(f"study {sweep.study_name!r} in {sweep.storage} is set to {study.direction.name.lower()}; "
                        f"metric {sweep.metric!r} needs {sweep.direction}: use another out")
    # joining a study that explores something else would mix two experiments in one ranking
    fingerprint = json.loads(json.dumps({"base": sweep.base, "space": sweep.space, "metric": sweep.metric}))
    held = study.user_attrs.get("sweep")
    if held is None:
        study.set_user_attr("sweep", fingerprint)
    elif held != fingerprint:
        raise UserError(f"study {sweep.study_name!r} in {sweep.storage} was started with another base, space or metric; "
                        "use another out (or the same file)")
    return study


# Study keeps its storage and id private; the storage's own methods (public) need them, as Optuna's helpers do.
def _trial_id(study: "optuna.Study", number: int) -> int:
    return study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)


def _frozen(study: "optuna.Study", number: int) -> "optuna.trial.FrozenTrial":
    """A trial as stored now (its intermediate values, the retry's system attributes)."""
    return study._storage.get_trial(_trial_id(study, number))


def _process_start(pid: int) -> str | None:
    """When a process started (clock ticks since boot), so a reused pid is not taken for the dead one."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def _is_dead(owner: str | None, started: datetime.datetime | None) -> bool:
    """Whether the process running a trial is gone: by its pid on this machine; one never claimed, by age."""
    if owner is None:  # killed between asking for the trial and claiming it
        return started is not None and (datetime.datetime.now() - started).total_seconds() > GRACE_S
    host, pid, start = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return False  # another machine's: its heartbeat tells (fail_stale_trials)
    return _process_start(int(pid)) != start


def fail_dead_trials(study: "optuna.Study") -> None:
    """Mark FAIL the RUNNING trials of dead processes and queue each again (same parameters and run folder)."""
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    retry = storage.get_heartbeat_stale_trial_callback()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _is_dead(t.user_attrs.get("worker"), t.datetime_start):
            continue
        try:
            # one process wins this transition; only it queues the retry
            if storage.set_trial_state_values(_trial_id(study, t.number), state=TrialState.FAIL):
                retry(study, _frozen(study, t.number))
        except optuna.exceptions.UpdateFinishedTrialError:
            pass
    optuna.storages.fail_stale_trials(study)  # other machines' dead trials, by their heartbeats


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock between this machine's workers (the kernel drops it when a process dies)."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _counts(study: "optuna.Study") -> dict[str, int]:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    count = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    count["finished"] = count["COMPLETE"] + count["PRUNED"]
    count["errors"] = sum(t.state == TrialState.FAIL and "error" in t.user_attrs for t in trials)
    return count


def _next_trial(study: "optuna.Study", sweep: Sweep) -> "optuna.Trial | bool":
    """A trial to run (a queued retry first), False while every remaining slot is held, True when the study is done."""
    fail_dead_trials(study)
    n = _counts(study)
    if n["finished"] >= sweep.trials:
        return True
    if n["errors"] >= sweep.trials:
        last = max((t for t in study.get_trials(deepcopy=False) if "error" in t.user_attrs), key=lambda t: t.number)
        raise UserError(f"{n['errors']} trials failed; the last: {last.user_attrs['error']}")
    if n["WAITING"] == 0 and n["finished"] + n["RUNNING"] >= sweep.trials:
        return False
    trial = study.ask()
    # a first beat at once: a trial that never beat is never found stale on another machine
    study._storage.record_heartbeat(_trial_id(study, trial.number))
    trial.set_user_attr("worker", _this_process())
    return trial


def _surplus(study: "optuna.Study", trial: "optuna.Trial", sweep: Sweep) -> bool:
    """Whether `trials` unfailed trials precede this one: possible only when machines asked at the same instant.

    A trial runs only if fewer than `trials` trials numbered before it are not FAIL, so at most `trials` can
    finish whatever the interleaving (this machine's workers alone never meet a surplus: they ask under one lock).
    """
    from optuna.trial import TrialState

    ahead = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number and t.state != TrialState.FAIL]
    return len(ahead) >= sweep.trials


@contextlib.contextmanager
def _heartbeat(study: "optuna.Study", number: int) -> Iterator[None]:
    """Beat for the trial while it runs, so other machines can tell it is alive."""
    storage, trial_id, done = study._storage, _trial_id(study, number), threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # a missed beat is harmless; the grace period spans several
                storage.record_heartbeat(trial_id)
            if done.wait(HEARTBEAT_S):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _suggest(trial: "optuna.Trial", space: dict[str, Any]) -> dict[str, Any]:
    params = {}
    for key, spec in space.items():
        if isinstance(spec, list):
            params[key] = trial.suggest_categorical(key, spec)
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int) and BY_NAME[key].type is int:
            params[key] = trial.suggest_int(key, spec["low"], spec["high"], step=spec.get("step", 1), log=spec["log"])
        else:
            params[key] = trial.suggest_float(key, spec["low"], spec["high"], step=spec.get("step"), log=spec["log"])
    return params


def _shown(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _best(values: list[float], metric: str) -> float | None:
    return (max if METRICS[metric] == "max" else min)(values) if values else None


def run_trial(study: "optuna.Study", trial: "optuna.Trial", sweep: Sweep) -> None:
    """Train one trial in its run folder (resuming its last.pt), report epochs to the pruner, tell the outcome."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    from resnet_any.train.callbacks import Pruning
    from resnet_any.train.trainer import train

    run = Path(trial.user_attrs.get("run") or sweep.out / f"trial-{trial.number:04d}")
    trial.set_user_attr("run", str(run))
    params = _suggest(trial, sweep.space)
    resume = (run / "last.pt").is_file()
    interrupted = RetryHeartbeatStaleTrialCallback.retried_trial_number(_frozen(study, trial.number))
    if interrupted is not None:
        how = f"resumes from {run / 'last.pt'}" if resume else f"restarts in {run} (it had no checkpoint yet)"
        print(f"trial {trial.number}: interrupted trial {interrupted} {how}", flush=True)
    config = {**sweep.base, **params, "out": str(run), "quiet": True, "resume": resume}
    pruning = Pruning(trial, sweep.metric)
    try:
        with _heartbeat(study, trial.number):
            end = train(TrainConfig.from_dict(config, source="sweep trial"), sinks=[], callbacks=[pruning])
    except Exception as e:  # a diverging lr, out of memory: this trial fails, the study goes on (errors are capped)
        message = " ".join(str(e).split()) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        trial.set_user_attr("error", message)
        study.tell(trial, state=TrialState.FAIL)
        print(f"trial {trial.number} FAIL {_shown(params)}: {message}", flush=True)
        return
    values = list(_frozen(study, trial.number).intermediate_values.values())
    value = _best(values, sweep.metric)
    trial.set_user_attr("epochs", end["epochs"])
    if pruning.stopped_epoch is not None:
        trial.set_user_attr("pruned_at_epoch", pruning.stopped_epoch)
        study.tell(trial, state=TrialState.PRUNED)
        print(f"trial {trial.number} PRUNED after epoch {pruning.stopped_epoch}: {sweep.metric}={value:.4g} "
              f"{_shown(params)} -> {run}", flush=True)
    elif value is None:
        trial.set_user_attr("error", f"no epoch reported {sweep.metric}")
        study.tell(trial, state=TrialState.FAIL)
        print(f"trial {trial.number} FAIL: no epoch reported {sweep.metric}", flush=True)
    else:
        study.tell(trial, value)
        print(f"trial {trial.number} COMPLETE {sweep.metric}={value:.4g} {_shown(params)} -> {run}", flush=True)


def _grid_sampler(*args: Any, **kwargs: Any) -> "optuna.samplers.GridSampler":
    """Optuna's grid sampler without its study.stop() on the last grid point: that works only inside
    Study.optimize, and our workers end on the study's count of finished trials anyway."""
    from optuna.samplers import GridSampler

    class Grid(GridSampler):
        def after_trial(self, *args: Any, **kwargs: Any) -> None:
            pass

    return Grid(*args, **kwargs)


def _sampler(sweep: Sweep, seed: int) -> "optuna.samplers.BaseSampler":
    import optuna

    if sweep.sampler == "grid":
        return _grid_sampler(sweep.space, seed=seed, **sweep.sampler_args)
    return getattr(optuna.samplers, SAMPLERS[sweep.sampler])(seed=seed, **sweep.sampler_args)


def _pruner(sweep: Sweep) -> "optuna.pruners.BasePruner":
    import optuna

    return getattr(optuna.pruners, PRUNERS[sweep.pruner])(**sweep.pruner_args)


def work(sweep: Sweep, worker: int = 0) -> None:
    """One worker: ask the shared study for trials and run them until it holds `trials` finished ones."""
    from optuna.trial import TrialState

    study = open_study(sweep)
    # a re-run must not replay the first run's draws, and two workers must not draw alike: the seed moves on
    # with the trials already in the study and the worker's index (one worker on a fresh study: `seed` itself).
    # Not for grid: its seed shuffles the grid whose positions the trials record, so every worker keeps it.
    moved = 1000 * len(study.get_trials(deepcopy=False)) + worker
    study.sampler = _sampler(sweep, sweep.seed + (0 if sweep.sampler == "grid" else moved))
    study.pruner = _pruner(sweep)
    sweep.out.mkdir(parents=True, exist_ok=True)
    while True:
        with _locked(sweep.out / "study.lock"):
            trial = _next_trial(study, sweep)
        if trial is True:
            return
        if trial is False:
            time.sleep(POLL_S)  # the last trials run elsewhere; one may yet die and come back to the queue
            continue
        if _surplus(study, trial, sweep):
            trial.set_user_attr("surplus", "asked at the same instant as another machine; not run")
            study.tell(trial, state=TrialState.FAIL)
            continue
        run_trial(study, trial, sweep)


# ---- the outputs -----------------------------------------------------------------------------------------


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
                     sweep.metric: _best(list(t.intermediate_values.values()), sweep.metric),
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
              f"epochs={r['epochs']}  {_shown({k: r[k] for k in sweep.space})}  {r['note']}")
    if rows[0]["state"] == "COMPLETE":
        best = {**sweep.base, **{k: rows[0][k] for k in sweep.space}}
        (sweep.out / "best.yaml").write_text(yaml.safe_dump(best, sort_keys=False))
    for note in _plots(study, sweep.out):
        print(f"note: {note}")
    return rows


def _threads(workers: int) -> None:
    """Share the machine's cores among the workers: torch would give each all of them, and they would thrash."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


# ---- the command -----------------------------------------------------------------------------------------


@command
def main(argv: list[str] | None = None) -> int:
    """Run (or join, or finish) a sweep from the command line and print its ranking."""
    cli_environment()
    p = Parser(prog="python -m resnet_any.sweep", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="the sweep YAML file")
    p.add_argument("--out", help="output folder (default: the file's out:, else runs/sweep-<file name>)")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # the processes main starts
    args = p.parse_args(argv)
    sweep = load_sweep(args.config, args.out)
    if args.worker is not None:
        _threads(sweep.workers)
        work(sweep, args.worker)
        return 0
    for note in sweep.notes:
        print(f"note: {note}")
    t0 = time.monotonic()
    study = open_study(sweep, create=True)  # every check is done; from here on things are written
    n = _counts(study)
    print(f"study {sweep.study_name!r} in {sweep.storage}: {n['finished']} of {sweep.trials} trials finished, "
          f"{sweep.sampler} sampler, {sweep.pruner} pruner, {sweep.workers} worker{'s' * (sweep.workers > 1)}",
          flush=True)
    if sweep.workers == 1:
        work(sweep)
        codes = [0]
    else:
        cmd = [sys.executable, "-m", "resnet_any.sweep", "--config", str(args.config), "--out", str(sweep.out)]
        procs = [subprocess.Popen([*cmd, "--worker", str(i)]) for i in range(sweep.workers)]
        codes = [proc.wait() for proc in procs]
    n = _counts(study)
    rows = report(study, sweep)
    best = rows and rows[0]["state"] == "COMPLETE"
    print(f"{n['finished']} of {sweep.trials} trials finished ({n['PRUNED']} pruned) in {time.monotonic() - t0:.0f} s; "
          f"results -> {sweep.out / 'results.csv'}" + (f", best config -> {sweep.out / 'best.yaml'}" if best else ""))
    if n["finished"] < sweep.trials:
        print(f"error: the study is unfinished (worker exit codes {codes}); run the same command again to finish it",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
