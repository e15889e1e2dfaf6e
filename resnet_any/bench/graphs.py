"""graphs: whole runs of resnet_any against a plain PyG GCN script (pyg_gcn.py), each in its own fresh process.

Two parts (--parts):
- cora: `python -m resnet_any.train --domain graph` (Cora's recipe) against pyg_gcn.py on the same Planetoid
  files, --rounds rounds in alternating order, after one untimed one-epoch run of each (both then read their
  processed caches); medians of wall seconds and of the child's CPU seconds (user + system, steadier than
  wall time when other jobs share the cores) and the per-round ratios.
- sbm: stochastic block model graphs (sbm.py: 5 classes, mean degree 20, edge homophily 0.5, class signal 0.05, 128 features) at
  --sizes nodes, written as the folder the CLI reads (Parquet when the graph reader takes it, else CSV); on
  each, resnet_any's node default (full batch, and neighbour sampling when the CLI has --sampling) and the
  plain script, --epochs epochs each: peak RSS of the whole process (the child's ru_maxrss from wait4), the
  median epoch seconds (training step and validation; the plain script's own test pass) and test accuracy.

Children inherit this process's environment (the bench's entry point sets OMP_WAIT_POLICY=PASSIVE, as the
train CLI does), so both sides run the same way.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from resnet_any.bench.table import comma_choices, make_row
from resnet_any.errors import UserError

HELP = "Cora's whole run against PyG's plain GCN script; SBM graphs at 10k-1M nodes: peak RSS, epoch time, accuracy"
PARTS = ("cora", "sbm")
MODES = ("full", "neighbor")  # resnet_any's --sampling values the SBM part runs
PLAIN = Path(__file__).with_name("pyg_gcn.py")
HERE = str(Path(__file__).resolve().parents[2])  # the checkout (or site-packages) this resnet_any is imported from
MIN_FREE_GB = 8.0  # a size is skipped (and said) when less memory than this is available before its runs
# the SBM's class signal in the features and its edge homophily: at sbm.py's own 0.1 and 0.7 both sides score
# 0.996 at 10k and 100k nodes, so the accuracy columns would measure nothing; here neither features alone nor
# structure alone settle a node's class
SBM_SIGNAL, SBM_HOMOPHILY = 0.05, 0.5


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Suite options."""
    p.add_argument("--parts", default=",".join(PARTS), help="comma list of: cora, sbm")
    p.add_argument("--rounds", type=int, default=3, help="Cora: timed runs of each side, alternating (default 3)")
    p.add_argument("--sizes", default="10k,100k,1m", help="SBM node counts, comma list of 10k, 100k, 1m")
    p.add_argument("--epochs", type=int, default=50,
                   help="SBM: epochs of every run, both sides (a cap on the defaults' 300 and 200; default 50)")
    p.add_argument("--timeout", type=int, default=3600, help="seconds one child process may run (default 3600)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--modes", default="full,neighbor", help="SBM: resnet_any's --sampling values to run (comma list; "
                   "neighbour sampling of 1,024 seeds x 25 x 25 touches most of a degree-20 graph each step, so its "
                   "epoch costs many full-batch ones)")
    p.add_argument("--compare", metavar="CHECKOUT", help="Cora: also time the train CLI of another checkout of "
                   "resnet_any (its folder, put first on PYTHONPATH) in the same rounds: a before/after ratio")


def measured(cmd: list[str], timeout: float, pythonpath: str | None = None) -> dict[str, Any]:
    """Run a command in a fresh process: stdout, wall seconds, CPU seconds and peak RSS (MB) of that child alone."""
    env = None
    if pythonpath:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [pythonpath, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        # run from the temp folder: `-m` puts the working folder first on sys.path, ahead of PYTHONPATH
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=tempfile.gettempdir())
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            # wait4, not wait: the rusage of this child alone (RUSAGE_CHILDREN would hold the largest child so far)
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        why = f"killed after {timeout:.0f} s" if proc.returncode == -9 else f"exit {proc.returncode}"
        raise UserError(f"`{' '.join(cmd[1:4])} ...` failed ({why}): {tail}")
    return {"stdout": stdout, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def _ours(data: list[str], out: Path, extra: list[str] = ()) -> list[str]:
    return [sys.executable, "-W", "ignore", "-m", "resnet_any.train", "--domain", "graph", *data, "--quiet",
            "--out", str(out), *extra]


def _plain(data: list[str], extra: list[str] = ()) -> list[str]:
    return [sys.executable, "-W", "ignore", str(PLAIN), *data, *extra]


def _plain_result(run: dict[str, Any]) -> dict[str, Any]:
    return json.loads(run["stdout"].strip().splitlines()[-1])


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


def _epoch_seconds(out: Path) -> float:
    """Median seconds of resnet_any's epochs (training step and validation), from epoch 10 as PyG's example."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    times = [r["seconds"] for r in rows[9:]] or [r["seconds"] for r in rows]
    return statistics.median(times)


def cora(args: argparse.Namespace, tmp: Path, log: Callable[[str], None]) -> list[dict]:
    """The whole-run comparison on Cora (module docstring)."""
    root = tmp / "planetoid"
    raw = Path(__file__).resolve().parents[1] / "assets" / "cora" / "raw"
    (root / "Cora" / "raw").mkdir(parents=True)
    for f in raw.iterdir():
        (root / "Cora" / "raw" / f.name).write_bytes(f.read_bytes())
    data = ["--planetoid", str(root)]
    sides = ["ours", "plain"] + (["compare"] if args.compare else [])
    paths = {"ours": HERE, **({"compare": str(Path(args.compare).resolve())} if args.compare else {})}
    for side in sides:  # untimed: every side's caches filled
        measured(_plain(data, ["--epochs", "1"]) if side == "plain" else _ours([], tmp / f"warm-{side}", ["--epochs", "1"]),
                 args.timeout, paths.get(side))
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for r in range(args.rounds):
        for side in sides if r % 2 == 0 else sides[::-1]:  # alternating order: drift falls on every side alike
            out = tmp / f"cora-{side}-{r}"
            run = measured(_plain(data) if side == "plain" else _ours([], out), args.timeout, paths.get(side))
            acc = _plain_result(run)["test_accuracy"] if side == "plain" else _summary(out)["test_accuracy"]
            run["acc"] = round(acc, 6)  # the summary's float32 0.84 reads 0.8399999737
            runs[side].append(run)
        log(f"  cora round {r + 1}: " + ", ".join(f"{side} {runs[side][-1]['wall']:.1f} s" for side in sides))
    rows = []
    for key, unit, label in (("wall", "s", "wall seconds"), ("cpu", "s", "CPU seconds")):
        ours = [x[key] for x in runs["ours"]]
        plain = [x[key] for x in runs["plain"]]
        ratios = [a / b for a, b in zip(ours, plain)]
        note = "anchor: PyG's examples/gcn.py as a script, same rounds (medians)"
        rows.append(make_row("graphs", "cora whole run", label, statistics.median(ours), statistics.median(plain), unit,
                             values=[round(v, 2) for v in ours], anchor_values=[round(v, 2) for v in plain], note=note))
        rows.append(make_row("graphs", "cora whole run", f"{label} ratio", statistics.median(ratios), 1.0, "x",
                             values=[round(v, 3) for v in ratios], limit=1.0 if key == "wall" else None,
                             note="resnet_any / plain PyG, median of per-round ratios"))
    rows.append(make_row("graphs", "cora whole run", "test_accuracy", runs["ours"][-1]["acc"], runs["plain"][-1]["acc"],
                         "fraction", goal=0.84, note="anchor: the plain 2-layer GCN"))
    rows.append(make_row("graphs", "cora whole run", "peak RSS", statistics.median(x["rss_mb"] for x in runs["ours"]),
                         statistics.median(x["rss_mb"] for x in runs["plain"]), "MB"))
    if args.compare:
        for key, label in (("wall", "wall seconds"), ("cpu", "CPU seconds")):
            ratios = [a[key] / b[key] for a, b in zip(runs["ours"], runs["compare"])]
            rows.append(make_row("graphs", "cora whole run vs --compare", f"{label} ratio", statistics.median(ratios),
                                 1.0, "x", values=[round(v, 3) for v in ratios],
                                 compare_values=[round(x[key], 2) for x in runs["compare"]],
                                 note=f"this checkout / {paths['compare']}, median of per-round ratios"))
        ratios = [a["wall"] / b["wall"] for a, b in zip(runs["compare"], runs["plain"])]
        rows.append(make_row("graphs", "--compare whole run", "wall seconds ratio", statistics.median(ratios), 1.0, "x",
                             values=[round(v, 3) for v in ratios], accuracy=runs["compare"][-1]["acc"],
                             note=f"{paths['compare']} / plain PyG, same rounds"))
    return rows


def _sizes(text: str) -> list[str]:
    from resnet_any.bench.sbm import SIZES

    return comma_choices(text, list(SIZES), "--sizes entry", "--sizes", lower=True)


def reader_takes_parquet(tmp: Path) -> bool:
    """Whether the graph reader accepts nodes.parquet/edges.parquet: tried on a 40-node folder."""
    from resnet_any.bench import sbm
    from resnet_any.data import load_dataset

    folder = sbm.write(sbm.generate(40, features=4, degree=4, train=0.4, val=0.3), tmp / "parquet-probe", True)
    try:
        load_dataset("graph", str(folder))
    except Exception:  # noqa: BLE001 - any refusal means CSV: the probe only asks whether it reads
        return False
    return True


def sampling_modes() -> list[str]:
    """resnet_any's --sampling choices when the train CLI has the flag, else [] (one full-batch column)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "resnet_any.train", "--help"], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir())
    return list(MODES) if "--sampling" in done.stdout else []


def _available_gb() -> float:
    """MemAvailable from /proc/meminfo in GB (inf where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("inf")


def sbm_part(args: argparse.Namespace, tmp: Path, log: Callable[[str], None]) -> list[dict]:
    """resnet_any full-batch / neighbour sampling and the plain script on SBM graphs (module docstring)."""
    from resnet_any.bench import sbm

    sizes = _sizes(args.sizes)
    parquet = reader_takes_parquet(tmp)
    wanted = comma_choices(args.modes, MODES, "--modes entry", "--modes")
    modes = [m for m in sampling_modes() if m in wanted]
    log(f"  sbm: files as {'Parquet' if parquet else 'CSV'}; resnet_any sampling modes: {', '.join(modes) or 'full batch only (no --sampling)'}")
    rows = []
    epochs = ["--epochs", str(args.epochs)]
    for size in sizes:
        n = sbm.SIZES[size]
        free = _available_gb()
        if free < MIN_FREE_GB:
            log(f"  sbm {size}: skipped, {free:.1f} GB available (< {MIN_FREE_GB:.0f} GB)")
            rows.append(make_row("graphs", f"sbm {size}", "skipped", free, MIN_FREE_GB, "GB",
                                 note="not run: too little memory available on the shared machine"))
            continue
        t = time.perf_counter()
        graph = sbm.generate(n, signal=SBM_SIGNAL, homophily=SBM_HOMOPHILY, seed=args.seed)
        stats = {"nodes": n, "edges": int(graph.edges.shape[1]), "homophily": round(sbm.edge_homophily(graph), 4)}
        folder = sbm.write(graph, tmp / f"sbm-{size}", parquet)
        del graph
        log(f"  sbm {size}: {stats['edges']:,} edges written in {time.perf_counter() - t:.0f} s")
        plain = measured(_plain(["--folder", str(folder)], epochs), args.timeout)
        ref = _plain_result(plain)
        log(f"  sbm {size} plain PyG: acc {ref['test_accuracy']:.3f}, epoch {ref['epoch_seconds']:.3f} s, "
            f"RSS {plain['rss_mb']:.0f} MB")
        for mode in modes or ["full"]:
            out = tmp / f"run-{size}-{mode}"
            extra = ["--sampling", mode] if modes else []
            try:
                run = measured(_ours(["--dataset", str(folder)], out, epochs + extra), args.timeout, HERE)
            except UserError as e:
                log(f"  sbm {size} {mode}: {e}")
                rows.append(make_row("graphs", f"sbm {size} {mode}", "failed", float("nan"), None, "", note=str(e)))
                continue
            end = _summary(out)
            epoch_s = _epoch_seconds(out)
            log(f"  sbm {size} resnet_any {mode}: acc {end['test_accuracy']:.3f}, epoch {epoch_s:.3f} s, "
                f"RSS {run['rss_mb']:.0f} MB")
            case = f"sbm {size} {'full-batch' if mode == 'full' else 'neighbour sampling'}"
            common = {**stats, "epochs": args.epochs, "files": "parquet" if parquet else "csv"}
            rows += [
                make_row("graphs", case, "test_accuracy", end["test_accuracy"], ref["test_accuracy"], "fraction",
                         note="anchor: plain PyG GCN, same files and epochs", **common),
                make_row("graphs", case, "epoch seconds", epoch_s, ref["epoch_seconds"], "s",
                         note="median from epoch 10: training step + validation", **common),
                make_row("graphs", case, "peak RSS", run["rss_mb"], plain["rss_mb"], "MB",
                         limit=6144.0 if size == "1m" else None, note="whole process, ru_maxrss", **common),
                make_row("graphs", case, "wall seconds", run["wall"], plain["wall"], "s", **common),
            ]
    return rows


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict]:
    """The --parts asked for, in order."""
    parts = comma_choices(args.parts, PARTS, "--parts entry", "--parts")
    comma_choices(args.modes, MODES, "--modes entry", "--modes")  # before any run, not after the Cora rounds
    if args.rounds < 1 or args.epochs < 1:
        raise UserError(f"--rounds and --epochs must be >= 1, got {args.rounds} and {args.epochs}")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="resnet_any_graphs_") as tmp:
        if "sbm" in parts:
            _sizes(args.sizes)  # a bad --sizes fails before the Cora rounds
        if "cora" in parts:
            rows += cora(args, Path(tmp), log)
        if "sbm" in parts:
            rows += sbm_part(args, Path(tmp), log)
    return rows
