"""CheckpointInfo: the typed description load_checkpoint returns, read by attribute and, as before, by key."""
from __future__ import annotations

from pathlib import Path

import torch

from resnet_any.domains.checkpoint_info import CheckpointInfo
from resnet_any.domains.weights import load_checkpoint

SHIPPED = Path(__file__).resolve().parents[1] / "resnet_any" / "assets" / "mnist_resnet.pt"
# the keys (and their order) of the dict load_checkpoint returned before, with "layout" since tasks other than classify
OLD_KEYS = ["domain", "layout", "task", "class_names", "num_classes", "data", "config", "epoch", "best", "model_kwargs",
            "version", "model_class", "split_sizes", "model"]


def test_fields_and_keys_read_the_same() -> None:
    _, meta = load_checkpoint(SHIPPED)
    assert isinstance(meta, CheckpointInfo) and list(meta) == OLD_KEYS
    raw = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    for key in OLD_KEYS[:-1]:
        assert getattr(meta, key) == meta[key] == meta.get(key)
        if key not in ("layout", "task"):
            assert meta[key] == raw.get(key)
    # written before targets other than classes: its "task" held the layout, read as such
    assert (raw["task"], meta.layout, meta.task) == ("classify", "samples", "classify")
    assert meta.model == meta["model"] == raw["model_name"] == "resnet18"
    assert meta.get("no such key", 7) == 7 and "domain" in meta and dict(meta)["domain"] == "image"


def test_an_older_checkpoint_without_newer_entries_still_loads(tmp_path: Path) -> None:
    raw = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    for key in ("split_sizes", "version", "model_class", "task"):
        raw.pop(key, None)
    torch.save(raw, tmp_path / "old.pt")
    _, meta = load_checkpoint(tmp_path / "old.pt")
    assert meta.split_sizes is None and meta.version is None and meta["task"] is None
    assert meta.class_names == raw["class_names"]


def test_a_hand_made_dict_is_accepted_where_a_description_is() -> None:
    from resnet_any.inference.predictor import Predictor

    model, meta = load_checkpoint(SHIPPED)
    pred = Predictor(model, dict(meta))
    assert isinstance(pred.meta, CheckpointInfo) and pred.meta == meta and pred.class_names[0] == "0"


def test_the_dict_operations_callers_used_still_work() -> None:
    """copy, |, item assignment and json (through dict) behave as on the dict load_checkpoint returned before."""
    import json

    _, meta = load_checkpoint(SHIPPED)
    old = dict(meta)  # what the dict was
    copied = meta.copy()
    assert copied == old and isinstance(copied, dict)
    assert (meta | {"extra": 1}) == {**old, "extra": 1} and ({"extra": 1} | meta) == {"extra": 1, **old}
    assert json.loads(json.dumps(dict(meta), default=str))["domain"] == "image"
    meta["epoch"] = 99
    assert meta.epoch == 99 and copied["epoch"] == old["epoch"]
    try:
        meta["not a field"] = 1
    except KeyError:
        pass
    else:
        raise AssertionError("a key that is not a field must be refused")
