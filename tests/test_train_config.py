"""Config precedence (recipe < file < flags), validation and recipe resolution."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from resnet_any.errors import UserError
from resnet_any.train.cli import config_from_args
from resnet_any.train.config import load_config_file
from resnet_any.train.options import TrainConfig, validate
from resnet_any.train.plan.recipes import BASE, DATASET_RECIPES, TASK_RECIPES, resolve


def test_flags_override_file_and_file_overrides_recipe(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("domain: image\nlr: 0.1\nepochs: 3\nbatch-size: 32\nmodel_kwargs: {zero_init_residual: true}\n")
    cfg = config_from_args(["--config", str(f), "--lr", "0.5", "--model-kwargs", '{"attn": "se"}'])
    assert cfg.lr == 0.5 and cfg.epochs == 3 and cfg.batch_size == 32 and cfg.domain == "image"
    assert cfg.model_kwargs == {"zero_init_residual": True, "attn": "se"}
    resolved = resolve(cfg, "samples", "digits", image_size=8)
    recipe = {**TASK_RECIPES[("image", "samples")], **DATASET_RECIPES[("image", "digits")]}
    assert recipe["lr"] != 0.5 and recipe["epochs"] != 3
    assert resolved.lr == 0.5 and resolved.epochs == 3  # not the recipe's
    assert resolved.optimizer == recipe["optimizer"] and resolved.weight_decay == recipe["weight_decay"]
    assert resolved.model_kwargs["width"] == recipe["model_kwargs"]["width"]
    assert resolved.workers == BASE["workers"]
    assert resolved.model_kwargs["stem"] == "cifar" and resolved.model_kwargs["attn"] == "se"


def test_json_config_and_boolean_flags(tmp_path: Path) -> None:
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"domain": "series", "channels_last": True, "quiet": True}))
    assert load_config_file(f).channels_last is True
    cfg = config_from_args(["--config", str(f), "--no-channels-last"])
    assert cfg.channels_last is False and cfg.quiet is True and cfg.domain == "series"


@pytest.mark.parametrize("text, match", [
    ("lr: 0.1\nlearning_rate: 0.2\n", "unknown key 'learning_rate'"),
    ("[1, 2]\n", "must be a mapping"),
    ("lr: [unclosed\n", "not valid YAML"),
])
def test_bad_config_files(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(UserError, match=match):
        config_from_args(["--config", str(f)])


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "--epochs must be >= 1"),
    (dict(lr=0.0), "--lr must be > 0"),
    (dict(lr=-1.0), "--lr must be > 0"),
    (dict(batch_size=0), "--batch-size must be >= 1"),
    (dict(optimizer="lamb"), "unknown --optimizer 'lamb'; valid: sgd, adam, adamw"),
    (dict(schedule="linear"), "unknown --schedule"),
    (dict(amp="fp8"), "unknown --amp"),
    (dict(label_smoothing=1.0), "--label-smoothing must be in"),
    (dict(epochs=2.5), "--epochs must be an integer"),
    (dict(device="tpu"), "unknown --device"),
])
def test_validation_names_the_bad_value(kwargs: dict, match: str) -> None:
    with pytest.raises(UserError, match=match):
        validate(TrainConfig(**kwargs))


def test_recipe_overrides_map_onto_the_model() -> None:
    cfg = resolve(TrainConfig(domain="image", depth=34, width=8, attn="se", drop_path=0.1), "samples", "digits", 8)
    assert cfg.model == "resnet34"
    assert cfg.model_kwargs == {"stem": "cifar", "width": 8, "attn": "se", "drop_path_rate": 0.1}
    with pytest.raises(UserError, match="--depth 7 is not available for resnet; valid: 18, 34, 50, 101, 152"):
        resolve(TrainConfig(domain="image", depth=7), "samples", "digits")
    graph = resolve(TrainConfig(domain="graph", depth=4, width=32), "node", "cora")
    assert graph.model == "gcn_resnet" and graph.model_kwargs["depth"] == 4 and graph.model_kwargs["width"] == 32
    # the digits recipe's model_kwargs are for its own model; another model starts from its defaults
    other = resolve(TrainConfig(domain="image", model="preact_resnet18"), "samples", "cifar10", 224)
    assert other.model_kwargs == {"stem": "imagenet"}
    with pytest.raises(UserError, match="unknown domain 'audio'; valid: image, series, graph, volume"):
        resolve(TrainConfig(domain="audio"), "samples", "digits")
