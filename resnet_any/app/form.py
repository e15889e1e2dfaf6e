"""The Train tab's form values as a TrainConfig, without gradio: what a browser or an API client sent, checked.

A field left empty (None, "") is an option not set: the trainer's plan resolves it exactly as for the command
line (recipes, derived rules). The quick values the page shows before the user changes anything come from
`resnet_any.train.plan.recipes.QUICK_RECIPES`, the one table of them.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from resnet_any.app.dataroot import DataRoot, resolve_dataset
from resnet_any.app.jobs import new_run_dir
from resnet_any.app.messages import PublicError
from resnet_any.errors import UserError

DOMAINS = ("image", "series", "graph")
# Sizes a job may ask for: far above any recipe, far below what would exhaust the server's memory.
MAX_WIDTH = 1024
MAX_BATCH = 4096


def quick_recipe(domain: str) -> dict[str, Any]:
    """The quick recipe of `domain` (image for an unknown one): what the page's fields hold before any change."""
    from resnet_any.train.plan.recipes import QUICK_RECIPES

    return dict(QUICK_RECIPES.get(domain, QUICK_RECIPES["image"]))


def width_info(domain: str) -> str:
    """What the width field's value means, for the domain's quick recipe."""
    return f"first-stage channels: {quick_recipe(domain)['width']} = this quick preset, 0 = the recipe's"


def whole_number(name: str, value: Any, minimum: int, maximum: int | None = None) -> int | None:
    """An integer input (API clients may send 5.0), None when empty; a PublicError otherwise."""
    if value is None or value == "":
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or float(value) != int(value)):
        raise PublicError(f"{name} must be a whole number, got {str(value)[:40]!r}")
    if int(value) < minimum:
        raise PublicError(f"{name} must be >= {minimum}, got {int(value)}")
    if maximum is not None and int(value) > maximum:
        raise PublicError(f"{name} must be <= {maximum} on this server, got {int(value)}")
    return int(value)


def names_only(dataset: str) -> None:
    """Without a data root nothing is read by path: refuse anything that is not a plain name."""
    if dataset and ("/" in dataset or "\\" in dataset or "." in dataset or "~" in dataset
                    or any(ord(c) < 32 for c in dataset)):
        raise PublicError("this app trains on dataset names only (it has no data root); a path to files is not "
                       "accepted here")


def make_config(runs_dir: Path, domain: str, dataset: str | None, data_dir: str | None, model: str | None,
                width: Any, epochs: Any, batch_size: Any, lr: Any, optimizer: str | None, amp: str | None, *,
                root: DataRoot | None = None, max_epochs: int | None = None) -> Any:
    """The Train tab's inputs as a TrainConfig writing into a new run dir under runs_dir; a PublicError (or a
    DataError of an image manifest) when they are not acceptable.

    Paths (dataset, data dir) are relative to `root` and must stay inside it (dataroot.resolve_dataset);
    without a root only dataset names are accepted. Options are validated here, before a job is queued.
    Empty inputs stay None (not set), so the plan derives them as on the command line; `max_epochs` bounds the
    epochs asked for here, and jobs.TrainJob bounds derived ones.
    """
    from resnet_any.data import list_datasets
    from resnet_any.train import TrainConfig
    from resnet_any.train.options import validate
    from resnet_any.train.plan import check_model_domain

    if not isinstance(domain, str) or domain not in DOMAINS:
        raise PublicError(f"unknown domain {str(domain)[:40]!r}; valid: {', '.join(DOMAINS)}")
    for name, text in (("dataset", dataset), ("data dir", data_dir), ("model", model), ("optimizer", optimizer),
                       ("AMP", amp)):
        if text is not None and not isinstance(text, str):
            raise PublicError(f"{name} must be text")
    if root is None:
        names_only((dataset or "").strip())
        if (data_dir or "").strip():
            raise PublicError("this app has no data root, so it takes no data dir")
        dataset, data_dir = (dataset or "").strip() or None, None
    else:
        dataset, data_dir = resolve_dataset(root, domain, dataset, data_dir, list_datasets(domain))
    w = whole_number("width", width, 0, MAX_WIDTH)
    n_epochs = whole_number("epochs", epochs, 1, max_epochs)
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))):
        raise PublicError(f"learning rate must be a number, got {str(lr)[:40]!r}")
    config = TrainConfig(domain=domain, dataset=dataset, data_dir=data_dir,
                         model=(model or "").strip() or None, width=w or None, epochs=n_epochs,
                         batch_size=whole_number("batch size", batch_size, 1, MAX_BATCH),
                         lr=None if lr is None else float(lr), optimizer=optimizer or None, amp=amp or None,
                         quiet=True, out=str(new_run_dir(runs_dir, domain)))
    try:
        validate(config)
        if config.model is not None:
            check_model_domain(config.model, domain)
    except PublicError:
        raise
    except UserError as e:  # an option's message names the option and the value the user sent
        raise PublicError(" ".join(str(e).split())) from None
    return config
