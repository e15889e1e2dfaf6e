"""The model a run trains: a registry model (its domain checked, ImageNet weights found) or the user's, built once."""
from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from resnet_any.data.base import DataSplits
from resnet_any.errors import UserError
from resnet_any.train.options import RunConfig, TrainConfig
from resnet_any.train.plan import recipes
from resnet_any.train.plan.types import ModelSpec
from resnet_any.train.state import seed_everything


def check_model_domain(model: str, domain: str) -> None:
    """Raise a UserError unless `model` is a registered model of `domain` (listing those that are)."""
    from resnet_any.domains import list_models, model_domain

    if model_domain(model) != domain:
        raise UserError(f"model {model!r} is a {model_domain(model)} model, not {domain}; "
                        f"valid: {', '.join(list_models(domain))}", public=True)


def class_path(model: nn.Module) -> str:
    """"module.QualifiedName" of a model's class."""
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def pretrained_model(cfg: TrainConfig, domain: str, own: nn.Module | None, recorded: str | None) -> str:
    """The registry model whose ImageNet weights --pretrained loads, known before the data (their crop sizes it)."""
    from resnet_any.domains.pretrained import MODELS, weights_file, weights_of

    if own is not None:
        raise UserError("--pretrained loads torchvision's weights into a registry model; this run trains your own "
                        "model: load its weights into it yourself")
    if cfg.init:
        raise UserError("--pretrained and --init both set the initial weights; give one of them")
    if cfg.resume or domain != "image":
        name = cfg.model
    else:
        from resnet_any.data import default_dataset

        # the recipe's model (with --depth applied); data-derived values never change which model it is
        name = recipes.resolve(cfg, "samples", cfg.dataset or default_dataset(domain), recorded=recorded).model
    if name is None:
        raise UserError(f"--pretrained: {domain} models have no published ImageNet weights; models with them: "
                        f"{', '.join(MODELS)}")
    # a resumed run's weights come from last.pt; a fresh one needs the file (its channels are checked at build)
    if cfg.resume:
        weights_of(name)
    else:
        weights_file(name)
    return name


def weights_image_size(name: str) -> int:
    """The image size `name`'s ImageNet weights were trained at (their crop)."""
    from resnet_any.domains.pretrained import preprocessing

    return preprocessing(name, 3)["image_size"]


def weights_preprocessing(splits: DataSplits, name: str) -> DataSplits:
    """The data standardised as `name`'s weights were trained: their mean/std replace the data's."""
    from resnet_any.domains.pretrained import preprocessing

    if "mean" not in splits.meta:  # float images given to fit are not standardised by the task: theirs to do
        return splits
    pre = preprocessing(name, splits.in_channels)
    return dataclasses.replace(splits, meta={**splits.meta, "mean": pre["mean"], "std": pre["std"]})


def build(config: RunConfig, splits: DataSplits, device: torch.device,
          own: nn.Module | None) -> tuple[nn.Module, ModelSpec, dict[str, Any] | None]:
    """The registry model the config names (or the user's own), seeded, initialised, frozen as asked, on the device.

    The memory format is set later, once precision and channels_last are resolved (hardware.precision).
    """
    seed_everything(config.seed)
    if own is None:
        from resnet_any.domains import create_model

        kwargs = {**config.model_kwargs, "num_classes": splits.num_classes, "in_channels": splits.in_channels}
        # a resumed run's weights come from last.pt, not the weights file
        model = create_model(config.model, pretrained=config.pretrained and not config.resume, **kwargs)
        spec = ModelSpec(config.model, kwargs, class_path(model))
    else:
        model, spec = own, ModelSpec(None, {}, class_path(own))
    head = getattr(model, "fc", None)
    if own is None and not isinstance(head, nn.Linear):
        raise UserError(f"model {config.model!r} has no `fc` classifier; cannot train it here")
    report = None
    if config.init and not config.resume:
        from resnet_any.domains.weights import init_from

        report = init_from(model, config.init)
    if config.freeze_backbone:
        if not isinstance(head, nn.Module):
            raise UserError(f"--freeze-backbone trains only `model.fc`, and {spec.cls} has no `fc` module")
        for p in model.parameters():
            p.requires_grad_(False)
        for p in head.parameters():
            p.requires_grad_(True)
    return model.to(device), spec, report
