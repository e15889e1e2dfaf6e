"""planetoid: graph ResNet depth sweep on a Planetoid public split (Cora by default), mean ± std over seeds."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch

from resnet_any.bench.runs import parallel_map
from resnet_any.bench.table import seeds_row
from resnet_any.errors import UserError

HELP = "GCN ResNet depth sweep (2..64 layers) on Cora/CiteSeer/PubMed public splits, beside GCN, ResGCN, JKNet, GCNII"

DEPTHS = (2, 4, 8, 16, 32, 64)
GOAL, STRETCH = 0.80, 0.84

# Published test accuracy on the public split by depth (Cora): GCN 2 layers (Kipf & Welling 2017);
# ResGCN and JKNet without DropEdge (Rong et al. 2020, DropEdge, Table 3); GCNII (Chen et al. 2020,
# Table 3, same sweep)
PUBLISHED = {
    "cora": {
        "GCN": {2: 0.815},
        "ResGCN": {4: 0.788, 8: 0.756, 16: 0.722, 32: 0.766, 64: 0.611},
        "JKNet": {4: 0.802, 8: 0.807, 16: 0.802, 32: 0.811, 64: 0.715},
        "GCNII": {2: 0.822, 4: 0.826, 8: 0.842, 16: 0.846, 32: 0.854, 64: 0.855},
    },
    # GCN (Kipf & Welling 2017, Table 2); GCNII at its chosen depth (Chen et al. 2020, Table 2)
    "citeseer": {"GCN": {2: 0.703}, "GCNII": {32: 0.734}},
    "pubmed": {"GCN": {2: 0.790}, "GCNII": {16: 0.803}},
}
# the anchor per depth: GCN at 2 layers, GCNII at 64, the best residual/JK baseline between
PRIMARY = {"cora": {2: "GCN", 4: "JKNet", 8: "JKNet", 16: "JKNet", 32: "JKNet", 64: "GCNII"},
           "citeseer": {2: "GCN", 32: "GCNII"}, "pubmed": {2: "GCN", 16: "GCNII"}}


@dataclass(frozen=True)
class Recipe:
    """A full-batch graph recipe: the trainer's own for the dataset (recipes.py), or a comparison variant of it."""

    config: dict = field(default_factory=dict)   # training options: model_kwargs, lr, weight decays, ...
    epochs: int = 1500
    patience: int = 100

    def describe(self) -> str:
        """A short one-line summary for the table's note column."""
        c, m = self.config, self.config["model_kwargs"]
        parts = [m.get("style", "res+")]
        if m.get("style") != "gcnii":
            parts.append(f"{m.get('conv', 'gcn')}/{m.get('norm', 'batch')}")
        else:
            parts.append(f"a={m.get('alpha', 0.1)} th={m.get('theta', 0.5)}")
        conv = c.get("weight_decay_by_prefix", {}).get("layer", c["weight_decay"])
        parts += [f"h{m.get('hidden_channels', 64)}", f"drop {m.get('dropout', 0.5)}", f"lr {c['lr']}",
                  f"wd {conv:g}/{c['weight_decay']:g}", f"<= {self.epochs} ep, patience {self.patience}"]
        return ", ".join(parts)


# "gcnii" is GCNII's published recipe (Chen et al. 2020): Cora's is the trainer's recipe for Cora
# (resnet_any/train/plan/recipes.py), so on Cora the benchmark measures what `train --domain graph` runs at each
# depth; CiteSeer and PubMed take the paper's published changes to it (their scripts), as the trainer's
# default for those graphs is the 2-convolution GCN ResNet. "res+" swaps in DeepGCN's pre-activation
# residual over GCN convolutions, for comparison with ResGCN.
GCNII_CHANGES = {"citeseer": dict(model_kwargs=dict(hidden_channels=256, theta=0.6, dropout=0.7, input_dropout=0.7)),
                 "pubmed": dict(model_kwargs=dict(hidden_channels=256, theta=0.4, dropout=0.5, input_dropout=0.5),
                                weight_decay_by_prefix={"layer": 5e-4})}
RES_PLUS = dict(model_kwargs=dict(style="res+", conv="gcn", norm="batch", hidden_channels=64, dropout=0.5,
                                  input_dropout=0.5), lr=0.01, weight_decay=5e-4, weight_decay_by_prefix={})
RECIPES = ("gcnii", "res+")


def recipe_for(name: str, dataset: str) -> Recipe:
    """The named recipe for a Planetoid dataset, as training options."""
    from resnet_any.train.plan.recipes import recipe_for as trainer_recipe

    base = trainer_recipe("graph", "node", "cora")
    keep = ("model_kwargs", "optimizer", "lr", "weight_decay", "weight_decay_by_prefix", "schedule")
    config = {k: base[k] for k in keep if k in base}
    changes = GCNII_CHANGES.get(dataset.lower(), {})
    config.update({k: v for k, v in changes.items() if k != "model_kwargs"})
    config["model_kwargs"] = {**config["model_kwargs"], **changes.get("model_kwargs", {})}
    config.setdefault("weight_decay_by_prefix", {})
    if name == "res+":
        config.update(RES_PLUS)
    return Recipe(config=config)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the planetoid suite."""
    p.add_argument("--dataset", default="cora", help="cora (shipped), citeseer or pubmed (need --data-dir)")
    p.add_argument("--data-dir", metavar="ROOT", help="a Planetoid root holding NAME/raw/ind.name.*")
    p.add_argument("--depths", default=",".join(map(str, DEPTHS)), help="comma list of graph-convolution counts")
    p.add_argument("--seeds", type=int, default=10, help="seeds per depth (mean ± std)")
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds run are first-seed .. first-seed + seeds - 1 (to add seeds to an earlier sweep)")
    p.add_argument("--recipe", default="gcnii", help=f"one of {', '.join(RECIPES)}")
    p.add_argument("--epochs", type=int, help="cap on epochs (default: the recipe's 1500)")
    p.add_argument("--patience", type=int, help="stop after this many epochs without a validation gain")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time in separate processes, one thread each "
                   "(on CPU, 2 jobs on 2 cores beat 1 job on 2 threads: dropout's RNG runs serially)")
    p.add_argument("--quick", action="store_true", help="smoke mode: depths 2,8, one seed, 60 epochs")


def _ints(text: str, what: str) -> list[int]:
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"--{what} must be a comma list of positive integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise UserError(f"--{what} must be a comma list of positive integers, got {text!r}")
    return vals


def train_node(dataset: str, data_dir: str | None, depth: int, recipe: Recipe, seed: int,
               device: torch.device) -> dict[str, Any]:
    """One full-batch run through the Trainer; it picks the epoch on validation accuracy (ties: val loss)."""
    from resnet_any.bench.runs import train_once

    # one fixed graph: the normalised adjacency is computed once, not once per layer and call
    kwargs = {**recipe.config["model_kwargs"], "depth": depth, "cached": True}
    config = dict(recipe.config, domain="graph", dataset=dataset, data_dir=data_dir, model="gcn_resnet",
                  model_kwargs=kwargs, epochs=recipe.epochs, label_smoothing=0.0, seed=seed, device=str(device))
    return train_once(config, patience=recipe.patience)


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict]:
    """Run the depth sweep and return one row per depth."""
    from resnet_any.bench.timing import resolve_device
    from resnet_any.data import load_dataset

    dataset = args.dataset.lower()
    if dataset not in PUBLISHED:
        raise UserError(f"unknown --dataset {args.dataset!r}; valid: {', '.join(PUBLISHED)}")
    if args.recipe not in RECIPES:
        raise UserError(f"unknown --recipe {args.recipe!r}; valid: {', '.join(RECIPES)}")
    depths = _ints(args.depths, "depths")
    for name in ("seeds", "epochs", "patience", "threads", "jobs"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UserError(f"--{name} must be >= 1, got {v}")
    if args.first_seed < 0:
        raise UserError(f"--first-seed must be >= 0, got {args.first_seed}")
    recipe = recipe_for(args.recipe, dataset)
    seeds = args.seeds
    first = args.first_seed
    if args.quick:
        depths, seeds, recipe = [2, 8], 1, replace(recipe, epochs=60, patience=60)
    recipe = replace(recipe, epochs=args.epochs or recipe.epochs, patience=args.patience or recipe.patience)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    splits = load_dataset("graph", dataset, args.data_dir)  # a bad --data-dir fails here, before any run
    data = splits.graph
    log(f"planetoid: {splits.name}, {int(data.num_nodes)} nodes, recipe {args.recipe}: {recipe.describe()}; "
        f"{args.jobs} job(s) x {1 if args.jobs > 1 else torch.get_num_threads()} thread(s) on {device}")
    rows = []
    seed_list = list(range(first, first + seeds))
    tasks = [(dataset, args.data_dir, depth, recipe, seed, device) for depth in depths for seed in seed_list]
    results: dict[tuple[int, int], dict[str, Any]] = {}
    for (depth, seed), r in zip(((t[2], t[4]) for t in tasks), parallel_map(train_node, tasks, args.jobs)):
        results[depth, seed] = r
        log(f"  {dataset}@{depth} seed {seed}: test {r['test_accuracy']:.3f} (val {r['best_val_acc']:.3f} at "
            f"epoch {r['best_epoch']}/{r['epochs_run']}, {r['seconds']:.0f} s)")
    for depth in depths:
        runs = [results[depth, seed] for seed in seed_list]
        anchors = {k: v[depth] for k, v in PUBLISHED[dataset].items() if depth in v}
        primary = PRIMARY[dataset].get(depth)
        note = (f"anchor {primary}; " if primary else "") + recipe.describe()
        rows.append(seeds_row(
            "planetoid", f"{dataset}@{depth}", "test_accuracy", [r["test_accuracy"] for r in runs],
            anchors.get(primary) if primary else None, "fraction",
            goal=GOAL if dataset == "cora" else None,
            stretch=STRETCH if dataset == "cora" and depth >= 32 else None,
            anchors=anchors or None, recipe=args.recipe, recipe_detail=recipe.describe(),
            val_accuracy=sum(r["best_val_acc"] for r in runs) / len(runs),
            seeds_run=seed_list, best_epochs=[r["best_epoch"] for r in runs], epochs_run=[r["epochs_run"] for r in runs],
            seconds_per_run=sum(r["seconds"] for r in runs) / len(runs),
            threads=1 if args.jobs > 1 else torch.get_num_threads(), jobs=args.jobs, note=note))
    return rows
