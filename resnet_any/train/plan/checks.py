"""The checks an option needs no data for, torch-free: they run first, so a typo fails in a fraction of a second."""
from __future__ import annotations

from resnet_any.train.config import check_out
from resnet_any.train.options import TrainConfig, validate
from resnet_any.train.plan.recipes import check_domain


def check_options(options: TrainConfig, *, has_data: bool = False, has_model: bool = False) -> None:
    """Every value in range, --out usable, and a domain named where nothing else can tell it (no data, no path)."""
    validate(options)
    check_out(options)
    if not (options.resume or options.dataset or has_data or has_model):
        check_domain(options.domain)
