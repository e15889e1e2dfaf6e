"""The data a run trains on, and every check of the data against the options, made once before anything heavy."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from resnet_any.data.base import DataSplits
from resnet_any.errors import UserError
from resnet_any.train.options import DEFAULTS, RunConfig, TrainConfig

# Datasets are split with one fixed seed so runs with different --seed are scored on the same test set.
SPLIT_SEED = 0


def as_splits(cfg: TrainConfig, data: Any) -> DataSplits | None:
    """What `fit` takes from Python (a tuple of its train, val and test arguments) as DataSplits; others as given.

    Carved after a resumed run's options are known: its val_fraction decides the carving.
    """
    if not isinstance(data, tuple):
        return data
    from resnet_any.data.python import as_splits as carve

    return carve(*data, seed=SPLIT_SEED, val_fraction=cfg.val_fraction or DEFAULTS["val_fraction"], domain=cfg.domain,
                 task=cfg.task)


def domain_of_files(cfg: TrainConfig) -> str | None:
    """The domain of --dataset PATH read from its files (a folder of train/test tables is series, ...)."""
    from resnet_any.data import infer_domain

    return infer_domain(cfg.dataset) if cfg.dataset else None


def recorded_dataset(cfg: TrainConfig, domain: str) -> str | None:
    """A path to the user's own files as an absolute path (resume and evaluate may run elsewhere); None for names."""
    from resnet_any.data import dataset_path

    path = dataset_path(domain, cfg.dataset, cfg.data_dir)
    return str(path.resolve()) if path is not None else None


def _known_names(domains: Any) -> list[str]:
    from resnet_any.data import list_datasets

    names: list[str] = []
    for domain in domains:
        try:
            names += list_datasets(domain)
        except Exception:  # noqa: BLE001 - a domain that cannot list its names offers none to suggest
            pass
    return names


def _near_paths(text: str) -> list[str]:
    """Existing files and folders spelt nearly as `text` (beside where it points), for "did you mean"."""
    path = Path(text).expanduser()
    folder = path.parent if str(path.parent) else Path(".")
    try:
        entries = [e.name for e in folder.iterdir() if not e.name.startswith(".")]
    except OSError:
        return []
    return [str(folder / n) if str(path.parent) not in ("", ".") else n
            for n in difflib.get_close_matches(path.name, entries, n=3, cutoff=0.75)]


def check_dataset_exists(cfg: TrainConfig, domain: str | None) -> None:
    """A --dataset that is neither a file or folder nor a dataset name: say the path does not exist, with near names.

    With a domain, only a name spelt nearly as an existing file or folder is judged here (other names may be
    ones the domain's reader finds or downloads, and it says so itself).
    """
    text = cfg.dataset
    if not text or cfg.data_dir is not None or Path(str(text)).expanduser().exists():
        return
    from resnet_any.data import DOMAINS

    known = _known_names([domain] if domain else DOMAINS)
    if str(text).lower() in {n.lower() for n in known}:
        return
    near = _near_paths(str(text))
    if domain is not None and not near:
        return
    close = near or difflib.get_close_matches(str(text), known, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise UserError(f"--dataset {str(text)!r} does not exist: no such file or folder, and no dataset is named "
                    f"so{hint}")


def load(cfg: TrainConfig, domain: str, image_size: int | None) -> DataSplits:
    """The named or given dataset, images sized `image_size` (None: the reader's default)."""
    from resnet_any.data import load_dataset

    # only the file readers take these two (a table's label column, an edge list's direction)
    readers = {k: v for k, v in (("label_column", cfg.label_column), ("directed", cfg.directed), ("task", cfg.task))
               if v is not None}
    return load_dataset(domain, cfg.dataset, cfg.data_dir, seed=SPLIT_SEED,
                        val_fraction=cfg.val_fraction if cfg.val_fraction is not None else 0.2,
                        image_size=image_size, cache_dir=cfg.cache_dir, **readers)


def prepare_targets(cfg: TrainConfig, splits: DataSplits) -> DataSplits:
    """The data's targets checked against --task, and a regression's targets for variance in training."""
    from resnet_any.data.targets import check_variance

    if cfg.task is not None and splits.task != cfg.task:
        raise UserError(f"--task {cfg.task}: dataset {splits.name!r} holds {splits.task} targets, and its reader "
                        f"cannot read them as {cfg.task}", public=f"--task {cfg.task} does not fit this data's targets")
    if splits.task == "regress":
        check_variance(splits.labels("train"), splits.class_names, f"the training split of {splits.name!r}")
    return splits


def scale_targets(splits: DataSplits) -> DataSplits:
    """A regression's training mean and standard deviation per target in the data's meta (target_mean/target_std).

    The model learns (y - mean) / std, so targets of any scale train with one recipe; the checkpoint keeps both,
    so every output is given back in the user's units. Taken from the split the run trains on, once the recipe
    has decided whether validation joins it, so a fresh run and its resume compute the same values.
    """
    import dataclasses

    from resnet_any.data.targets import scaling

    if splits.task != "regress":
        return splits
    mean, std = scaling(splits.labels("train"))
    return dataclasses.replace(splits, meta={**splits.meta, "target_mean": mean, "target_std": std})


# the reader's note that features are used as given (csv_graphs._notes); dropped once the run scales them
AS_GIVEN = "node features are used as given"


def scale_node_features(config: RunConfig, splits: DataSplits) -> tuple[DataSplits, str | None]:
    """A node task's features scaled as config.feature_norm says (graph_features.py), and the note saying how.

    The meta keeps what repeats the scaling on files read for prediction (feature_norm, mean and std).
    """
    import copy
    import dataclasses

    from resnet_any.data.graph_features import feature_stats, scale_features

    how = config.feature_norm
    if splits.layout != "node" or splits.graph is None or how in (None, "none"):
        return splits, None
    before = (splits.meta or {}).get("feature_norm")
    if how == before:  # the reader already did it (Planetoid's loader row-normalises)
        return splits, None
    stats = feature_stats(splits.graph.x)
    graph = copy.copy(splits.graph)
    graph.x, kept = scale_features(graph.x, how)
    notes = [n for n in (splits.meta or {}).get("notes", []) if not n.startswith(AS_GIVEN)]
    splits = dataclasses.replace(splits, graph=graph, meta={**splits.meta, **kept, "notes": notes})
    seen = (f"{stats.density:.1%} nonzero, {'some negative' if stats.negative else 'none negative'}, column sds "
            f"differing up to {stats.spread:.3g}x")
    what = {"row": "row-normalised (each node's features sum to 1, as Kipf & Welling's bag-of-words)",
            "standardize": "standardised (each column to mean 0, sd 1 over all nodes)"}[how]
    return splits, f"node features {what}: {seen}; --feature-norm none keeps them as given"


def check_classes(splits: DataSplits) -> None:
    """One class makes every prediction right and the loss zero: a run that learns nothing, silently."""
    if splits.task != "classify":
        return
    if splits.num_classes < 2:
        raise UserError(f"dataset {splits.name!r} has only one class ({', '.join(map(str, splits.class_names))}); "
                        "a classifier needs at least two",
                        public="the dataset has only one class; a classifier needs at least two")


def check_run(config: RunConfig, splits: DataSplits) -> None:
    """The options that the resolved data must allow: the splits a run needs, the sampler, batch mixing."""
    from resnet_any.train.state import split_sizes

    if splits.layout == "node":
        if splits.graph is None:
            raise UserError(f"dataset {splits.name!r} has no graph for node classification")
        for split in ("train", "val"):
            if getattr(splits.graph, f"{split}_mask", None) is None:
                raise UserError(f"graph dataset {splits.name!r} has no {split}_mask")
    sizes = split_sizes(splits)
    for split in ("train", "val") if config.select != "train_loss" else ("train",):
        if sizes[split] == 0:
            raise UserError(f"dataset {splits.name!r} has an empty {split} split",
                            public=f"the dataset has an empty {split} split")
    if splits.task != "classify":
        for flag, on in (("--sampler balanced", config.sampler == "balanced"), ("--mixup", config.mixup),
                         ("--cutmix", config.cutmix)):
            if on:
                raise UserError(f"{flag} mixes or balances classes; a {splits.task} run has none: drop it")
    if config.sampler == "balanced" and splits.layout == "node" and config.sampling != "neighbor":
        raise UserError("--sampler balanced draws the samples of mini-batches; full-batch node classification trains "
                        "on the whole graph at once: use --class-weights auto or --sampling neighbor instead")
    if config.mixup or config.cutmix:
        if splits.layout != "samples":
            raise UserError(f"--mixup and --cutmix mix batches of images or series; {splits.layout} classification "
                            "cannot be mixed: drop them")
        if config.cutmix and config.domain != "image":
            raise UserError(f"--cutmix pastes image rectangles; {config.domain} data takes --mixup only")
