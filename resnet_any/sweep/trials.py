"""A worker: ask the study for trials, run each as a training run reporting to the pruner, tell the outcome."""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_any.errors import UserError
from resnet_any.sweep.config import Sweep, make_pruner, make_sampler, best_of, shown
from resnet_any.sweep.study import frozen_trial, heartbeat, locked, next_trial, is_surplus, open_study
from resnet_any.train.options import BY_NAME, TrainConfig

if TYPE_CHECKING:
    import optuna

POLL_S = 1.0


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



def run_trial(study: "optuna.Study", trial: "optuna.Trial", sweep: Sweep) -> None:
    """Train one trial in its run folder (resuming its last.pt), report epochs to the pruner, tell the outcome."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    from resnet_any.train.run.callbacks import Pruning
    from resnet_any.train.run.trainer import train

    run = Path(trial.user_attrs.get("run") or sweep.out / f"trial-{trial.number:04d}")
    trial.set_user_attr("run", str(run))
    params = _suggest(trial, sweep.space)
    resume = (run / "last.pt").is_file()
    interrupted = RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen_trial(study, trial.number))
    if interrupted is not None:
        how = f"resumes from {run / 'last.pt'}" if resume else f"restarts in {run} (it had no checkpoint yet)"
        print(f"trial {trial.number}: interrupted trial {interrupted} {how}", flush=True)
    config = {**sweep.base, **params, "out": str(run), "quiet": True, "resume": resume}
    pruning = Pruning(trial, sweep.metric)
    try:
        with heartbeat(study, trial.number):
            end = train(TrainConfig.from_dict(config, source="sweep trial"), sinks=[], callbacks=[pruning])
    except Exception as e:  # a diverging lr, out of memory: this trial fails, the study goes on (errors are capped)
        message = " ".join(str(e).split()) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        trial.set_user_attr("error", message)
        study.tell(trial, state=TrialState.FAIL)
        print(f"trial {trial.number} FAIL {shown(params)}: {message}", flush=True)
        return
    values = list(frozen_trial(study, trial.number).intermediate_values.values())
    value = best_of(values, sweep.metric)
    trial.set_user_attr("epochs", end["epochs"])
    if pruning.stopped_epoch is not None:
        trial.set_user_attr("pruned_at_epoch", pruning.stopped_epoch)
        study.tell(trial, state=TrialState.PRUNED)
        print(f"trial {trial.number} PRUNED after epoch {pruning.stopped_epoch}: {sweep.metric}={value:.4g} "
              f"{shown(params)} -> {run}", flush=True)
    elif value is None:
        trial.set_user_attr("error", f"no epoch reported {sweep.metric}")
        study.tell(trial, state=TrialState.FAIL)
        print(f"trial {trial.number} FAIL: no epoch reported {sweep.metric}", flush=True)
    else:
        study.tell(trial, value)
        print(f"trial {trial.number} COMPLETE {sweep.metric}={value:.4g} {shown(params)} -> {run}", flush=True)


def work(sweep: Sweep, worker: int = 0) -> None:
    """One worker: ask the shared study for trials and run them until it holds `trials` finished ones."""
    from optuna.trial import TrialState

    study = open_study(sweep)
    # a re-run must not replay the first run's draws, and two workers must not draw alike: the seed moves on
    # with the trials already in the study and the worker's index (one worker on a fresh study: `seed` itself).
    # Not for grid: its seed shuffles the grid whose positions the trials record, so every worker keeps it.
    moved = 1000 * len(study.get_trials(deepcopy=False)) + worker
    study.sampler = make_sampler(sweep, sweep.seed + (0 if sweep.sampler == "grid" else moved))
    study.pruner = make_pruner(sweep)
    sweep.out.mkdir(parents=True, exist_ok=True)
    while True:
        with locked(sweep.out / "study.lock"):
            trial = next_trial(study, sweep)
        if trial is True:
            return
        if trial is False:
            time.sleep(POLL_S)  # the last trials run elsewhere; one may yet die and come back to the queue
            continue
        if is_surplus(study, trial, sweep):
            trial.set_user_attr("surplus", "asked at the same instant as another machine; not run")
            study.tell(trial, state=TrialState.FAIL)
            continue
        run_trial(study, trial, sweep)
