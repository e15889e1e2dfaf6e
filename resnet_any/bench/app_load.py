"""app-load: concurrent /classify clients against the Gradio app while a training job runs."""
from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from resnet_any.bench.table import make_row
from resnet_any.errors import UserError

HELP = "classify latency and failures under N concurrent clients while the app trains (loopback only)"
START_TIMEOUT_S = 180


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Suite options."""
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--requests", type=int, default=20, help="/classify requests per client (default 20)")
    p.add_argument("--url", help="an app already running on this machine (default: start one on loopback)")
    p.add_argument("--no-train", action="store_true", help="do not start a training job during the load")
    p.add_argument("--quick", action="store_true", help="4 clients x 3 requests")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_app(root: Path) -> tuple[str, subprocess.Popen]:
    """Start the app on a free loopback port with a temporary runs dir; wait until its API answers."""
    port = _free_port()
    code = ("import sys; from resnet_any.app.layout import build_app, launch; "
            f"launch(build_app({str(root / 'runs')!r}), host='127.0.0.1', port={port})")
    import resnet_any

    # the child must import this very copy of resnet_any, installed or not
    package_parent = str(Path(resnet_any.__file__).resolve().parents[1])
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "RESNET_ANY_OFFLINE": "1",
           "GRADIO_TEMP_DIR": str(root / "tmp"),
           "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    log = open(root / "app.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"the app exited with code {proc.returncode}; see {root / 'app.log'}")
        try:
            with urllib.request.urlopen(f"{url}/gradio_api/info", timeout=5):
                return url, proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise UserError(f"the app did not answer within {START_TIMEOUT_S} s")


def _digit_png(root: Path) -> Path:
    """A real handwritten digit (scikit-learn's embedded set) as a PNG file."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    path = root / "digit.png"
    Image.fromarray((digits.images[0] * 255 / 16).astype("uint8")).resize((28, 28)).save(path)
    return path


def _big_upload_refused(url: str, size_mb: int = 50) -> bool:
    """POST a 50 MB file to the upload route; True when the server refuses it."""
    boundary = "resnetanyboundary"
    body = io.BytesIO()
    body.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.png\"\r\n"
               "Content-Type: image/png\r\n\r\n".encode())
    body.write(b"\0" * (size_mb * 1024 * 1024))
    body.write(f"\r\n--{boundary}--\r\n".encode())
    req = urllib.request.Request(f"{url}/gradio_api/upload", data=body.getvalue(), method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status >= 400
    except urllib.error.HTTPError as e:
        return e.code >= 400
    except OSError:
        return True  # the server closed the connection on an oversized body: refused


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Measure /classify p50/p95 latency and failures under concurrent load during training."""
    from gradio_client import Client, handle_file

    clients, requests = (4, 3) if args.quick else (args.clients, args.requests)
    if clients < 1 or requests < 1:
        raise UserError(f"--clients and --requests must be >= 1, got {clients} and {requests}")
    root = Path(tempfile.mkdtemp(prefix="resnet_any-appload-"))
    proc = None
    url = args.url
    if url is None:
        log("starting the app on loopback ...")
        url, proc = _start_app(root)
    try:
        image = _digit_png(root)
        trainer = None
        if not args.no_train:
            trainer = Client(url, verbose=False).submit(epochs=1000, width=8, api_name="/train")
            time.sleep(2.0)  # let the job get going so the load meets a busy server

        def one_client(_: int) -> list[tuple[float, bool]]:
            client = Client(url, verbose=False)
            out = []
            for _ in range(requests):
                t0 = time.perf_counter()
                try:
                    ok = "label" in client.predict(handle_file(str(image)), api_name="/classify")
                except Exception:  # any failure counts; the figure is the count
                    ok = False
                out.append((time.perf_counter() - t0, ok))
            return out

        log(f"{clients} clients x {requests} /classify requests ...")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = [r for rs in pool.map(one_client, range(clients)) for r in rs]
        wall = time.perf_counter() - t0
        training = trainer is not None and not trainer.done()
        if trainer is not None:
            trainer.cancel()
        refused = _big_upload_refused(url)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    latencies = sorted(t for t, _ in results)
    failures = sum(not ok for _, ok in results)
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    case = f"{clients}x{requests}{' +train' if trainer is not None else ''}"
    note = {"training_during_load": training}
    return [
        make_row("app-load", case, "failures", failures, 0, "count", goal_max=0, **note),
        make_row("app-load", case, "p50_latency", statistics.median(latencies), None, "s", **note),
        make_row("app-load", case, "p95_latency", p95, None, "s", **note),
        make_row("app-load", case, "throughput", len(results) / wall, None, "req/s", **note),
        make_row("app-load", "upload 50 MB", "refused", float(refused), 1, "bool"),
    ]
