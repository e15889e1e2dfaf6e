"""One `python demos/app.py` per test session (shared by the app tests), on a free loopback port and a temp runs dir.

The app runs as a public demo would: a login (--auth-file with one user per test module, so their rate
limits do not meet, and --auth for one more), a data root, an epoch cap, small upload caps and rate limits.
Its working directory holds `outside/`, a folder beside the data root (not in it) that no answer may reveal.
"""
from __future__ import annotations

import atexit
import http.cookiejar
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 180  # importing torch and gradio on 2 busy cores takes a while
# user -> password; "tester": test_app_api, "guard": test_app_security, "flood": its rate-limit test,
# "browser": test_app_browser; "cli" comes from --auth rather than the file
USERS = {"tester": "pw:tester-1", "guard": "pw-guard-2", "flood": "pw-flood-3", "browser": "pw-browser-4",
         "whole": "pw-whole-5"}
CLI_USER = ("cli", "pw-cli-5")
MAX_EPOCHS = 200
MAX_UPLOAD_MB = 2
CLASSIFY_RATE = 60
TRAIN_RATE = 20


@dataclass
class AppServer:
    """A running app: its URL, runs dir, data root and process."""

    url: str
    runs_dir: Path
    data_root: Path
    outside: Path
    root: Path
    proc: subprocess.Popen
    log: Path
    users: dict[str, str] = field(default_factory=dict)

    def log_tail(self, n: int = 40) -> str:
        """The last lines the app printed, for failure messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def client(self, user: str = "tester", **kw):
        """A gradio_client logged in as `user`, telemetry off."""
        from gradio_client import Client

        return Client(self.url, auth=(user, self.users[user]), verbose=False, analytics_enabled=False,
                      download_files=False, **kw)

    def opener(self, user: str | None = "tester") -> urllib.request.OpenerDirector:
        """A urllib opener holding `user`'s login cookie (None: no login), for raw HTTP requests."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        if user is not None:
            data = urllib.parse.urlencode({"username": user, "password": self.users[user]}).encode()
            with opener.open(f"{self.url}/login", data=data, timeout=30) as r:
                assert r.status == 200, r.status
        return opener


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
    runs, data, outside = root / "runs", root / "data", root / "outside"
    outside.mkdir()
    auth_file = root / "users.txt"
    auth_file.write_text("# test users\n" + "".join(f"{u}:{p}\n" for u, p in USERS.items() if u != "tester")
                         + f"\ntester:{USERS['tester']}\n")
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "RESNET_ANY_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "GRADIO_TEMP_DIR": str(root / "gradio_tmp")}
    log = root / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(REPO / "demos" / "app.py"), "--host", "127.0.0.1",
                                 "--port", str(port), "--runs-dir", str(runs), "--data-root", str(data),
                                 "--auth-file", str(auth_file), "--auth", ":".join(CLI_USER),
                                 "--max-epochs", str(MAX_EPOCHS), "--max-upload-mb", str(MAX_UPLOAD_MB),
                                 "--classify-rate", str(CLASSIFY_RATE), "--train-rate", str(TRAIN_RATE)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    server = AppServer(f"http://127.0.0.1:{port}", runs, data, outside, root, proc, log,
                       {**USERS, CLI_USER[0]: CLI_USER[1]})
    atexit.register(_stop, server)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with code {proc.returncode}:\n{server.log_tail()}")
        try:
            # a login is required: any HTTP answer (401 before logging in) means the server is up
            with urllib.request.urlopen(f"{server.url}/gradio_api/info", timeout=5):
                pass
            _server = server
            return server
        except urllib.error.HTTPError:
            _server = server
            return server
        except OSError:
            pass
        time.sleep(0.5)
    _stop(server)
    raise RuntimeError(f"the app did not answer within {START_TIMEOUT_S}s:\n{server.log_tail()}")
