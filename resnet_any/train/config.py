"""Config files (YAML or JSON) of training options, and the checks on --out that need no torch."""
from __future__ import annotations

import json
from pathlib import Path

from resnet_any.errors import UserError, read_text_file
from resnet_any.train.options import TrainConfig


def load_config_file(path: str | Path) -> TrainConfig:
    """Read a YAML or JSON config file (JSON by .json suffix, YAML otherwise)."""
    p = Path(path)
    text = read_text_file(p, "config file")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # yaml and json raise different types; the message is what matters
        msg = " ".join(str(e).split())
        raise UserError(f"config file {str(p)!r} is not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {msg}") from None
    if data is None:
        data = {}
    return TrainConfig.from_dict(data, source=f"config file {str(p)!r}")


# A directory holds a run worth keeping once it has last.pt; a run stopped before its first checkpoint
# landed left nothing resumable and may be started over (the refusal lists every run file present).
RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl")


def check_out(cfg: TrainConfig) -> None:
    """Refuse a fresh run in a directory holding one, and a --resume without a checkpoint (no torch needed)."""
    if cfg.resume:
        if not cfg.out:
            raise UserError("--resume needs --out DIR: the run directory to continue")
        if not (Path(cfg.out) / "last.pt").is_file():
            raise UserError(f"--resume: no checkpoint {str(Path(cfg.out) / 'last.pt')!r} to continue from (no epoch "
                            "finished there); run without --resume to start afresh")
        return
    if cfg.out is None:
        return
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {str(out)!r} exists and is not a directory")
    present = [f for f in RUN_FILES if (out / f).is_file() and (out / f).stat().st_size > 0]
    # without last.pt there is nothing --resume could continue (a run killed before its first checkpoint
    # landed): refusing a fresh start too would leave the directory unusable
    if "last.pt" in present:
        raise UserError(f"--out {str(out)!r} already holds a run ({', '.join(present)}); add --resume "
                        "to continue it, or choose another --out")
