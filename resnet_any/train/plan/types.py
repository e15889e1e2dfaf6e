"""The Plan: a run fully resolved and frozen. What make_plan returns and the run reads, never changes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_any.data.base import DataSplits
from resnet_any.train import distributed
from resnet_any.train.options import RunConfig
from resnet_any.train.plan import hardware


@dataclass(frozen=True)
class ModelSpec:
    """How the model is rebuilt from a checkpoint: a registry name and its arguments, or a user's class."""

    name: str | None          # registry name; None for a model the user built
    kwargs: dict[str, Any]    # the registry builder's arguments (num_classes and in_channels included)
    cls: str                  # "module.QualifiedName" of the model's class, for messages


@dataclass(frozen=True)
class Plan:
    """A run, fully resolved: every option, the data, the model on its device, where it writes, what it resumes.

    Frozen: the run owns what changes (the model's weights, the optimizer, the data order), never the Plan.
    """

    config: RunConfig
    splits: DataSplits
    model: nn.Module                 # the bare model (no DDP/compile wrapper), seeded and initialised
    model_spec: ModelSpec
    device: torch.device
    dist: distributed.DistInfo
    out: Path
    batch_size: int                  # this process's batch: the global batch over the processes, clamped to the data
    resume_from: Path | None         # last.pt to continue from (read again by the run, which loads its tensors)
    init_report: dict[str, Any] | None
    has_test: bool                   # a non-empty test split to score the kept epoch on
    owns_group: bool                 # this run joined the torchrun process group and leaves it at the end
    notes: tuple[str, ...] = ()      # choices made for the user, said once and recorded in summary.json
    # the epochs the rules (or a published recipe) would run where the user's --epochs replaced them; None when
    # the user left epochs alone or no rule derives them (graphs). Health warns a short, weak try with it
    epoch_budget: int | None = None
    class_weights: tuple[float, ...] | None = None   # --class-weights auto: the loss weight of each class
    param_groups: list[dict[str, Any]] | None = None  # a callback's optimizer groups, else one group per rule

    @property
    def selects_on_val(self) -> bool:
        """Whether the best epoch is chosen on a validation split (else on training loss, with none held out)."""
        return self.config.select != "train_loss"

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for full precision."""
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.config.amp)

    @property
    def channels_last(self) -> bool:
        """channels_last applies to image batches (4-D) only."""
        return bool(self.config.channels_last) and self.config.domain == "image"

    @property
    def precision(self) -> str:
        """The run's precision and memory format in words, for its first line."""
        return hardware.describe(self.config.amp, self.channels_last, self.config.domain, self.device)
