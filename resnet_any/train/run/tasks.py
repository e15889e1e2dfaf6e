"""Tasks: how a domain's data becomes (inputs, targets) batches on the device, for the one training loop.

classify: mini-batches of (x, y) pairs (images as uint8, normalised and augmented on the device);
node:     one graph, full batch or sampled neighbourhoods of seed nodes, losses and metrics over the split's node mask;
graph:    mini-batches of whole graphs (PyG Batch), one prediction per graph.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import torch
from torch import Tensor, nn

from resnet_any.data.base import DataSplits
from resnet_any.domains.graph import edge_inputs
from resnet_any.errors import UserError
from resnet_any.train.run import sampling as sampled

# The order in which one epoch visits the training samples; DDP swaps in a rank-sharded version.
OrderFn = Callable[[int, torch.Generator], Tensor]
# Evaluation batches on a GPU (more samples per launch keep it busy). On a CPU 32-64: batches of 256 ran
# 1.2-2.4x slower than 32 or 64 (the fastest on each of 5 shapes: resnet18 at 32/64/224 px, resnet50 at
# 160 px, series_resnet at 150 and 1,000 steps; 2-core EPYC) as their activations spill out of the cache.
EVAL_BATCH_GPU = 256
EVAL_BATCH_CPU = (32, 64)


def eval_batch_size(batch_size: int, device: torch.device) -> int:
    """Samples per evaluation batch: the training batch size held within EVAL_BATCH_CPU on a CPU, else >= 256."""
    if device.type == "cpu":
        return min(max(batch_size, EVAL_BATCH_CPU[0]), EVAL_BATCH_CPU[1])
    return max(batch_size, EVAL_BATCH_GPU)


def shuffled(n: int, generator: torch.Generator) -> Tensor:
    """A seeded permutation of range(n): the single-process sample order."""
    return torch.randperm(n, generator=generator)


class Task:
    """Batches one kind of data for training and evaluation; subclasses say how."""

    kind = ""

    def __init__(self, splits: DataSplits, device: torch.device, batch_size: int, workers: int = 0,
                 channels_last: bool = False, order: OrderFn = shuffled) -> None:
        self.splits = splits
        self.device = device
        self.batch_size = batch_size
        self.workers = workers
        self.channels_last = channels_last
        self.order = order
        # --mixup/--cutmix: set by the trainer on (x, y) tasks (regularize.make_mix)
        self.mix: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None = None

    def size(self, split: str) -> int:
        """Number of samples (images, series, nodes or graphs) in a split."""
        raise NotImplementedError

    def target(self, y: Tensor) -> Tensor:
        """A batch's targets as the objective takes them: class indices (N,), else float (N, K) (NaN = missing)."""
        if self.splits.task == "classify":
            return y.long().view(-1)
        return y.float().view(len(y), -1)

    def has(self, split: str) -> bool:
        """Whether the data has this split at all (a `fit` without test data has none; a graph, no mask for it)."""
        return self.splits.has(split)

    def steps_per_epoch(self) -> int:
        """Optimizer steps in one training epoch (of this rank's shard under DDP)."""
        return len(self._train_index_batches(self.order(self.size("train"), torch.Generator().manual_seed(0))))

    def _train_index_batches(self, idx: Tensor) -> list[Tensor]:
        bs = self.batch_size
        # a last batch of one sample breaks BatchNorm in train mode (and is noise anyway): drop it
        if len(idx) > 1 and len(idx) % bs == 1:
            idx = idx[:-1]
        return list(idx.split(bs))

    def batches(self, split: str, generator: torch.Generator | None = None) -> Iterator[Any]:
        """Batches of a split: shuffled by `generator` for training, in order otherwise."""
        raise NotImplementedError

    def forward(self, model: nn.Module, batch: Any, train: bool = False,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Run the model on one batch: (logits, integer targets) on the device."""
        raise NotImplementedError

    def train_forward(self, model: nn.Module, batch: Any,
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """A training batch's (logits, integer targets, loss targets): the same targets unless batches are mixed."""
        logits, y = self.forward(model, batch, train=True, generator=generator)
        return logits, y, y

    def session(self, model: nn.Module) -> contextlib.AbstractContextManager:
        """What the task may keep about the model for the length of a run (nothing unless a subclass says)."""
        return contextlib.nullcontext()


class SampleTask(Task):
    """(x, y) datasets in mini-batches; uint8 images are augmented and normalised on the device."""

    kind = "samples"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meta = self.splits.meta
        self.is_image = False
        for name in ("train", "val", "test") if "mean" in self.meta else ():
            ds = getattr(self.splits, name)
            if ds is not None and len(ds):
                self.is_image = torch.as_tensor(ds[0][0]).dtype == torch.uint8
                break
        self._cache: dict[str, tuple[Tensor, Tensor]] = {}

    def _dataset(self, split: str):
        ds = getattr(self.splits, split)
        if ds is None:
            raise UserError(f"dataset {self.splits.name!r} has no {split} split")
        return ds

    def size(self, split: str) -> int:
        """Number of samples in a split."""
        ds = getattr(self.splits, split)
        return 0 if ds is None else len(ds)

    def _tensors(self, split: str) -> tuple[Tensor, Tensor] | None:
        # in-memory datasets (ArrayDataset exposes .x/.y) are batched by indexing: no per-sample
        # Python, and on a GPU they move there once instead of every epoch
        ds = self._dataset(split)
        if not (isinstance(getattr(ds, "x", None), Tensor) and isinstance(getattr(ds, "y", None), Tensor)):
            return None
        if split not in self._cache:
            x, y = ds.x, ds.y.long() if self.splits.task == "classify" else ds.y.float()
            if self.device.type != "cpu" and x.numel() * x.element_size() < 2**30:
                x, y = x.to(self.device), y.to(self.device)
            self._cache[split] = (x, y)
        return self._cache[split]

    def batches(self, split: str, generator: torch.Generator | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """(x, y) batches of a split."""
        n = self.size(split)
        train = generator is not None
        idx = self.order(n, generator) if train else torch.arange(n)
        if train:
            chunks = self._train_index_batches(idx)
        else:
            chunks = list(idx.split(eval_batch_size(self.batch_size, self.device)))
        tensors = self._tensors(split)
        if tensors is not None:
            x, y = tensors
            for chunk in chunks:
                chunk = chunk.to(x.device)
                yield x[chunk], y[chunk]
            return
        from torch.utils.data import DataLoader

        loader = DataLoader(self._dataset(split), batch_sampler=[c.tolist() for c in chunks],
                            num_workers=self.workers, pin_memory=self.device.type == "cuda",
                            persistent_workers=False)
        yield from loader

    def prepare(self, x: Tensor, train: bool, generator: torch.Generator | None = None) -> Tensor:
        """Move a batch to the device; images get augmentation (train only) and normalisation there."""
        x = x.to(self.device, non_blocking=True)
        if self.is_image:
            from resnet_any.data import augment, normalize

            if train and self.meta.get("augment"):
                x = augment(x, self.meta, generator=generator)
            x = normalize(x, self.meta)
            if self.channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
        else:
            x = x.float()
        return x

    def forward(self, model: nn.Module, batch: tuple[Tensor, Tensor], train: bool = False,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Logits and targets of one (x, y) batch."""
        x, y = batch
        return model(self.prepare(x, train, generator)), self.target(y.to(self.device, non_blocking=True))

    def train_forward(self, model: nn.Module, batch: tuple[Tensor, Tensor],
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Logits, integer targets and loss targets of a training batch: soft ones when mixed (--mixup/--cutmix)."""
        if self.mix is None:
            return super().train_forward(model, batch, generator)
        x, y = batch
        y = y.to(self.device, non_blocking=True).long()
        # mixed after augmentation and normalisation, on the device; accuracy still counts the original labels
        x, soft = self.mix(self.prepare(x, True, generator), y)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return model(x), y, soft



class NodeTask(Task):
    """Node classification on one graph: masks pick the split's nodes.

    `sampling` "full" trains on the whole graph each step; "neighbor" on the sampled neighbourhoods of
    `batch_size` training nodes a step (data/neighbors.py), the loss on those seeds. Evaluation always runs
    the whole graph with every neighbour, so its scores are full-batch's: the model in eval mode, no gradient,
    one layer after another over all nodes (what PyG's layer-wise `inference` computes in chunks; here the
    whole layer at once, which fits whenever nodes x width does, and keeps the residual blocks as they are).
    Our graph ResNets get the sparse adjacency (memory nodes x width, not edges x width per layer); a
    user's own model gets `edge_index`, as it may index it.
    """

    kind = "node"

    def __init__(self, *args: Any, sampling: str = "full", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sampling = sampling
        # its masks were checked by the plan (inputs.check_run); a sampled run keeps the graph where it was
        # loaded and moves each subgraph (and, to evaluate, the whole graph's features) to the device
        g = self.splits.graph
        self.graph = g.to(self.device) if sampling == "full" else g
        self._adj: Tensor | None = None
        self._sampler = None
        self._degrees: tuple[Tensor, Tensor] | None = None
        self._train_nodes: Tensor | None = None
        self.fanouts: tuple[int, ...] | None = None  # in-neighbours per hop; None: plan.scale.fanouts of the model
        self._exact: bool | None = None  # whether the sparse adjacency computes what edge_index does (sparse_is_exact)

    def size(self, split: str) -> int:
        """Number of nodes in a split's mask."""
        return int(self.graph[f"{split}_mask"].sum()) if self.has(split) else 0

    def steps_per_epoch(self) -> int:
        """One full-batch step per epoch, or one per batch of seed nodes."""
        return 1 if self.sampling == "full" else super().steps_per_epoch()

    def batches(self, split: str, generator: torch.Generator | None = None) -> Iterator[Any]:
        """The split name (the whole graph once), or, training sampled, (seed nodes, sampling seed) batches."""
        if self.sampling == "full" or generator is None:
            yield split
            return
        if self._train_nodes is None:
            self._train_nodes = self.graph.train_mask.nonzero().view(-1).cpu()
        for chunk in self._train_index_batches(self.order(len(self._train_nodes), generator)):
            yield self._train_nodes[chunk], int(torch.randint(2**62, (1,), generator=generator))

    @contextlib.contextmanager
    def session(self, model: nn.Module) -> Iterator[None]:
        """For the run, PyG's GCN-family convolutions normalise this one graph's adjacency once (their `cached`).

        Every forward of a full-batch run sees the same graph, so the renormalisation each convolution does on
        every call (self-loops, degrees, D^-1/2 A D^-1/2) gives the same tensors each time: caching them computes
        exactly what the uncached run does (Cora's 4-convolution GCNII: ~10 ms of a ~80 ms epoch on 2 cores).
        The flags and caches are put back after the run, so the model then serves other graphs as built.
        A sampled run sees a new subgraph every step: nothing is cached there (sampling.uncache).
        """
        if self.sampling != "full":
            yield
            return
        convs = [m for m in model.modules() if isinstance(getattr(m, "cached", None), bool)
                 and hasattr(m, "_cached_edge_index")]
        flags = [m.cached for m in convs]
        for m in convs:
            m.cached = True
        try:
            yield
        finally:
            for m, flag in zip(convs, flags):
                m.cached = flag
                m._cached_edge_index, m._cached_adj_t = None, None

    def forward(self, model: nn.Module, batch: Any, train: bool = False,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Logits and labels of the split's nodes (the model sees the whole graph), or of a batch's seeds."""
        g = self.graph
        if isinstance(batch, str):
            mask = g[f"{batch}_mask"]
            x = g.x.to(self.device, non_blocking=True)
            structure, extra = self._structure(model)
            return model(x, structure, **extra)[mask.to(self.device)], self.target(g.y[mask].to(self.device))
        seeds, seed = batch
        # --sampler balanced draws seeds with replacement; the sampler numbers each node once, so a repeated
        # seed is sampled once and its logits repeated
        unique, back = seeds.unique(return_inverse=True)
        sub = self._sample(model, unique, seed)
        x = g.x[sub.n_id].to(self.device, non_blocking=True)
        with sampled.subgraph_structure(model, g, sub, self._degrees) as (structure, extra):
            extra = {k: v.to(self.device) for k, v in extra.items()}
            logits = model(x, structure.to(self.device), **extra)[:sub.num_seeds][back.to(self.device)]
        return logits, self.target(g.y[seeds].to(self.device))

    def _structure(self, model: nn.Module) -> tuple[Tensor, dict[str, Tensor]]:
        """The whole graph as the model takes it, and its keyword inputs: our graph ResNets get the sparse adjacency
        (built once, edge weights in its values, so `edge_weight` is not passed again); a model of the user's own
        gets edge_index and the edge weights where its forward takes them."""
        g = self.graph
        if self._exact is None:
            self._exact = sampled.sparse_is_exact(g)
        if not sampled.takes_sparse(model) or not self._exact:
            return g.edge_index.to(self.device), {k: v.to(self.device) for k, v in edge_inputs(model, g).items()}
        if self._adj is None:
            from resnet_any.data.neighbors import adjacency

            weights = getattr(g, "edge_weight", None) if sampled.takes_weights(model) else None
            self._adj = adjacency(g.edge_index, int(g.num_nodes), weights).to(self.device)
        return self._adj, {}

    def _sample(self, model: nn.Module, seeds: Tensor, seed: int):
        """The seeds' neighbourhood, one hop per graph convolution of the model (or `fanouts` where set)."""
        from resnet_any.data.neighbors import NeighborSampler
        from resnet_any.train.plan.scale import fanouts

        if self._sampler is None:
            self._sampler = NeighborSampler(self.graph.edge_index, int(self.graph.num_nodes))
            self._degrees = sampled.in_degrees(self.graph)
            sampled.uncache(model)
        hops = self.fanouts or fanouts(sampled.convolutions(model))
        return self._sampler.sample(seeds, hops, torch.Generator().manual_seed(seed))


class GraphTask(Task):
    """Graph-level classification: mini-batches of graphs merged into one disconnected PyG Batch."""

    kind = "graph"

    def size(self, split: str) -> int:
        """Number of graphs in a split."""
        ds = getattr(self.splits, split)
        return 0 if ds is None else len(ds)

    def batches(self, split: str, generator: torch.Generator | None = None) -> Iterator[Any]:
        """PyG Batch objects of a split."""
        from torch_geometric.loader import DataLoader

        ds = getattr(self.splits, split)
        n = len(ds)
        if generator is not None:
            chunks = self._train_index_batches(self.order(n, generator))
        else:
            chunks = list(torch.arange(n).split(eval_batch_size(self.batch_size, self.device)))
        yield from DataLoader(ds, batch_sampler=[c.tolist() for c in chunks], num_workers=self.workers)

    def forward(self, model: nn.Module, batch: Any, train: bool = False,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Logits per graph and the graphs' labels."""
        b = batch.to(self.device)
        return model(b.x.float(), b.edge_index, b.batch, **edge_inputs(model, b)), self.target(b.y.view(b.num_graphs, -1))



@torch.no_grad()
def predict_split(model: nn.Module, task: Task, split: str) -> tuple[Tensor, Tensor]:
    """Logits (fp32) and targets of a whole split, gathered on the CPU, with the model in eval mode.

    It computes in the caller's precision: the trainer's per-epoch validation runs under its autocast;
    the run's test scores, `evaluate` and `predict` call it outside any, so an exported model reproduces
    the reported test metrics whatever --amp the run trained with (to float rounding where evaluation
    batch sizes differ).
    """
    model.eval()
    logits, targets = [], []
    for batch in task.batches(split):
        out, y = task.forward(model, batch)
        logits.append(out.float().cpu())
        targets.append(y.cpu())
    return torch.cat(logits), torch.cat(targets)


TASKS: dict[str, type[Task]] = {"samples": SampleTask, "node": NodeTask, "graph": GraphTask}


def make_task(splits: DataSplits, device: torch.device, batch_size: int, workers: int = 0,
              channels_last: bool = False, order: OrderFn = shuffled, sampling: str = "full") -> Task:
    """The Task for a DataSplits' kind (`sampling`: how a node task trains, full or neighbor)."""
    if splits.layout not in TASKS:
        raise UserError(f"unknown layout {splits.layout!r} for dataset {splits.name!r}; valid: {', '.join(TASKS)}")
    if splits.layout == "node":
        return NodeTask(splits, device, batch_size, workers, channels_last, order, sampling=sampling)
    return TASKS[splits.layout](splits, device, batch_size, workers, channels_last, order)

