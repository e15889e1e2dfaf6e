"""Plan: decides and says. Options plus data become one frozen Plan; every check and every note happens here.

One module per decision, called in order by `make.make_plan`: resume (merge a saved run's options),
inputs (the data and every data-vs-option check), recipes and derive (the values a user left unset),
hardware (device and precision), model (build, weights, freezing), notes (what the run says it chose).
Imported lazily: the command line checks flags against recipes.py without loading torch.
"""
from __future__ import annotations

from typing import Any

_FACE = {"make_plan": "make", "with_callbacks": "make", "Plan": "types", "ModelSpec": "types", "SPLIT_SEED": "inputs",
         "pick_device": "hardware", "split_sizes": "state", "check_model_domain": "model", "default_out": "distribute"}

__all__ = sorted(_FACE)


def __getattr__(name: str) -> Any:
    """The public names of the plan's modules, imported on first use."""
    if name in _FACE:
        import importlib

        return getattr(importlib.import_module(f"resnet_any.train.{_FACE[name]}" if _FACE[name] == "state" else f"resnet_any.train.plan.{_FACE[name]}"), name)
    raise AttributeError(f"module 'resnet_any.train.plan' has no attribute {name!r}")
