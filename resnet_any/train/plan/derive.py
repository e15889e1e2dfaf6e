"""Recipes derived from the data in front of the run: what the loaded splits show sets batch, width, lr, epochs, selection.

A default is what most users ever run, so it cannot be a recipe tuned on one dataset's name. `profile`
measures the data (samples, classes and their balance, image size, series length, graph size); each rule
in `RULES` turns those quantities into one option's value; the plan names the values that changed the run
in one note. The README's table of rules is `rules_markdown()`, checked by a test, so the
documentation and the code cannot drift apart.

Rules were chosen on a panel of datasets of several sizes and shapes (`python -m resnet_any.bench
generalize`), not on one; where a published recipe exists the rule cites it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from resnet_any.data.base import DataSplits
from resnet_any.train.plan.recipes import published


@dataclass(frozen=True)
class Profile:
    """What the rules look at: the loaded data's sizes and shapes (None where a quantity does not apply)."""

    domain: str
    layout: str                     # samples, node or graph (DataSplits.layout)
    n_train: int                    # training samples (nodes with a label for node tasks, graphs for graph tasks)
    n_val: int
    num_classes: int
    class_counts: tuple[int, ...]   # training samples per class
    image_size: int | None = None
    channels: int | None = None
    length: int | None = None       # series length
    nodes: int | None = None        # nodes of the one graph (node task) or mean nodes per graph (graph task)
    features: int | None = None     # node feature width
    n_test: int = 0                 # test samples: what judges a run that holds no validation out
    val_given: bool = False         # the validation split came with the data (a val/ folder, fit's val)
    task: str = "classify"          # what the targets are: classify, regress or multilabel
    # node tasks: the feature matrix as data/graph_features.feature_stats sees it, and the graph around the labels
    features_from: str | None = None  # "columns" (the user's features) or how the reader made them (degree, ...)
    feature_density: float | None = None
    feature_negative: bool | None = None
    feature_rows_one: bool | None = None
    feature_spread: float | None = None
    homophily: float | None = None     # share of edges between two training nodes that join one class

    @property
    def imbalance(self) -> float:
        """Largest over smallest class count of the training split (inf when a class has no sample)."""
        counts = self.class_counts
        return max(counts) / min(counts) if counts and min(counts) > 0 else math.inf

    @property
    def per_class_val(self) -> float:
        """Validation samples per class: what one epoch's validation accuracy is measured on."""
        return self.n_val / max(self.num_classes, 1)


def profile(splits: DataSplits) -> Profile:
    """Measure a DataSplits for the rules."""
    counts = tuple(splits.class_counts("train")) if splits.task == "classify" else ()
    common = dict(domain=splits.domain, layout=splits.layout, n_train=splits.count("train"),
                  n_val=splits.count("val"), n_test=splits.count("test"), task=splits.task,
                  val_given=bool((splits.meta or {}).get("val_given")), num_classes=splits.num_classes, class_counts=counts)
    if splits.layout == "node":
        return Profile(**common, **_node_profile(splits))
    if splits.layout == "graph":
        graphs = splits.train or []
        mean_nodes = round(sum(int(g.num_nodes) for g in graphs) / max(len(graphs), 1))
        return Profile(**common, nodes=mean_nodes, features=int(splits.in_channels))
    size = splits.meta.get("image_size")
    size = max(size) if isinstance(size, (list, tuple)) else size
    return Profile(**common, image_size=size, channels=int(splits.in_channels), length=splits.meta.get("length"))


def _node_profile(splits: DataSplits) -> dict[str, Any]:
    """A node task's graph and features, as the node rules read them."""
    from resnet_any.data.graph_features import feature_stats

    g = splits.graph
    stats = feature_stats(g.x)
    homophily = None
    if splits.task == "classify":
        src, dst = g.edge_index
        both = g.train_mask[src] & g.train_mask[dst]
        if int(both.sum()):
            homophily = float((g.y[src[both]] == g.y[dst[both]]).float().mean())
    return dict(nodes=int(g.num_nodes), features=int(g.num_features),
                features_from=str((splits.meta or {}).get("node_features") or "columns"),
                feature_density=stats.density, feature_negative=stats.negative, feature_rows_one=stats.rows_sum_one,
                feature_spread=stats.spread, homophily=homophily)


@dataclass(frozen=True)
class Rule:
    """One derived choice: which option, from which quantity, by what rule, and why."""

    option: str
    domains: tuple[str, ...]              # (domain, ...) the rule applies to; "graph" covers node and graph tasks
    quantity: str                         # what it reads, as the README says it
    text: str                             # the rule, as the README says it
    why: str                              # the reason (and source)
    value: Callable[[Profile, dict[str, Any]], Any] = field(compare=False, default=None)  # type: ignore[assignment]
    layouts: tuple[str, ...] = ("samples", "node", "graph")
    tasks: tuple[str, ...] = ("classify", "regress", "multilabel")
    # how to train, so it holds for a model the user built too (fit): False for what builds the model (width),
    # for what scales a domain recipe's own choice (the images' SGD learning rate; a user's model trains with
    # the generic recipe's AdamW), and for mixup, chosen on photo folders for our ResNets: any (C, H, W) tensor
    # is "image" data to fit, and log-spectrograms of Plane (105 series, a 2D core ResNet, epochs=40, seeds
    # 0-4) scored 0.920 with it and 0.994 without
    own_model: bool = True


def _pow2_clamp(x: float, low: int, high: int) -> int:
    """The power of two at or below x, clamped to [low, high]."""
    return int(min(high, max(low, 2 ** math.floor(math.log2(max(x, 1.0))))))


def _steps_per_epoch(p: Profile, batch: int) -> int:
    return max(1, math.ceil(p.n_train / max(batch, 1)))


def _epochs_for(p: Profile, v: dict[str, Any], steps: int, low: int, high: int) -> int:
    return int(min(high, max(low, math.ceil(steps / _steps_per_epoch(p, v["batch_size"])))))


def _may_merge(p: Profile, v: dict[str, Any]) -> bool:
    """Whether validation may join training: a test split judges the run, and the split was carved by us.

    A validation split the user handed over (a val/ folder, fit's val, an explicit --val-fraction) is kept.
    """
    return bool(p.n_test) and not p.val_given and "val_fraction" not in v


# image classification from scratch: He et al. 2016's CIFAR recipe (SGD 0.1 at batch 128, decay 5e-4) scaled
IMAGE_STEPS = 2000          # above SMALL_IMAGE px: a step at 224 px costs ~50x one at 32 px
SMALL_IMAGE_STEPS = 4000    # at or below SMALL_IMAGE px
SMALL_IMAGE = 64
SERIES_STEPS = 8000

# ---- graph classification (layout "graph"): GIN's recipe (Xu et al. 2019) read onto the data's size
# Panel (bench/graph_sets.py, graphs.csv in 3 seeded orders, --seed = order, 2 CPU cores), default with these rules
# against the same-run GIN-0 (bench/gin_ref.py) on the same split, test accuracy, mean of splits 0-2:
# MUTAG 0.851 vs 0.807; Cora ego-nets 0.805 vs 0.800; protein-like motif-400 0.563 vs 0.496; size-density-1000
# 0.732 vs 0.725; held out (never tuned on) mixed-3class-600 0.575 vs 0.533. Selection merged validation on all but
# size-density (80 validation graphs a class). The old default (GCN depth 3, mean pool, 100 epochs) was 0.686
# on the held-out protein set; that set is not here.
GIN_EPOCHS = 350            # Xu et al.'s epochs, with the learning rate halved every 50 (7 halvings)
GRAPH_NODE_BUDGET = 100_000  # training nodes an epoch at which 350 epochs still take minutes on 2 CPU cores
GRAPH_LEVEL_RULES: tuple[Rule, ...] = (
    Rule("batch_size", ("graph",), "graph classification: training graphs n", "32 below 2,000 graphs, else 128",
         "Xu et al. 2019 choose 32 or 128: a few hundred graphs at 128 take 2-5 steps an epoch",
         lambda p, v: 32 if p.n_train < 2000 else 128, layouts=("graph",)),
    Rule("epochs", ("graph",), "graph classification: training graphs x mean nodes per graph",
         f"{GIN_EPOCHS} up to {GRAPH_NODE_BUDGET:,} training nodes, fewer above (x budget / nodes), at least 100",
         "GIN's 350 epochs; a set of larger graphs (DD's 284 nodes a graph) would run for an hour on 2 CPU cores",
         lambda p, v: int(max(100, min(GIN_EPOCHS, GIN_EPOCHS * GRAPH_NODE_BUDGET / max(1, p.n_train * (p.nodes or 1))))),
         layouts=("graph",)),
    Rule("step_size", ("graph",), "graph classification: epochs e", "e / 7: the learning rate halves 7 times (gamma 0.5)",
         "GIN halves Adam's 0.01 every 50 of its 350 epochs; a shorter budget keeps the same decay",
         lambda p, v: max(1, v["epochs"] // 7), layouts=("graph",)),
    Rule("select", ("graph",), "graph classification: validation graphs per class", "train_loss below 50 a class, else val",
         "the images' and series' threshold: a few dozen validation graphs a class pick the epoch by noise and gain "
         "more as training graphs; the step schedule ends at 1/128 of the learning rate, so late epochs are stable",
         lambda p, v: "train_loss" if p.per_class_val < 50 and _may_merge(p, v) else "val", layouts=("graph",)),
)
# node features: at most this share nonzero (and none negative) reads as a bag of words (Cora 1.3%, the panel's
# generated abstracts 1.8%), whose rare and common words differ in sd by design; a denser table's columns whose
# sds differ over SPREAD times are in different units
SPARSE_FEATURES = 0.1
SPREAD = 10.0


def _feature_norm(p: Profile) -> str:
    """The node-feature scaling the features call for (see the feature_norm rule)."""
    if p.features_from not in (None, "columns") or p.feature_density is None:
        return "none"
    if p.feature_negative:
        return "standardize"
    if p.feature_density > SPARSE_FEATURES and (p.feature_spread or 1.0) > SPREAD:
        return "standardize"
    return "none"  # a sparse non-negative bag of words, or columns on one scale already


RULES: tuple[Rule, ...] = (
    # ---- images
    Rule("batch_size", ("image", "volume"), "training samples n", "largest power of two <= n/30, within [16, 128]",
         "at least ~30 optimizer steps an epoch: a 400-photo folder at batch 128 takes 3 steps an epoch and "
         "warm-up alone eats its budget",
         lambda p, v: _pow2_clamp(p.n_train / 30, 16, 128 if p.domain == "image" else 16)),
    Rule("lr", ("image",), "batch size b", "0.1 x b / 128 (SGD, Nesterov)",
         "He et al. 2016's 0.1 at batch 128, scaled linearly with the batch (Goyal et al. 2017)",
         lambda p, v: round(0.1 * v["batch_size"] / 128, 6), own_model=False, tasks=("classify",)),
    # numbers and tags: the classes' SGD recipe diverged on a count (MSE, non-finite at step 15-23) and trailed
    # AdamW on tags. Panel, 5 epochs, seed 0, SGD -> AdamW 1e-3: MNIST canvases tags mAP 0.376 -> 0.583, count
    # RMSE diverged -> 0.205, digits ink RMSE 1.66 -> 1.39, digits 3-tag mAP 0.998 -> 0.993. Checked on a set not
    # looked at while choosing, CIFAR-10 mosaics (2x2 photos at 64 px; 2,000/400/800): the classes present mAP
    # 0.480 -> 0.523, how many of the four are animals (MSE) diverged at step 28 -> R² 0.57
    Rule("optimizer", ("image",), "the task", "adamw for numbers and tags",
         "the classes' SGD at 0.1 x b/128 diverged on an MSE count and trailed AdamW on tags (panel in derive.py)",
         lambda p, v: "adamw", own_model=False, tasks=("regress", "multilabel")),
    Rule("lr", ("image",), "the task", "0.001 for numbers and tags (AdamW)",
         "AdamW's usual 1e-3 (Loshchilov & Hutter 2019), as the plain torchvision loop of bench tasks trains",
         lambda p, v: 0.001, own_model=False, tasks=("regress", "multilabel")),
    Rule("width", ("image",), "training samples n", "16 below 2,000 samples, 32 below 20,000, else 64",
         "He et al.'s CIFAR ResNets reach 91% on 50,000 images at width 16: a few hundred photos gain nothing "
         "from torchvision's 64 but 16x the compute and overfitting",
         lambda p, v: 16 if p.n_train < 2000 else 32 if p.n_train < 20000 else 64, own_model=False),
    Rule("epochs", ("image",), "steps per epoch s, image size",
         f"{SMALL_IMAGE_STEPS} steps / s up to {SMALL_IMAGE} px, {IMAGE_STEPS} above, within [15, 200]",
         "a budget in optimizer steps, not epochs: small sets get enough updates, large ones stop in time. At 32 px "
         "the panel's 600-photo folders gained 3.4, 1.6 and 3.0 points from 4,000 steps over 2,000 and stay within "
         "5 minutes; at 224 px 2,000 steps of a 250-photo folder already take minutes",
         # an unknown size counts as large, as recipes.resolve gives it the ImageNet stem
         lambda p, v: _epochs_for(p, v, SMALL_IMAGE_STEPS if (p.image_size or 224) <= SMALL_IMAGE else IMAGE_STEPS,
                                  15, 200)),
    # one threshold for both domains: a validation split of a few dozen samples a class picks the epoch by noise
    Rule("select", ("image", "series"), "validation samples per class", "train_loss below 50 a class, else val",
         "a few dozen validation samples a class pick the epoch by noise (one photo in 96 is a point) and gain more "
         "as training samples: on the panel's three 600-photo folders, scored on 3,000 test photos each, +4.0, +1.8 "
         "and +4.4 points in 40% less time; Fawaz et al. choose on training loss and train on all of a UCR training "
         "split. The series threshold was 10 until held-out ECG200 and Ham (10 and 11 a class) scored 0.830 and "
         "0.724 selected on validation, 0.900 and 0.781 merged (Fawaz 0.88, 0.76)",
         lambda p, v: "train_loss" if p.per_class_val < 50 and _may_merge(p, v) else "val"),
    Rule("mixup", ("image",), "training samples n", "0.2 below 20,000 samples, else 0",
         "Zhang et al. 2018's mixup (their alpha 0.2): on the generalize panel's three 600-photo CIFAR folders it "
         "gained 0.8-2.5 points at the same budget; large sets need no extra regulariser",
         lambda p, v: 0.2 if p.n_train < 20000 else 0.0, tasks=("classify",), own_model=False),
    # ---- series
    Rule("batch_size", ("series",), "training series n", "n / 10, within [4, 16]",
         "Fawaz et al. 2019's ResNet: batch min(n/10, 16); at least 4 so BatchNorm sees a batch",
         lambda p, v: int(min(16, max(4, p.n_train // 10)))),
    Rule("epochs", ("series",), "steps per epoch s", f"{SERIES_STEPS} steps / s, within [30, 200]",
         "Fawaz et al. train 1,500 epochs; with a cosine schedule 200 reach the same accuracy on the UCR "
         "panel, and a budget in steps keeps large sets from running for hours on a CPU",
         lambda p, v: _epochs_for(p, v, SERIES_STEPS, 30, 200)),
    *GRAPH_LEVEL_RULES,
    # ---- graphs: node classification (a full-batch node task reads the one graph's features and training labels)
    # node panel (node_study.py, the default model, mean of seeds 0-2): a generated graph whose 32 signed columns
    # come in their own units (SBM dense) 0.223 as given, 0.834 standardised (the GCN, row-normalising as Kipf &
    # Welling: 0.194). Row-normalising a 0/1 bag of words (SBM words) 0.815 -> 0.812, and 0.833 -> 0.811 without
    # the skip: not taken; Cora's files arrive row-normalised already. What else the panel tried against the
    # same-run GCN (Cora as CSV 0.823, Cora 3,703 words 0.802, SBM words 0.827, low-homophily SBM 0.474), default
    # first: no skip at depth 2 0.817 -> 0.804, 0.786 -> 0.772, 0.815 -> 0.833, 0.472 -> 0.467; Kipf's decay on
    # the first layer only 0.817 -> 0.809, SBM words 0.827, low homophily 0.466; width 16 SBM words 0.798, low
    # homophily 0.447; Cora as CSV: select val_loss 0.817, 200 epochs 0.817, no input dropout 0.800. No change
    # gained on every graph, so none became a rule (node_study.py; 2 shared cores, seeds 0-2)
    Rule("feature_norm", ("graph",), "node features: share nonzero, sign, spread of column sds",
         f"standardize when some are negative, or when over {SPARSE_FEATURES:.0%} are nonzero and column sds "
         f"differ over {SPREAD:g}x; else none (a bag of words, degree features)",
         "measurements in their own units (a price beside a ratio) give the first layer inputs of incomparable "
         "scale: a generated graph of 32 such columns scored 0.223 as given, 0.834 standardised; row-normalising "
         "0/1 words lost 0.3-2.2 points (panel in derive.py)",
         lambda p, v: _feature_norm(p), layouts=("node",)),
    # ---- every domain
    Rule("class_weights", ("image", "series", "graph", "volume"), "largest / smallest class count r",
         "auto when r >= 3, else none",
         "an imbalanced training split otherwise teaches the majority class; inverse-frequency weights are "
         "scikit-learn's 'balanced' rule",
         lambda p, v: "auto" if p.imbalance >= 3 else "none", tasks=("classify",)),
)


def derive(p: Profile, given: dict[str, Any] | None = None, own_model: bool = False) -> dict[str, Any]:
    """The options the rules set for this data; `given` (the user's own values) are kept, and later rules use them.

    So `--batch-size 64` alone still gets the learning rate and epochs that follow from batch 64. With
    `own_model` (a model the user built) only the rules on how to train apply (Rule.own_model).
    """
    given = given or {}
    values: dict[str, Any] = {}
    for rule in RULES:
        if own_model and not rule.own_model:
            continue
        if p.domain in rule.domains and p.layout in rule.layouts and p.task in rule.tasks and rule.option not in given:
            values[rule.option] = rule.value(p, {**values, **given})
    return values


def describe(p: Profile) -> str:
    """The data as the rules saw it, in a few words (for the run's note)."""
    what = {"node": "labelled nodes", "graph": "graphs"}.get(p.layout, "samples")
    parts = [f"{p.n_train} training {what}",
             {"classify": f"{p.num_classes} classes", "regress": f"{p.num_classes} target(s)",
              "multilabel": f"{p.num_classes} tags"}[p.task]]
    if p.task == "classify" and p.imbalance >= 3:
        parts.append(f"imbalance {p.imbalance:.3g}:1" if math.isfinite(p.imbalance) else "a class with no sample")
    if p.image_size:
        parts.append(f"{p.image_size} px")
    if p.length:
        parts.append(f"length {p.length}")
    if p.homophily is not None:
        parts.append(f"{p.homophily:.0%} of the edges between training nodes join one class")
    return ", ".join(parts)


def rules_markdown() -> str:
    """The README's table of derivation rules, generated from RULES."""
    lines = ["| option | domains | tasks | your own model (fit) | set from | rule | why |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in RULES:
        tasks = "all" if len(r.tasks) == 3 else ", ".join(r.tasks)
        lines.append(f"| `{r.option}` | {', '.join(r.domains)} | {tasks} | {'yes' if r.own_model else 'no'} | "
                     f"{r.quantity} | {r.text} | {r.why} |")
    return "\n".join(lines)


def inverse_frequency_weights(counts: list[int]) -> Tensor:
    """Loss weight per class, N / (K * n_k) over the K classes present (scikit-learn's "balanced"); 0 for absent ones.

    A class with no training sample never is a target, so its weight changes nothing but label smoothing's
    share; 0 keeps it from counting, and the present classes' weights stay scikit-learn's.
    """
    n = torch.tensor(counts, dtype=torch.float64)
    present = n > 0
    weights = torch.zeros_like(n)
    weights[present] = n.sum() / (int(present.sum()) * n[present])
    return weights.float()


def for_run(cfg: Any, domain: str, splits: DataSplits, recorded: str | None, world_size: int,
            own_model: bool = False) -> tuple[DataSplits, dict[str, Any], Profile, int | None]:
    """(splits, derived values, profile, epoch budget): the rules on this data, around the user's and a published recipe's values.

    The epoch budget is the epochs the rules (or a published recipe) would run without the user's --epochs.
    A derived select train_loss moves the validation samples into training (as --select train_loss does) and
    the rules run again on the larger split; under torchrun a derived batch rounds up to divide by the processes.
    `own_model`: the user built the model (fit), so no dataset's published recipe applies, and only the rules
    on how to train do.
    """
    given = {} if own_model else published(domain, splits.layout, None if recorded else splits.name)
    fixed = {**given, **cfg.explicit()}
    data_profile = profile(splits)
    derived = derive(data_profile, fixed, own_model)
    if derived.get("select") == "train_loss":
        splits = splits.without_validation()
        data_profile = profile(splits)
        derived = {"select": "train_loss", **derive(data_profile, {**fixed, "select": "train_loss"}, own_model)}
    if "batch_size" in derived and world_size > 1:
        derived["batch_size"] = -(-derived["batch_size"] // world_size) * world_size
    budget = None
    if "epochs" in cfg.explicit():  # what the run would be without the user's --epochs: the rules' epochs
        rest = {k: v for k, v in {**fixed, **derived}.items() if k != "epochs"}
        budget = given.get("epochs") or derive(data_profile, rest, own_model).get("epochs")
    return splits, derived, data_profile, budget
