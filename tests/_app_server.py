"""One `python demos/app.py` per test session (shared by the app tests), on a free loopback port and a temp runs dir."""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 180  # importing torch and gradio on 2 busy cores takes a while


@dataclass
class AppServer:
    """A running app: its URL, runs dir and process."""

    url: str
    runs_dir: Path
    root: Path
    proc: subprocess.Popen
    log: Path

    def log_tail(self, n: int = 40) -> str:
        """The last lines the app printed, for failure messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


_server: AppServer | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(server: AppServer) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=15)
    shutil.rmtree(server.root, ignore_errors=True)


def app_server() -> AppServer:
    """Start the app once (or again, if it died) and wait until its API answers."""
    global _server
    if _server is not None and _server.proc.poll() is None:
        return _server
    root = Path(tempfile.mkdtemp(prefix="resnet_any-apptest-"))
    runs = root / "runs"
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "RESNET_ANY_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "GRADIO_TEMP_DIR": str(root / "gradio_tmp")}
    log = root / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(REPO / "demos" / "app.py"), "--host", "127.0.0.1",
                                 "--port", str(port), "--runs-dir", str(runs)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    server = AppServer(f"http://127.0.0.1:{port}", runs, root, proc, log)
    atexit.register(_stop, server)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with code {proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/gradio_api/info", timeout=5) as r:
                if r.status == 200:
                    _server = server
                    return server
        except OSError:
            pass
        time.sleep(0.5)
    _stop(server)
    raise RuntimeError(f"the app did not answer within {START_TIMEOUT_S}s:\n{server.log_tail()}")
