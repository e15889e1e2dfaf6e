"""Default recipes per domain, task and dataset: what `python -m resnet_any.train --domain D` runs.

Precedence, lowest first: BASE < TASK_RECIPES[(domain, task)] < DATASET_RECIPES[(domain, dataset)]
< config file < CLI flags (or `fit` keywords). The digits, GunPoint and Cora recipes are tuned to reach
issue 3's figures on 2 CPU cores (digits >= 98% test accuracy in 120 s, GunPoint >= 97% in 120 s, Cora
>= 80% in 60 s; Cora's is GCNII's published one at 4 layers). The CLI, the app and the
benchmarks all resolve their runs here, so each recipe exists once.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from resnet_any.errors import UserError
from resnet_any.train.options import DEFAULTS, OPTIONS, RunConfig, TrainConfig

# Every option's value when no recipe, file or flag sets it: the options' own defaults (options.py).
BASE: dict[str, Any] = dict(DEFAULTS)
# what a recipe may set for a model it did not build (a user's own nn.Module): how to train, not what to build
TRAINING_KEYS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "schedule", "warmup_epochs",
                 "label_smoothing")

# keyed by (domain, layout) where layout is DataSplits.layout: samples, node or graph
TASK_RECIPES: dict[tuple[str, str], dict[str, Any]] = {
    ("image", "samples"): dict(model="resnet18", epochs=30, batch_size=128, optimizer="sgd", lr=0.1,
                                weight_decay=5e-4, schedule="warmup_cosine", warmup_epochs=1,
                                label_smoothing=0.1),
    ("series", "samples"): dict(model="series_resnet", epochs=200, batch_size=16, optimizer="adam", lr=1e-3,
                                 schedule="cosine"),
    # any graph without a published recipe: a 2-convolution GCN ResNet (GCN stem + one residual GCN block,
    # width 64, dropout 0.5, no norm). On the generalize panel's Cora-shaped graphs (3,703 noisy words, a
    # random split, 60% of the edges, 3 classes) it stays within about a point of a 2-layer GCN, where GCNII
    # at 4 layers tuned on Cora's public split fell 2-8 points below it (README, "Citation graphs").
    # BatchNorm over the nodes of one graph generalises badly in eval mode: none here
    ("graph", "node"): dict(model="gcn_resnet", model_kwargs=dict(style="res", norm="none", depth=2,
                                                                  hidden_channels=64, dropout=0.5,
                                                                  input_dropout=0.5),
                            epochs=300, batch_size=1, optimizer="adam", lr=0.01, weight_decay=5e-4,
                            schedule="none"),
    # graph classification: GIN's recipe (Xu et al. 2019) on the residual blocks: 5 convolutions (GIN's 5 layers count
    # the input: 4 GINConv), sum readout of every layer's sum-pooled nodes (jk), width 64, Adam 0.01 halved every
    # 50 of 350 epochs; batch, epochs, the halving step and selection come from the data (derive.py, graph block)
    ("graph", "graph"): dict(model="gin_resnet", model_kwargs=dict(style="res+", norm="batch", depth=5,
                                                                   hidden_channels=64, dropout=0.5),
                             epochs=350, batch_size=32, optimizer="adam", lr=0.01, schedule="step", step_size=50,
                             gamma=0.5),
    # volumes are few and large: small batches; AdamW needs no per-set learning-rate search
    ("volume", "samples"): dict(model="resnet3d18", epochs=30, batch_size=16, optimizer="adamw", lr=1e-3,
                                 weight_decay=1e-4, schedule="cosine"),
}
# For data of a shape no domain names (a user's own model and tensors through fit): training only.
GENERIC_TASK_RECIPES: dict[str, dict[str, Any]] = {
    "samples": dict(epochs=30, batch_size=64, optimizer="adamw", lr=1e-3, schedule="cosine"),
    "node": dict(epochs=200, batch_size=1, optimizer="adam", lr=0.01, weight_decay=5e-4, schedule="none"),
    "graph": dict(epochs=100, batch_size=32, optimizer="adam", lr=1e-3, schedule="cosine"),
}

# keyed by (domain, dataset name in lower case); model_kwargs here apply only to the recipe's model
DATASET_RECIPES: dict[tuple[str, str], dict[str, Any]] = {
    # 8x8 digits: width 32 reaches 98.9% test at seed 0 (97.8-98.9% over seeds 0-3) in 20 epochs
    # (tuned without mixup and with validation selection: the derived rules' mixup 0.2 costs it 1.4 points at 20
    # epochs, their select train_loss 1.1: 0.978)
    ("image", "digits"): dict(model_kwargs=dict(width=32), epochs=20, batch_size=64, lr=0.05, mixup=0.0,
                              select="val"),
    ("image", "mnist"): dict(epochs=5, batch_size=128, model_kwargs=dict(width=32)),
    # Wang et al.'s width 64 needs ~1 s an epoch here; width 16 reaches 99-100% in 200 epochs
    ("series", "gunpoint"): dict(model_kwargs=dict(width=16), lr=3e-3),
    # Cora's public split: GCNII's residual (initial residual + identity mapping, Chen et al. 2020) with its
    # published Cora recipe (dropout 0.6, decay 0.01 on convolutions, 5e-4 on the dense stem and head), cut
    # to 4 convolutions for time: 84.0% at seed 0. CiteSeer and PubMed get the default: GCNII's paper puts
    # 4 layers at 68.9% on CiteSeer, under GCN's 70.3%, and its published depths (32, 16) cost minutes here
    ("graph", "cora"): dict(model_kwargs=dict(style="gcnii", depth=4, hidden_channels=64, dropout=0.6,
                                              input_dropout=0.6),
                            weight_decay_by_prefix={"layer": 0.01}),
}


# the domains that can be trained: those with a recipe
DOMAINS = tuple(dict.fromkeys(domain for domain, _ in TASK_RECIPES))


def check_domain(domain: str | None) -> str:
    """Return the domain or raise a UserError listing the valid ones."""
    if domain is None:
        raise UserError(f"choose a domain with --domain: {', '.join(DOMAINS)}")
    if domain not in DOMAINS:
        raise UserError(f"unknown domain {domain!r}; valid: {', '.join(DOMAINS)}", public=True)
    return domain


def _recipes(domain: str, task: str, dataset: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(task recipe, dataset recipe) of a registry run; a user's own files (dataset None) get no dataset recipe."""
    task_recipe = TASK_RECIPES.get((domain, task))
    if task_recipe is None:
        raise UserError(f"domain {domain!r} has no recipe for {task!r} data", public=True)
    return task_recipe, DATASET_RECIPES.get((domain, dataset.lower()), {}) if dataset else {}


def published(domain: str, task: str, dataset: str | None) -> dict[str, Any]:
    """The values a named dataset's own recipe fixes (its width among them); derived rules leave these alone."""
    if (domain, task) not in TASK_RECIPES or not dataset:
        return {}
    recipe = DATASET_RECIPES.get((domain, dataset.lower()), {})
    values = {k: v for k, v in recipe.items() if k != "model_kwargs"}
    if "width" in recipe.get("model_kwargs", {}):
        values["width"] = recipe["model_kwargs"]["width"]
    return values


def recipe_for(domain: str, task: str, dataset: str) -> dict[str, Any]:
    """The recipe's own values for (domain, task, dataset), model_kwargs merged: what no option overrides yet."""
    task_recipe, dataset_recipe = _recipes(domain, task, dataset)
    values = {k: v for recipe in (task_recipe, dataset_recipe) for k, v in recipe.items() if k != "model_kwargs"}
    values["model_kwargs"] = {**task_recipe.get("model_kwargs", {}), **dataset_recipe.get("model_kwargs", {})}
    return values


MODEL_OPTIONS = ("width", "depth", "attn", "drop_path")


def resolve(cfg: TrainConfig, task: str, dataset: str, image_size: int | None = None,
            own_model: str | None = None, recorded: str | None = None,
            derived: dict[str, Any] | None = None) -> RunConfig:
    """Every option of a run: `cfg`'s set values over the recipe for its domain, the data's task and dataset name.

    `own_model` names a model the user built (fit): it gets the generic recipe of its task, which sets only
    how to train (TRAINING_KEYS), then the derived values on how to train (batch, epochs, selection, ...),
    and the options that build a registry model are refused. `recorded` is
    what the config keeps as its dataset when the data came from the user's files (their absolute path, so
    resume and evaluate read them again); such data gets no per-dataset recipe, whatever its folder is
    called. By default the config keeps the loaded dataset's own spelling of its name. `derived` holds the
    values derive.py computed from the data: they sit between the task recipe and a dataset's published one.
    """
    derived = dict(derived or {})
    domain = cfg.domain
    explicit = cfg.explicit()
    explicit["dataset"] = recorded or dataset
    values: dict[str, Any] = copy.deepcopy(BASE)  # nested mappings are per run
    if own_model is not None:
        given = [name for name in (*MODEL_OPTIONS, "model_kwargs", "init") if explicit.get(name) not in (None, {})]
        if given:
            raise UserError(f"--{given[0].replace('_', '-')} builds or loads a registry model; this run trains your "
                            f"own model ({own_model}): set it on the model itself")
        # the domains' recipes are tuned for our ResNets (SGD at 0.1 for images, ...); a model we did not
        # build starts from the plain one
        values.update({k: v for k, v in GENERIC_TASK_RECIPES[task].items() if k in TRAINING_KEYS})
        # derive.py applies only its rules on how to train to a user's model; what builds one is never taken
        values.update({k: v for k, v in derived.items() if k not in MODEL_OPTIONS})
        values.update(explicit)
        values.update(model=own_model, model_kwargs={})
        return _finish(values, explicit)
    domain = check_domain(domain)
    task_recipe, dataset_recipe = _recipes(domain, task, None if recorded else dataset)
    derived_width = derived.pop("width", None)
    for recipe in (task_recipe, derived, dataset_recipe):
        values.update({k: v for k, v in recipe.items() if k != "model_kwargs"})
    values.update(explicit)

    model = values["model"]
    kwargs: dict[str, Any] = {}
    if domain == "image":
        # torchvision's 7x7/2 stem plus max-pool would shrink 8x8 digits or 32x32 CIFAR to nothing; pretrained
        # weights fit torchvision's stem only
        kwargs["stem"] = "imagenet" if values["pretrained"] or (image_size or 224) > 64 else "cifar"
    derived_kwargs = {"width": derived_width} if derived_width is not None else {}
    for recipe in (task_recipe, {"model_kwargs": derived_kwargs}, dataset_recipe):
        # a recipe's model_kwargs are tuned for its own model, so another --model does not inherit them, nor
        # does a pretrained one, whose architecture the weights fix
        if model == recipe.get("model", task_recipe["model"]) and not values["pretrained"]:
            kwargs.update(recipe.get("model_kwargs", {}))
    model, kwargs = _apply_overrides(model, kwargs, values)
    kwargs.update(explicit.get("model_kwargs") or {})
    values["model"] = model
    values["model_kwargs"] = kwargs
    return _finish(values, explicit)


def _finish(values: dict[str, Any], explicit: dict[str, Any]) -> RunConfig:
    """Fill the options that follow from others, then check every option has its value."""
    if values["schedule"] == "warmup_cosine" and "warmup_epochs" not in explicit and not values["warmup_epochs"]:
        values["warmup_epochs"] = max(1, round(0.05 * values["epochs"]))
    if values.get("step_size") is None:
        values["step_size"] = max(1, values["epochs"] // 3)
    values.setdefault("out", None)  # the plan names the run directory
    missing = [o.name for o in OPTIONS if o.name not in values]
    assert not missing, f"recipes leave {missing} unresolved"  # a new option needs a BASE value
    return RunConfig(**{o.name: values[o.name] for o in OPTIONS})


def _apply_overrides(model: str, kwargs: dict[str, Any], values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Map --width/--depth/--attn/--drop-path onto the model name and its keyword arguments."""
    from resnet_any.domains import list_models

    if values.get("width") is not None:
        kwargs["width"] = values["width"]
    if values.get("attn") is not None:
        kwargs["attn"] = None if values["attn"] in ("none", "") else values["attn"]
    if values.get("drop_path") is not None:
        kwargs["drop_path_rate"] = values["drop_path"]
    depth = values.get("depth")
    if depth is not None:
        # image/series ResNets name their depth (resnet18 -> resnet50); graph ResNets take it as an argument
        m = re.fullmatch(r"(.*?)(\d+)", model)
        if m:
            candidate = f"{m.group(1)}{depth}"
            names = list_models()
            if candidate not in names:
                depths = sorted(int(n[len(m.group(1)):]) for n in names
                                if n.startswith(m.group(1)) and n[len(m.group(1)):].isdigit())
                raise UserError(f"--depth {depth} is not available for {m.group(1)}; valid: {', '.join(map(str, depths))}")
            model = candidate
        else:
            kwargs["depth"] = depth
    return model, kwargs


# ---- quick recipes ---------------------------------------------------------------------------------------
# What the app's Train tab holds before the user changes anything: small, real and done in well under a
# minute on 2 CPU cores. They are the one table of these values: a face sends one as the options a user set,
# and the plan resolves every other option exactly as for the command line.
QUICK_RECIPES: dict[str, dict[str, Any]] = {
    "image": dict(dataset="digits", model="resnet18", width=8, epochs=5, batch_size=64, lr=0.05, optimizer="sgd"),
    "series": dict(dataset="GunPoint", model="series_resnet", width=16, epochs=40, batch_size=16, lr=1e-3,
                   optimizer="adam"),
    "graph": dict(dataset="cora", model="gcn_resnet", width=64, epochs=200, batch_size=32, lr=0.01,
                  optimizer="adam"),
}
