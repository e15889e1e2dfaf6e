"""`python demos/app.py [--host 127.0.0.1] [--port 7860] [--runs-dir runs] [--data-root DIR] [--auth-file FILE]`:
the resnet_any Gradio app, offline.

The Train tab reads only the data root (and the embedded dataset names); uploads go there. On a network,
give a login (--auth or --auth-file): the README's "The Gradio app" says what the app guarantees.
"""
from __future__ import annotations

import argparse
import atexit
import ipaddress
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

# Set before gradio is imported anywhere: no analytics or version check may reach the network.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# The app downloads nothing: a dataset that is not on disk is an error naming where to put it.
os.environ.setdefault("RESNET_ANY_OFFLINE", "1")
# torch's OpenMP workers wait passively (resnet_any.errors.cli_environment says why)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a plain checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

DEFAULT_MAX_EPOCHS = 200
DEFAULT_MAX_UPLOAD_MB = 10
DEFAULT_MAX_UPLOADS_MB = 2048
DEFAULT_CLASSIFY_RATE = 120
DEFAULT_TRAIN_RATE = 10


def _at_least(low: int, hint: str = "") -> "Callable[[str], int]":
    """An argparse type: a whole number >= low (`hint` says what the low end means)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number{hint}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a number >= {low}{hint}, got {value}")
        return value

    return parse


_positive = _at_least(1)
_rate = _at_least(0, " (0: no limit)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python demos/app.py", description="The resnet_any Gradio app, offline. "
                                + __doc__.split("\n\n", 1)[1].strip())
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--runs-dir", default="runs", help="where Train writes runs and Classify finds checkpoints")
    p.add_argument("--data-root", help="the only folder the Train tab reads datasets from (paths typed in the app "
                   "are relative to it) and where uploads go; default: a data/ folder beside the runs dir, created")
    p.add_argument("--auth", action="append", default=[], metavar="USER:PASSWORD",
                   help="require a login (repeatable, one per user); the password is visible in the process list, "
                   "so prefer --auth-file")
    p.add_argument("--auth-file", metavar="FILE", help="require a login: one USER:PASSWORD per line (blank lines and "
                   "lines starting with # are skipped)")
    p.add_argument("--max-epochs", type=_positive, default=DEFAULT_MAX_EPOCHS,
                   help=f"the most epochs a training job may ask for (default {DEFAULT_MAX_EPOCHS})")
    p.add_argument("--max-upload-mb", type=_positive, default=DEFAULT_MAX_UPLOAD_MB,
                   help=f"the most one dataset upload may add to the data root: the file, and a zip's extracted "
                   f"files (default {DEFAULT_MAX_UPLOAD_MB})")
    p.add_argument("--max-uploads-mb", type=_positive, default=DEFAULT_MAX_UPLOADS_MB,
                   help=f"the most all uploads together may hold in the data root (default {DEFAULT_MAX_UPLOADS_MB})")
    p.add_argument("--classify-rate", type=_rate, default=DEFAULT_CLASSIFY_RATE,
                   help=f"classify requests a user (or address, without a login) may make a minute; 0: no limit "
                   f"(default {DEFAULT_CLASSIFY_RATE})")
    p.add_argument("--train-rate", type=_rate, default=DEFAULT_TRAIN_RATE,
                   help=f"training requests, and dataset uploads, a user (or address) may make a minute; 0: no "
                   f"limit (default {DEFAULT_TRAIN_RATE})")
    return p.parse_args(argv)


def _credential(text: str, where: str) -> tuple[str, str]:
    """("user", "password") from "user:password" (the password may hold ':'); never echoes the password."""
    user, sep, password = text.partition(":")
    user = user.strip()
    if not sep or not user or not password:
        raise ValueError(f"{where}: expected USER:PASSWORD with both parts non-empty")
    return user, password


def credentials(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Every USER:PASSWORD of --auth and --auth-file, or a ValueError naming the flag or the file's line."""
    out = [_credential(a, f"--auth #{i}") for i, a in enumerate(args.auth, 1)]
    if args.auth_file:
        try:
            lines = Path(args.auth_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read --auth-file {args.auth_file!r}: {type(e).__name__}") from None
        for n, line in enumerate(lines, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                out.append(_credential(line.rstrip("\r\n"), f"--auth-file line {n}"))
        if not out:
            raise ValueError(f"--auth-file {args.auth_file!r} holds no USER:PASSWORD line")
    users = [u for u, _ in out]
    if len(set(users)) != len(users):
        raise ValueError("a user name is given twice in --auth/--auth-file")
    return out


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _log_to_stderr() -> None:
    """The app's own log (refusals with their full text, failures with tracebacks) on stderr: the operator's view."""
    logger = logging.getLogger("resnet_any.app")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Build and serve the app until interrupted."""
    args = parse_args(argv)
    try:
        auth = credentials(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if "GRADIO_TEMP_DIR" not in os.environ:
        # the app's own temp dir: uploads and rendered images live here and go away with the process
        tmp = tempfile.mkdtemp(prefix="resnet_any-app-")
        os.environ["GRADIO_TEMP_DIR"] = tmp
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        # SIGTERM (kill, CI teardown) must run the atexit cleanup too, as Ctrl-C does
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    from resnet_any.app.layout import build_app, default_data_root, launch
    from resnet_any.errors import UserError

    data_root = Path(args.data_root).expanduser().resolve() if args.data_root else default_data_root(args.runs_dir)
    try:
        demo = build_app(args.runs_dir, data_root=data_root, max_epochs=args.max_epochs,
                         max_upload_mb=args.max_upload_mb, max_uploads_mb=args.max_uploads_mb,
                         classify_per_minute=args.classify_rate or None, train_per_minute=args.train_rate or None)
    except (UserError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not auth and not is_loopback(args.host):
        print(f"warning: serving on {args.host} without a login: anyone who can reach port {args.port} can train on "
              f"this machine and upload data; add --auth-file FILE (or --auth USER:PASSWORD)", file=sys.stderr,
              flush=True)
    _log_to_stderr()
    print(f"resnet_any app: http://{args.host}:{args.port}  (runs dir: {Path(args.runs_dir).resolve()}, data root: "
          f"{data_root}{', login required' if auth else ''})", flush=True)
    launch(demo, host=args.host, port=args.port, auth=auth, max_upload_mb=args.max_upload_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
