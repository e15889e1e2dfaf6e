"""--resume: the saved run's options merged with the few a resume may change, and its data recognised."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from resnet_any.data.base import DataSplits
from resnet_any.errors import UserError
from resnet_any.files import is_resnet_any, read_checkpoint
from resnet_any.train.options import OPTIONS, RESUME_MUTABLE, RunConfig, TrainConfig
from resnet_any.train.plan import recipes
from resnet_any.train.state import split_sizes


def saved_options(cfg: TrainConfig) -> tuple[TrainConfig, dict[str, Any]]:
    """(the saved run's options with the ones a resume may change applied, its last.pt); refuses any other change."""
    path = Path(cfg.out) / "last.pt"
    ckpt = read_checkpoint(path)
    if not is_resnet_any(ckpt):
        raise UserError(f"--resume: {str(path)!r} is not a resnet_any checkpoint")
    saved = TrainConfig.from_dict(ckpt["config"], source=f"config in {str(path)!r}")
    from resnet_any.train.run.selection import for_task
    for key, value in cfg.explicit().items():
        if key in RESUME_MUTABLE:
            continue
        old = getattr(saved, key)
        same = (_same_dataset(value, old, saved.domain, saved.data_dir) if key == "dataset" else
                # the plan saved "val" as the task's own metric (val_rmse for a regression)
                old == for_task(value, saved.task or "classify") if key == "select" and value == "val" else
                all(old.get(k) == v for k, v in value.items()) if isinstance(value, dict) and isinstance(old, dict)
                else value == old)
        if not same:
            raise UserError(f"--{key.replace('_', '-')} cannot change on --resume (the run in {cfg.out} "
                            f"used {old!r}); start a fresh run with another --out instead")
    return saved.merged({k: v for k, v in cfg.explicit().items() if k in RESUME_MUTABLE and k != "init"}), ckpt


def _same_dataset(given: str, saved: Any, domain: str | None, data_dir: str | None) -> bool:
    """Whether a resumed run names the saved dataset: a path by where it points, a name case-insensitively."""
    from resnet_any.data import dataset_path

    path = dataset_path(domain, given, data_dir) if domain else None
    if path is not None:
        return str(path.resolve()) == str(saved)
    return given.lower() == str(saved).lower()


def resumed_config(saved: dict[str, Any], cfg: TrainConfig, out: Path) -> RunConfig:
    """The saved run's resolved options with the ones a resume may change applied (no recipe is re-read).

    Resolving again would let a recipe changed since the run was saved leak into its model; options a
    checkpoint from an older version lacks take their defaults.
    """
    values = {**recipes.BASE, **saved}
    values.update({k: v for k, v in cfg.explicit().items() if k in RESUME_MUTABLE and k != "init"})
    values.update(out=str(out), resume=True)
    unknown = [o.name for o in OPTIONS if o.name not in values]
    if unknown:
        raise UserError(f"--resume: the checkpoint's config lacks {', '.join(unknown)}; it is not resumable")
    return RunConfig(**{o.name: values[o.name] for o in OPTIONS})


def check_data(ckpt: dict[str, Any], splits: DataSplits) -> None:
    """Refuse a resume whose data is not the run's: other classes, or other split sizes (files changed)."""
    from resnet_any.data.tables import list_names

    names = [str(c) for c in ckpt.get("class_names", [])]
    if names and names != [str(c) for c in splits.class_names]:
        raise UserError(f"--resume: the data's classes {list_names(splits.class_names)} are not the run's "
                        f"{list_names(names)}; resume with the run's data")
    saved = ckpt.get("split_sizes")
    now = split_sizes(splits)
    if saved and saved != now:
        diff = next(k for k in now if saved.get(k) != now[k])
        raise UserError(f"--resume: the data's {diff} split holds {now[diff]} samples, the run's held {saved.get(diff)}; "
                        "resume with the run's data and val_fraction")
