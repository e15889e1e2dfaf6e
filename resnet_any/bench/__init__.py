"""Benchmarks a user can run: `python -m resnet_any.bench SUITE [options] [--json PATH]`.

Each suite is one small module with `HELP`, `add_arguments(parser)` and `run(args, log) -> rows`;
rows follow `table.make_row` (suite, case, metric, ours, anchor, unit, + extra keys).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from resnet_any.bench.table import format_table, make_row, seeds_row, write_json

# suite name -> module; imported on demand because PyG and aeon take seconds to import
SUITES = ("defaults", "generalize", "speed", "startup", "gpu", "planetoid", "tu", "ucr", "image", "app-load", "explain", "tasks",
          "graphs")

__all__ = ["SUITES", "format_table", "load_suite", "make_row", "seeds_row", "write_json"]


def load_suite(name: str) -> ModuleType:
    """The module of suite `name`."""
    return importlib.import_module(f"resnet_any.bench.{name.replace('-', '_')}")
