"""Plan: decides and says. Options plus data become one frozen Plan; every check and every note happens here.

One module per decision, called in order by `make.make_plan`: checks (the options alone, torch-free), resume
(merge a saved run's options), inputs (the data and every data-vs-option check), recipes and derive (the
values a user left unset), hardware (device and precision), model (build, weights, freezing), distribute
(torchrun's processes), notes (what the run says it chose); types holds the Plan itself. Imported lazily:
`make_plan` runs the torch-free checks before anything heavy loads, so a typo fails in a fraction of a second.
"""
from __future__ import annotations

from typing import Any

_FACE = {"make_plan": "make", "with_callbacks": "make", "Plan": "types", "SPLIT_SEED": "inputs",
         "pick_device": "hardware", "check_model_domain": "model"}

__all__ = sorted(_FACE)


def __getattr__(name: str) -> Any:
    """The public names of the plan's modules, imported on first use."""
    if name in _FACE:
        import importlib

        return getattr(importlib.import_module(f"resnet_any.train.plan.{_FACE[name]}"), name)
    raise AttributeError(f"module 'resnet_any.train.plan' has no attribute {name!r}")
