"""The shared Optuna study: its storage, the trials of dead processes, heartbeats, the next trial to run."""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sqlite3
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from resnet_any.errors import UserError
from resnet_any.sweep.config import Sweep, storage_url

if TYPE_CHECKING:
    import optuna

# Heartbeats find the trials of dead processes on other machines; a dead process on this machine is seen at
# once by its pid. Grace: several missed beats, so a busy machine's slow write is not taken for a death.
HEARTBEAT_S = 10
GRACE_S = 60
MAX_RETRIES = 3  # a trial that kills its process every time (out of memory) is given up after this many


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
    if sweep.storage == storage_url(None, sweep.out):
        sweep.out.mkdir(parents=True, exist_ok=True)
    # processes started at once would race to create a SQLite file's tables: they take turns (a lock beside
    # the file; a missing folder is left for the connection to report)
    database = Path(make_url(sweep.storage).database or "") if sweep.storage.startswith("sqlite") else None
    beside = database is not None and database.name not in ("", ":memory:") and database.parent.is_dir()
    with locked(database.with_name(database.name + ".lock")) if beside else contextlib.nullcontext():
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


def frozen_trial(study: "optuna.Study", number: int) -> "optuna.trial.FrozenTrial":
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
                retry(study, frozen_trial(study, t.number))
        except optuna.exceptions.UpdateFinishedTrialError:
            pass
    optuna.storages.fail_stale_trials(study)  # other machines' dead trials, by their heartbeats


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock between this machine's workers (the kernel drops it when a process dies)."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def counts(study: "optuna.Study") -> dict[str, int]:
    """Trials per state, with "finished" (COMPLETE + PRUNED) and "errors" (failed by an exception)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    count = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    count["finished"] = count["COMPLETE"] + count["PRUNED"]
    count["errors"] = sum(t.state == TrialState.FAIL and "error" in t.user_attrs for t in trials)
    return count


def next_trial(study: "optuna.Study", sweep: Sweep) -> "optuna.Trial | bool":
    """A trial to run (a queued retry first), False while every remaining slot is held, True when the study is done."""
    fail_dead_trials(study)
    n = counts(study)
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


def is_surplus(study: "optuna.Study", trial: "optuna.Trial", sweep: Sweep) -> bool:
    """Whether `trials` unfailed trials precede this one: possible only when machines asked at the same instant.

    A trial runs only if fewer than `trials` trials numbered before it are not FAIL, so at most `trials` can
    finish whatever the interleaving (this machine's workers alone never meet a surplus: they ask under one lock).
    """
    from optuna.trial import TrialState

    ahead = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number and t.state != TrialState.FAIL]
    return len(ahead) >= sweep.trials


@contextlib.contextmanager
def heartbeat(study: "optuna.Study", number: int) -> Iterator[None]:
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
