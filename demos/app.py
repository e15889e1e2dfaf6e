"""`python demos/app.py [--host 127.0.0.1] [--port 7860] [--runs-dir runs]`: the resnet_any Gradio app, offline."""
from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Sequence

# Set before gradio is imported anywhere: no analytics or version check may reach the network.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# The app downloads nothing: a dataset that is not on disk is an error naming where to put it.
os.environ.setdefault("RESNET_ANY_OFFLINE", "1")
# torch's OpenMP workers wait passively (resnet_any.errors.cli_environment says why)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a plain checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python demos/app.py", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--runs-dir", default="runs", help="where Train writes runs and Classify finds checkpoints")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build and serve the app until interrupted."""
    args = parse_args(argv)
    if "GRADIO_TEMP_DIR" not in os.environ:
        # the app's own temp dir: uploads and rendered images live here and go away with the process
        tmp = tempfile.mkdtemp(prefix="resnet_any-app-")
        os.environ["GRADIO_TEMP_DIR"] = tmp
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        # SIGTERM (kill, CI teardown) must run the atexit cleanup too, as Ctrl-C does
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    from resnet_any.app.ui import build_app, launch
    from resnet_any.errors import UserError

    try:
        demo = build_app(args.runs_dir)
    except (UserError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"resnet_any app: http://{args.host}:{args.port}  (runs dir: {Path(args.runs_dir).resolve()})", flush=True)
    launch(demo, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
