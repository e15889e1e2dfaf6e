"""make_plan: options (CLI, config file, `fit`, the app) plus data -> one frozen Plan, one call per decision.

Nothing is written to the run directory here (data readers may fill their cache), so a bad option never
damages an existing run. Torch-free to import: the option checks run before anything heavy loads.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from resnet_any.errors import UserError
from resnet_any.train.options import TrainConfig
from resnet_any.train.plan.checks import check_options

if TYPE_CHECKING:
    from torch import nn

    from resnet_any.train.plan.types import Plan


def make_plan(options: TrainConfig, *, model: nn.Module | None = None, data: Any = None,
              callbacks: Sequence[Any] = (), max_epochs: int | None = None) -> Plan:
    """Resolve options (+ optionally the user's own model and data) into a frozen Plan; every check happens here, once.

    Args:
        options: what the user set (unset options are None and resolved here).
        model: the user's own nn.Module, or None for the registry model the recipe names.
        data: a DataSplits, or what `fit` takes from Python (a tuple of its train, val and test arguments).
        callbacks: the run's callbacks; the first that returns optimizer parameter groups decides them.
        max_epochs: a ceiling on the epochs the recipe would choose (a server's limit), applied as `--epochs`
            would be; epochs the user set are checked against it by the caller.
    """
    check_options(options, has_data=data is not None, has_model=model is not None)
    import torch

    from resnet_any.domains.graph import edge_weight_note
    from resnet_any.train import distributed
    from resnet_any.train.options import validate
    from resnet_any.train.plan import derive, distribute, hardware, inputs, notes, recipes, resume, scale
    from resnet_any.train.plan import model as models
    from resnet_any.train.plan.types import Plan
    from resnet_any.train.run.objectives import positive_weights
    from resnet_any.train.run.selection import for_task
    from resnet_any.train.state import split_sizes

    # the saved run's options, then the data's domain
    cfg, ckpt = (resume.saved_options(options) if options.resume else (options, None))
    data = inputs.as_splits(cfg, data)
    found = None if cfg.domain is not None else data.domain if data is not None else inputs.domain_of_files(cfg)
    inferred = found is not None
    if inferred:
        cfg = cfg.merged({"domain": found})
    if model is not None and ckpt is not None:
        saved = ckpt.get("model_class")
        if saved and saved != models.class_path(model):
            raise UserError(f"--resume: the run in {cfg.out} trained a {saved}, not a {models.class_path(model)}; "
                            "pass the same model class again")
    if model is None and data is not None and cfg.domain == "custom":
        shape = tuple(data.meta.get("shape") or ())
        raise UserError(f"samples shaped {shape} fit no registry model: reshape them to (1, {shape[-1] if shape else 'L'}) "
                        "for a series or (C, H, W) for images, or pass your own nn.Module")
    if data is None:
        inputs.check_dataset_exists(cfg, cfg.domain)
    domain = cfg.domain if model is not None else recipes.check_domain(cfg.domain)
    if domain is None:
        raise UserError(f"choose a domain (domain= or --domain): {', '.join(recipes.DOMAINS)}")

    # cheap checks before the (slow) data load, so a typo fails at once
    device = hardware.pick_device(cfg.device or "auto")
    hardware.check_amp(cfg.amp, device)
    if model is None and cfg.model is not None:
        models.check_model_domain(cfg.model, domain)
    recorded = inputs.recorded_dataset(cfg, domain) if data is None else None
    # before the data load: a model without weights fails at once, and the weights' crop sizes the images
    pretrained = models.pretrained_model(cfg, domain, model, recorded) if cfg.pretrained else None

    # the data
    size = cfg.image_size if cfg.image_size is not None or pretrained is None else models.weights_image_size(pretrained)
    splits = data if data is not None else inputs.load(cfg, domain, size)
    if pretrained is not None:
        splits = models.weights_preprocessing(splits, pretrained)
    if cfg.select == "train_loss":  # nothing is held out: the epoch is chosen on training loss instead
        splits = splits.without_validation()
    splits = inputs.prepare_targets(cfg, splits)
    inputs.check_classes(splits)

    # the recipe: the saved run's, or the published and derived values around the user's
    said: list[str | None] = []
    budget = None
    if ckpt is not None:
        resume.check_data(ckpt, splits)
        config = resume.resumed_config(ckpt["config"], cfg, Path(cfg.out))
    else:
        fresh = splits
        splits, config, said, budget = _recipe(cfg, domain, fresh, recorded, model, data, inferred)
        if max_epochs is not None and "epochs" not in cfg.explicit() and config.epochs > max_epochs:
            # the cap as the user's epochs, so what follows from epochs (warm-up, the schedule's steps, the
            # budget a short run is judged against) follows from it, as `--epochs CAP` would
            cfg = cfg.merged({"epochs": max_epochs})
            splits, config, said, budget = _recipe(cfg, domain, fresh, recorded, model, data, inferred)
    splits = inputs.scale_targets(splits)  # on the split the run trains on (validation merged or not)
    splits, scaled = inputs.scale_node_features(config, splits)  # a resume scales as its run did
    if ckpt is None and scaled:
        said = [n for n in said if not (n and n.startswith(inputs.AS_GIVEN))] + [scaled]
    # the task is the data's (told or inferred by its reader); "val" selects on the task's own metric
    config = config.replace(task=splits.task, select=for_task(config.select, splits.task))
    if splits.task != "classify":
        if cfg.label_smoothing:
            raise UserError(f"--label-smoothing softens class targets; a {splits.task} run has none: drop it")
        config = config.replace(label_smoothing=0.0)  # the image recipe's 0.1 is for classes
    if ckpt is None and splits.task_note:
        said.insert(0, splits.task_note)
    validate(config)
    if model is None:
        models.check_model_domain(config.model, config.domain)

    # a node task: full batch or sampled neighbourhoods, from the graph's size against the machine's memory
    config, sampling_note = scale.choose(config, splits, device, model, config.to_dict() if ckpt else cfg.explicit())
    if ckpt is None:
        said.append(sampling_note)

    # processes, the model, then device and precision in one place
    dist, device, owns_group = distribute.join_group(config, splits, device, distributed.from_env())
    inputs.check_run(config, splits)
    out = distribute.shared_out(Path(cfg.out) if cfg.out else None, domain, dist)
    config = config.replace(out=str(out))
    built, spec, report = models.build(config, splits, device, model)
    config, precision_note = hardware.precision(config, cfg.amp, device, built, splits, own_model=model is not None)
    if config.channels_last and config.domain == "image":
        built.to(memory_format=torch.channels_last)
    if ckpt is None:
        said.append(precision_note)
    said.append(edge_weight_note(built, config.model if model is None else None, splits))

    # what the loop builds from the plan: the loss's class weights, a callback's parameter groups
    weights = None
    if config.class_weights == "auto" and splits.task == "multilabel":
        weights = tuple(positive_weights(splits.labels("train")))
    elif config.class_weights == "auto" and splits.task == "classify":
        weights = tuple(derive.inverse_frequency_weights(splits.class_counts("train")).tolist())
    has_test = split_sizes(splits)["test"] > 0
    said += notes.training(config, splits, has_test, weights)
    plan = Plan(config=config, splits=splits, model=built, model_spec=spec, device=device, dist=dist, out=out,
                batch_size=distribute.local_batch(config, splits, dist),
                resume_from=Path(cfg.out) / "last.pt" if ckpt is not None else None, init_report=report,
                has_test=has_test, owns_group=owns_group, notes=tuple(filter(None, said)), epoch_budget=budget,
                class_weights=weights)
    return with_callbacks(plan, callbacks)


def _recipe(cfg: TrainConfig, domain: str, splits: Any, recorded: str | None, model: nn.Module | None, data: Any,
            inferred: bool) -> tuple[Any, Any, list[str | None], int | None]:
    """(splits, resolved config, notes, epoch budget): the published and derived values around the user's."""
    from resnet_any.train import distributed
    from resnet_any.train.plan import derive, notes, recipes
    from resnet_any.train.plan import model as models

    image_size = splits.meta.get("image_size")
    # a user's own model gets the rules on how to train (batch, epochs, selection, ...), not those that build one
    splits, values, data_profile, budget = derive.for_run(cfg, domain, splits, recorded,
                                                          distributed.from_env().world_size,
                                                          own_model=model is not None)

    def resolve(derived: dict[str, Any]) -> Any:
        return recipes.resolve(cfg, splits.layout, splits.name,
                               max(image_size) if isinstance(image_size, (list, tuple)) else image_size,
                               own_model=None if model is None else models.class_path(model), recorded=recorded,
                               derived=derived)

    config = resolve(values)
    said: list[str | None] = list(notes.choices(cfg, config, splits, model, data, inferred,
                                                from_files=recorded is not None, derived=values))
    if values:
        said.append(notes.derived(config, resolve({}), values, data_profile))
    said.append(notes.rare_classes(data_profile, splits.class_names))
    return splits, config, said, budget


def with_callbacks(plan: Plan, callbacks: Sequence[Any]) -> Plan:
    """The plan with the optimizer's parameter groups the first callback that shapes them returns (said in a note).

    A new Plan, never a changed one; the same plan when no callback shapes groups or it already holds some.
    `Trainer(plan, callbacks=...)` calls it, so callbacks given to the trainer alone still decide the groups.
    """
    import dataclasses

    from resnet_any.train.plan.notes import CALLBACK_GROUPS

    if plan.param_groups is not None:
        return plan
    groups = next((g for g in (c.param_groups(plan.model, plan.config) for c in callbacks) if g is not None), None)
    if groups is None:
        return plan
    return dataclasses.replace(plan, param_groups=groups, notes=(*plan.notes, CALLBACK_GROUPS))
