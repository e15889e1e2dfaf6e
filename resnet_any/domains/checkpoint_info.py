"""CheckpointInfo: what a resnet_any checkpoint says about its model and data, as typed fields.

load_checkpoint returns it beside the model; predict, evaluate, explain, export and the app read it. It was
a dict before, read by key in user code and in the toolkit: it still reads that way (meta["domain"],
meta.get("task"), dict(meta), meta.copy(), meta | {...}, meta[key] = value); json.dumps takes dict(meta). A
hand-made dict is accepted wherever it is (CheckpointInfo.of).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(eq=False)
class CheckpointInfo(Mapping):
    """The model and data description of a checkpoint; a field is None where an older checkpoint lacks it."""

    domain: str | None = None                 # image, series, graph, volume
    layout: str | None = None                 # samples; graphs: node or graph (DataSplits.layout)
    task: str | None = None                   # classify, regress or multilabel (DataSplits.task)
    class_names: list[Any] | None = None
    num_classes: int | None = None
    data: dict[str, Any] | None = None        # preprocessing facts (image size, mean/std, channels...): data/ reads it
    config: dict[str, Any] | None = None      # the run's resolved options
    epoch: int | None = None
    best: dict[str, Any] | None = None        # the kept epoch and its score
    model_kwargs: dict[str, Any] | None = None
    version: int | None = None
    model_class: str | None = None            # a user's own model (fit) names its class here
    split_sizes: dict[str, int] | None = None  # samples per split as training held them
    model: str | None = None                  # the registry name, else model_class

    @classmethod
    def from_checkpoint(cls, ckpt: Mapping[str, Any]) -> "CheckpointInfo":
        """The description of a loaded checkpoint dict (any version: missing entries stay None)."""
        info = cls(**{f.name: ckpt.get(f.name) for f in dataclasses.fields(cls) if f.name != "model"})
        info.model = ckpt.get("model_name") or ckpt.get("model_class")
        if info.layout is None and info.task is not None:
            # before targets other than classes (version 1 checkpoints), "task" held the layout
            info.layout = {"classify": "samples"}.get(info.task, info.task)
            info.task = "classify"
        return info

    @classmethod
    def of(cls, meta: "CheckpointInfo | Mapping[str, Any]") -> "CheckpointInfo":
        """`meta` itself, or a dict of the same keys (as load_checkpoint returned before) as a CheckpointInfo."""
        if isinstance(meta, CheckpointInfo):
            return meta
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in meta.items() if k in names})

    # reading by key, as the dict this was: a name that is not a field is a KeyError, as a missing key was
    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str) or key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __setitem__(self, key: str, value: Any) -> None:
        """Set a field by key, as the dict allowed (only the description's own keys exist)."""
        self[key]  # a KeyError for a name that is not a field
        setattr(self, key, value)

    def copy(self) -> dict[str, Any]:
        """A plain dict of the fields, as dict.copy() gave (JSON-able where the values are)."""
        return dict(self)

    def __or__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        return {**self, **other}

    def __ror__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        return {**other, **self}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self) == dict(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dict was

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))
