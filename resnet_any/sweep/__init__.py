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
from resnet_any.sweep.cli import main
from resnet_any.sweep.config import METRICS, Sweep, load_sweep
from resnet_any.sweep.outputs import report, results
from resnet_any.sweep.study import fail_dead_trials, open_study
from resnet_any.sweep.trials import run_trial, work

__all__ = ["METRICS", "Sweep", "load_sweep", "open_study", "fail_dead_trials", "run_trial", "work", "results", "report",
           "main"]
