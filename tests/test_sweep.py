"""Sweeps on Optuna: real (tiny) digits trials, pruning, two processes on one storage, kill -9 and resume, bad input."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from resnet_any import UserError
from resnet_any.sweep import load_sweep, main
from resnet_any.train import cli as train_cli
from resnet_any.files import read_checkpoint

REPO = Path(__file__).resolve().parents[1]
# digits at width 4: about a second an epoch on a shared CPU core, and 1e-6 vs 1e-2 is night and day after one
BASE = {"domain": "image", "dataset": "digits", "width": 4, "batch_size": 64, "seed": 0}
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def write(tmp_path: Path, **sweep) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": {**BASE, "cache_dir": str(tmp_path / "cache"), **sweep.pop("base", {})},
                                    "out": str(tmp_path / "out"), **sweep}))
    return path


def trials_of(out: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=out.name, storage=f"sqlite:///{out / 'study.db'}").trials


def finished(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]


def test_tpe_study_ends_with_its_trials_ranks_them_and_best_yaml_trains(tmp_path, one_thread, capsys):
    path = write(tmp_path, base={"epochs": 2}, space={"lr": {"low": 1e-4, "high": 3e-2, "log": True},
                                                     "width": [4, 8]},
                 sampler="tpe", pruner="none", trials=3, metric="val_loss")
    assert main(["--config", str(path)]) == 0
    out = tmp_path / "out"
    trials = trials_of(out)
    assert len(trials) == 3 and sorted(t.number for t in trials) == [0, 1, 2]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert all(1e-4 <= t.params["lr"] <= 3e-2 and t.params["width"] in (4, 8) for t in trials)
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [int(r["number"]) for r in rows] == sorted((t.number for t in trials), key=lambda n: trials[n].value)
    for r in rows:  # each row's metric is the best val_loss its own run wrote, one epoch per line
        lines = [yaml.safe_load(line) for line in (Path(r["run"]) / "metrics.jsonl").read_text().splitlines()]
        assert [x["epoch"] for x in lines] == [1, 2] and r["epochs"] == "2"
        assert float(r["val_loss"]) == pytest.approx(min(x["val_loss"] for x in lines))
    assert (out / "history.png").stat().st_size > 0 and (out / "importances.png").stat().st_size > 0
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["lr"] == pytest.approx(float(rows[0]["lr"])) and best["dataset"] == "digits"
    assert train_cli.main(["--config", str(out / "best.yaml"), "--out", str(tmp_path / "best"), "--epochs", "1",
                           "--quiet"]) == 0
    assert (tmp_path / "best" / "summary.json").is_file()


def test_grid_study_with_a_median_pruner_prunes_the_hopeless_lr(tmp_path, one_thread, capsys):
    path = write(tmp_path, base={"epochs": 3},
                 space={"lr": [1e-2, 1e-6], "seed": [0, 1]}, sampler="grid",
                 pruner={"type": "median", "n_startup_trials": 2, "n_warmup_steps": 0}, seed=4)
    assert main(["--config", str(path)]) == 0
    trials = trials_of(tmp_path / "out")
    assert len(trials) == 4 == len(finished(trials))  # the grid's 2 x 2, each once
    assert sorted((t.params["lr"], t.params["seed"]) for t in trials) == [(1e-6, 0), (1e-6, 1), (1e-2, 0), (1e-2, 1)]
    # Optuna shuffles the grid by the seed; seed 4 puts the two good lrs first: they are the pruner's 2 startup
    # trials (never pruned), and both hopeless ones are judged against them after their first epoch
    assert [t.params["lr"] for t in trials] == [1e-2, 1e-2, 1e-6, 1e-6]
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert [t.number for t in pruned] == [2, 3]
    for t in pruned:  # stopped early, and its run folder says so
        summary = yaml.safe_load((Path(t.user_attrs["run"]) / "summary.json").read_text())
        assert summary["epochs"] == t.user_attrs["pruned_at_epoch"] < 3 and summary["early_stopped"]
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert float(rows[0]["lr"]) == 1e-2 and rows[0]["state"] == "COMPLETE"
    assert all(r["note"].startswith("pruned after epoch") for r in rows if r["state"] == "PRUNED")


def test_two_processes_on_one_storage_finish_exactly_the_study(tmp_path):
    path = write(tmp_path, base={"epochs": 1}, space={"lr": {"low": 1e-3, "high": 1e-1, "log": True}},
                 sampler="random", pruner="none", trials=3)
    logs = together([sys.executable, "-m", "resnet_any.sweep", "--config", str(path)], tmp_path, tmp_path)
    trials = trials_of(tmp_path / "out")
    assert sorted(t.number for t in trials) == [0, 1, 2] and len(finished(trials)) == 3
    # no trial ran twice: between them the two processes reported each number once
    ran = [line.split()[1] for log in logs for line in log.splitlines() if line.startswith("trial ")]
    assert sorted(ran) == ["0", "1", "2"], logs


def test_two_machines_with_their_own_folders_on_one_storage_finish_exactly_the_study(tmp_path):
    # as two machines: each its own out folder (so no shared lock), one storage URL, started at once
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    path = write(tmp_path, base={"epochs": 1}, space={"lr": {"low": 1e-3, "high": 1e-1, "log": True}},
                 sampler="random", pruner="none", trials=3, storage=f"sqlite:///{tmp_path / 'shared.db'}")
    path.write_text(path.read_text().replace(f"out: {tmp_path / 'out'}", "out: out"))
    logs = together([sys.executable, "-m", "resnet_any.sweep", "--config", str(path)], tmp_path / "a", tmp_path / "b")
    study = optuna.load_study(study_name="out", storage=f"sqlite:///{tmp_path / 'shared.db'}")
    assert len(finished(study.trials)) == 3 and len({t.number for t in study.trials}) == len(study.trials)
    # a trial asked beyond the count at the same instant is failed unrun, never trained
    extra = [t for t in study.trials if t not in finished(study.trials)]
    assert all(t.state.name == "FAIL" and "surplus" in t.user_attrs for t in extra), logs
    runs = sorted(p.name for p in (tmp_path / "a" / "out").glob("trial-*")) + sorted(
        p.name for p in (tmp_path / "b" / "out").glob("trial-*"))
    assert sorted(runs) == sorted(Path(t.user_attrs["run"]).name for t in finished(study.trials)), logs


def together(cmd: list[str], *cwds: Path) -> list[str]:
    """Start `cmd` in each folder at once, wait for all; their outputs (each must exit 0)."""
    procs = [subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for cwd in cwds]
    try:
        logs = [p.communicate(timeout=400)[0] for p in procs]
    finally:  # a hung test must not leave processes loading the shared CPU for the tests after it
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0] * len(procs), logs
    return logs


def test_kill_9_mid_trial_then_the_same_command_resumes_it_and_finishes(tmp_path):
    # 30 epochs: a bf16 digits epoch takes a fraction of a second, and 8 could all end within the second
    # this test waits after the first checkpoint
    path = write(tmp_path, base={"epochs": 30}, space={"lr": [0.01, 0.003]}, sampler="grid", pruner="none")
    cmd = [sys.executable, "-m", "resnet_any.sweep", "--config", str(path)]
    run0 = tmp_path / "out" / "trial-0000"
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    while not (run0 / "last.pt").is_file() and time.monotonic() < deadline:  # its first epoch is checkpointed
        time.sleep(0.2)
    time.sleep(1.0)  # and it is on in its next epoch
    os.killpg(proc.pid, signal.SIGKILL)  # the whole sweep, whatever happened
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    saved = read_checkpoint(run0 / "last.pt")["epoch"]
    rows_before = (run0 / "metrics.jsonl").read_text().splitlines()[:saved]
    assert 1 <= saved < 30 and [t.state.name for t in trials_of(tmp_path / "out")] == ["RUNNING"]

    again = subprocess.run(cmd, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=400)
    assert again.returncode == 0, again.stderr
    assert f"trial 1: interrupted trial 0 resumes from {run0 / 'last.pt'}\n" in again.stdout, again.stdout
    trials = trials_of(tmp_path / "out")
    assert len(finished(trials)) == 2 and sorted(t.params["lr"] for t in finished(trials)) == [0.003, 0.01]
    assert [t.state.name for t in trials if t.number == 0] == ["FAIL"]
    resumed = next(t for t in trials if t.system_attrs.get("failed_trial") == 0)
    assert resumed.user_attrs["run"] == str(run0) and resumed.params == trials[0].params
    # the epochs done before the kill were kept, not redone: their rows (timings included) are unchanged
    rows = (run0 / "metrics.jsonl").read_text().splitlines()
    assert rows[:saved] == rows_before and [yaml.safe_load(r)["epoch"] for r in rows] == list(range(1, 31))


def checkpointed_running_trial(out: Path) -> optuna.trial.FrozenTrial | None:
    """A RUNNING trial whose run has written last.pt, or None."""
    if not list(out.glob("trial-*/last.pt")):  # until then the sweep may still be creating the study's tables
        return None
    return next((t for t in trials_of(out) if t.state.name == "RUNNING"
                 and (Path(t.user_attrs.get("run", "-")) / "last.pt").is_file()), None)


def test_a_worker_killed_mid_trial_is_resumed_by_the_other_and_the_sweep_finishes(tmp_path):
    path = write(tmp_path, base={"epochs": 5}, space={"lr": [0.01, 0.03]}, sampler="grid", pruner="none", workers=2)
    proc = subprocess.Popen([sys.executable, "-m", "resnet_any.sweep", "--config", str(path)], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        victim = None
        deadline = time.monotonic() + 240
        while victim is None and time.monotonic() < deadline:
            time.sleep(0.3)
            victim = checkpointed_running_trial(tmp_path / "out")
        assert victim is not None
        os.kill(int(victim.user_attrs["worker"].split(":")[1]), signal.SIGKILL)
        log = proc.communicate(timeout=400)[0]
    finally:  # a failed test must not leave processes loading the shared CPU for the tests after it
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, log  # the surviving worker finished the study
    trials = trials_of(tmp_path / "out")
    assert len(finished(trials)) == 2 and sorted(t.params["lr"] for t in finished(trials)) == [0.01, 0.03]
    assert [t.number for t in trials if t.state.name == "FAIL"] == [victim.number]
    assert f"interrupted trial {victim.number} resumes from {victim.user_attrs['run']}/last.pt" in log, log


def test_another_machines_dead_trial_is_requeued_by_heartbeat_and_a_surplus_ask_is_refused(tmp_path, monkeypatch):
    from resnet_any.sweep import study as sweep_module  # where the heartbeat's timings are read

    monkeypatch.setattr(sweep_module, "HEARTBEAT_S", 1)
    monkeypatch.setattr(sweep_module, "GRACE_S", 1)
    sweep = load_sweep(write(tmp_path, space={"lr": [0.1, 0.01]}, sampler="random", trials=2))
    study = sweep_module.open_study(sweep, create=True)
    # machine B holds trials 0 and 1; B's trial 1 stops beating (B died); trial 0 goes on beating
    remote = [study.ask(), study.ask()]
    for t in remote:
        t.set_user_attr("worker", "machine-b:4242:1")
        t.set_user_attr("run", str(tmp_path / "b" / f"trial-{t.number:04d}"))
        t.suggest_categorical("lr", [0.1, 0.01])
    storage = study._storage
    storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(study._study_id, 1))
    time.sleep(2.5)
    storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(study._study_id, 0))
    # a third ask at the same instant as B's two (another machine, no shared lock) would be one too many
    extra = study.ask()
    assert sweep_module.is_surplus(study, extra, sweep)
    study.tell(extra, state=optuna.trial.TrialState.FAIL)
    sweep_module.fail_dead_trials(study)  # machine A's pass: B's trial 1 is stale, trial 0 is alive
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["RUNNING", "FAIL", "FAIL", "WAITING"]
    assert trials[3].params == trials[1].params and trials[3].user_attrs["run"] == trials[1].user_attrs["run"]
    assert trials[3].system_attrs["failed_trial"] == 1
    retry = study.ask()  # the queued retry comes first, and now fits: trials 0 and 3 hold the two slots
    assert retry.number == 3 and not sweep_module.is_surplus(study, retry, sweep)


@pytest.mark.parametrize("change, message", [
    ({"sampler": "bayes"}, "unknown sampler 'bayes'; valid: tpe, random, grid"),
    ({"pruner": "patient"}, "unknown pruner 'patient'; valid: median, hyperband, none"),
    ({"pruner": {"type": "median", "warmup": 2}}, "pruner median: unknown argument 'warmup'"),
    ({"pruner": {"type": "median", "n_startup_trials": -1}}, "sampler tpe {} or pruner median {'n_startup_trials': -1}:"),
    ({"metric": "test_accuracy"}, "unknown metric 'test_accuracy'"),
    ({"base": {"domain": "audio"}}, "unknown domain 'audio'; valid:"),
    ({"space": {"learning_rate": [0.1]}}, "space: 'learning_rate' is not a training option; valid: amp,"),
    ({"space": {"lr": {"low": 0.1, "high": 0.01}}}, "space: lr range needs low < high, got low 0.1, high 0.01"),
    ({"space": {"lr": {"low": 0.01, "high": 0.01}}}, "space: lr range needs low < high"),
    ({"space": {"lr": {"low": -1.0, "high": 0.01}}}, "space: lr range: --lr must be > 0, got -1.0"),
    ({"space": {"width": [8, 0]}}, "space: width: --width must be >= 1, got 0"),
    ({"sampler": "grid", "space": {"lr": {"low": 1e-3, "high": 1e-1}}}, "sampler grid takes only lists of choices"),
    ({"trials": 0}, "trials must be an integer >= 1, got 0"),
    ({"storage": "sqlite:////nonexistent-dir/sub/study.db"}, "cannot open storage 'sqlite:////nonexistent-dir/sub/"),
    ({"storage": "out/study.db"}, "storage must be an Optuna database URL"),
])
def test_bad_input_is_one_line_exit_2_and_starts_nothing(tmp_path, capsys, change, message):
    sweep = {"space": {"lr": [0.1, 0.01]}, "trials": 2, **change}
    path = write(tmp_path, **sweep)
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_bad_input_at_the_real_command_line_has_no_traceback(tmp_path):
    path = write(tmp_path, space={"lr": [0.1]}, trials=1, storage="postgresql://nobody@127.0.0.1:1/none")
    proc = subprocess.run([sys.executable, "-m", "resnet_any.sweep", "--config", str(path)], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout
    assert proc.stderr.startswith("error: cannot open storage 'postgresql://nobody@127.0.0.1:1/none'")
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


def test_old_grid_and_random_files_are_read_in_the_new_form(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("base: {domain: image}\ngrid: {lr: [0.1, 0.01], width: [8, 16, 32]}\nparallel: 2\n")
    sweep = load_sweep(path)
    assert (sweep.sampler, sweep.pruner, sweep.trials, sweep.workers, sweep.space) == (
        "grid", "none", 6, 2, {"lr": [0.1, 0.01], "width": [8, 16, 32]})
    assert sweep.notes[0].startswith("grid:/random: is the old sweep form; read as {")
    path.write_text("base: {domain: graph}\n"
                    "random: {trials: 5, seed: 3, space: {lr: {log_uniform: [0.001, 0.1]}, depth: {int: [2, 4]}}}\n")
    sweep = load_sweep(path)
    assert (sweep.sampler, sweep.trials, sweep.seed) == ("random", 5, 3)
    assert sweep.space == {"lr": {"low": 0.001, "high": 0.1, "log": True}, "depth": {"low": 2, "high": 4, "log": False}}
    path.write_text("grid: {lr: [0.1]}\nrandom: {trials: 1, space: {lr: [0.1]}}")
    with pytest.raises(UserError, match="exactly one of space"):
        load_sweep(path)
