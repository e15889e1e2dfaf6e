"""What a run says it chose for the user: one line each, printed at the start and kept in summary.json.

Every note a run prints is made here (the data readers' own notes arrive in the data's meta).
"""
from __future__ import annotations

from typing import Any, Collection, Sequence

from torch import nn

from resnet_any.data.base import DataSplits
from resnet_any.train.options import RunConfig, TrainConfig
from resnet_any.train.plan.derive import describe

# said last, by make.with_callbacks, when a callback hands the optimizer its parameter groups
CALLBACK_GROUPS = ("the optimizer's parameter groups come from a callback: weight_decay and weight_decay_by_prefix "
                   "apply only where its groups say so")

# fewer training samples than this in a class: nothing can be learned of it, and inverse-frequency class
# weights would make it dominate the loss; most often a stray folder (run outputs, a README's images)
RARE_CLASS = 5


def confidence_cap(label_smoothing: float, num_classes: int) -> float:
    """The probability a label-smoothed model learns to give its class: the smoothed target's 1 - e + e/K."""
    # cross-entropy against a soft target is lowest when the prediction equals that target
    return 1 - label_smoothing + label_smoothing / num_classes


def smoothing_note(label_smoothing: float, num_classes: int) -> str:
    """One line saying why a label-smoothed model's confidence stops short of 100% (empty when it is off)."""
    if not label_smoothing or num_classes < 2:
        return ""
    cap = confidence_cap(label_smoothing, num_classes)
    return (f"label smoothing {label_smoothing:g}: the training target gives the true class {cap:.0%} (1 - "
            f"{label_smoothing:g} + {label_smoothing:g}/{num_classes}), so confidence tops out near {cap:.0%} and the "
            f"training loss stays above zero, often above the validation loss")


def rare_classes(data: Any, names: Sequence[Any]) -> str | None:
    """One line naming the classes with fewer than RARE_CLASS training samples, if any."""
    rare = [f"{names[i]} ({c})" for i, c in enumerate(data.class_counts) if c < RARE_CLASS]
    if not rare:
        return None
    shown = ", ".join(rare[:5]) + (f" and {len(rare) - 5} more" if len(rare) > 5 else "")
    return (f"{len(rare)} of {len(names)} classes have fewer than {RARE_CLASS} training samples: {shown}; no "
            "model learns a class from so few: check that these are classes and not stray folders")


def derived(config: RunConfig, without: RunConfig, values: dict[str, Any], data: Any) -> str | None:
    """One line naming the values the rules changed: those that differ from the run resolved without them."""
    def value(c: RunConfig, option: str) -> Any:
        return c.model_kwargs.get("width") if option == "width" else getattr(c, option)

    kept = [f"{option.replace('_', '-')} {value(config, option)}" for option in values
            if value(config, option) != value(without, option)]
    if not kept:
        return None
    return (f"recipe derived from the data ({describe(data)}): {', '.join(kept)}; the README's 'Derived recipes' "
            "says why; set any of them to override")


def choices(given: TrainConfig, config: RunConfig, splits: DataSplits, model: nn.Module | None, data: Any,
            inferred: bool, from_files: bool, derived: Collection[str] = ()) -> list[str]:
    """Choices made for the user that they should hear about: the domain, a user's model's recipe, ignored flags.

    `derived`: the options the rules derived from the data; a user's model hears of them in the derived note,
    so the generic recipe's line names only the rest.
    """
    notes = list(splits.meta.get("notes", []))
    if inferred and data is not None:
        shape = splits.meta.get("shape")
        notes.append(f"domain {config.domain} inferred from samples shaped {tuple(shape) if shape else '?'}; pass "
                     "domain= to choose another")
    elif inferred:
        notes.append(f"domain {config.domain} inferred from the files' layout; pass --domain to choose another")
    if model is not None:
        keys = ("optimizer", "lr", "epochs", "batch_size", "schedule")
        unset = [k for k in keys if getattr(given, k) is None and k not in derived]
        if unset:
            notes.append("your model trains with the generic recipe for its task: "
                         + ", ".join(f"{k} {getattr(config, k)}" for k in unset))
    for key, domain in (("label_column", "series"), ("directed", "graph")):
        if getattr(given, key) is not None and not (from_files and config.domain == domain):
            what = "a series table" if domain == "series" else "an edge list"
            notes.append(f"--{key.replace('_', '-')} applies to {what} given as --dataset PATH; this data ignores it")
    for key in ("sampling", "feature_norm"):
        if getattr(given, key) not in (None, "auto") and splits.layout != "node":
            notes.append(f"--{key.replace('_', '-')} applies to node classification (one graph); this data ignores it")
    if config.pretrained:
        from resnet_any.domains.pretrained import note

        notes.append(note(config.model, splits.meta, splits.in_channels))
    return notes


def training(config: RunConfig, splits: DataSplits, has_test: bool,
             class_weights: Sequence[float] | None) -> list[str]:
    """What the training itself will do differently from a plain loop (--ema, class weights, sampler, mixing, ...)."""
    notes = []
    if not has_test:
        # data without a test split (fit without test=, a split column with no test rows) trains all the same
        notes.append("no test split: the summary has no test metrics (pass test data to score one)")
    smoothing = smoothing_note(config.label_smoothing, splits.num_classes)
    if smoothing:
        notes.append(smoothing)
    if config.ema is not None:
        notes.append(f"EMA of the weights (decay {config.ema:g}): validation, the kept epoch and best.pt use "
                     "the averaged weights (last.pt keeps the raw ones too, for --resume)")
    if class_weights is not None:
        shown = ", ".join(f"{name} {w:.3g}" for name, w in zip(splits.class_names[:20], class_weights))
        more = ", ..." if len(class_weights) > 20 else ""
        notes.append(f"class-weighted loss, N / (K n_k) of the training split (absent classes 0): {shown}{more}")
    if config.sampler == "balanced":
        notes.append("balanced sampler: each epoch draws as many training samples as there are, with "
                     "replacement, every class equally likely")
    if config.mixup or config.cutmix:
        how = " or ".join(f"{name} (alpha {a:g})" for name, a in (("mixup", config.mixup), ("CutMix", config.cutmix)) if a)
        notes.append(f"training batches mixed by {how}: the loss takes soft targets, train_acc counts the "
                     "original labels")
    return notes
