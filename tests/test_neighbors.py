"""Graphs bigger than one full batch: the sparse adjacency, the neighbour sampler, sampled node training and its rule."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from resnet_any.data.neighbors import NeighborSampler, adjacency, pyg_sample, pyg_sampler_available
from resnet_any.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")


def _random_graph(n: int, e: int, seed: int = 0) -> torch.Tensor:
    """A directed multigraph-free edge list without self-loops (PyG's coalesce), n nodes, about e edges."""
    from torch_geometric.utils import coalesce

    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    return coalesce(ei[:, ei[0] != ei[1]], num_nodes=n)


def _in_neighbours(ei: torch.Tensor, n: int) -> list[set[int]]:
    nbrs: list[set[int]] = [set() for _ in range(n)]
    for s, t in ei.t().tolist():
        nbrs[t].add(s)
    return nbrs


def test_sampled_edges_exist_fanout_holds_small_degrees_keep_all_and_seeds_come_first() -> None:
    """Every hop, checked against the graph's own in-neighbour sets (built here with plain Python)."""
    n = 60
    # hubs 0-4 have many in-neighbours, the rest few: both sides of the fan-out
    hubs = torch.tensor([[s, t] for t in range(5) for s in range(5, 45)]).t()
    ei = torch.cat([hubs, _random_graph(n, 150)], 1)
    from torch_geometric.utils import coalesce

    ei = coalesce(ei, num_nodes=n)
    nbrs = _in_neighbours(ei, n)
    edges = set(map(tuple, ei.t().tolist()))
    sampler = NeighborSampler(ei, n)
    seeds = torch.tensor([0, 50, 1, 7])
    fan = (6, 3)
    for rep in range(20):
        sub = sampler.sample(seeds, fan, torch.Generator().manual_seed(rep))
        n_id = sub.n_id.tolist()
        assert n_id[:4] == seeds.tolist() and len(set(n_id)) == len(n_id)
        src, dst = sub.n_id[sub.edge_index[0]].tolist(), sub.n_id[sub.edge_index[1]].tolist()
        assert all((s, t) in edges for s, t in zip(src, dst))
        # e_id points at the very edge
        assert ei[:, sub.e_id].tolist() == [src, dst]
        # hop by hop: the frontier's drawn neighbours, at most k each, all of them when the degree is <= k
        frontier, seen = seeds.tolist(), set(seeds.tolist())
        drawn: dict[int, list[int]] = {}
        for s, t in zip(src, dst):
            drawn.setdefault(t, []).append(s)
        for k in fan:
            nxt = []
            for v in frontier:
                got = drawn.get(v, [])
                assert len(got) == len(set(got)) == min(k, len(nbrs[v])), (v, got)
                nxt += [u for u in got if u not in seen and not seen.add(u)]
            frontier = nxt
        assert sorted(nxt) == sorted(n_id[len(n_id) - len(nxt):])


def test_sampling_is_uniform_without_replacement() -> None:
    """A node with 10 in-neighbours and fan-out 3 draws each of them with probability 3/10 (binomial bounds)."""
    ei = torch.tensor([[i for i in range(1, 11)], [0] * 10])
    sampler = NeighborSampler(ei, 11)
    counts = torch.zeros(11)
    trials = 3000
    gen = torch.Generator().manual_seed(0)
    for _ in range(trials):
        sub = sampler.sample(torch.tensor([0]), (3,), gen)
        counts[sub.n_id[1:]] += 1
    p = counts[1:] / trials
    sd = (0.3 * 0.7 / trials) ** 0.5
    assert ((p - 0.3).abs() < 4.5 * sd).all(), p


@pytest.mark.skipif(not pyg_sampler_available(), reason="PyG's NeighborLoader needs pyg-lib or torch-sparse")
def test_same_distribution_as_pyg_neighbor_loader() -> None:
    """Where NeighborLoader runs: per node, how often it is sampled agrees with it within binomial noise."""
    from torch_geometric.data import Data

    n = 40
    ei = _random_graph(n, 400, seed=1)
    data = Data(edge_index=ei, num_nodes=n)
    sampler = NeighborSampler(ei, n)
    seeds, fan, trials = torch.tensor([0, 1]), (3, 2), 1500
    ours, theirs = torch.zeros(n), torch.zeros(n)
    for t in range(trials):
        ours[sampler.sample(seeds, fan, torch.Generator().manual_seed(t)).n_id] += 1
        sub = pyg_sample(data, seeds, fan)
        assert sub.n_id[:2].tolist() == [0, 1]
        theirs[sub.n_id] += 1
    p, q = ours / trials, theirs / trials
    assert ((p - q).abs() <= 5 * ((p * (1 - p) + q * (1 - q)) / trials).sqrt() + 1e-9).all()


def _sbm(n: int, classes: int = 4, features: int = 16, degree: float = 8.0, seed: int = 0):
    """A stochastic block model: 80% of a node's edges within its class, features its class mean plus noise."""
    from torch_geometric.data import Data
    from torch_geometric.utils import coalesce, to_undirected

    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    m = int(n * degree / 2)
    src = torch.randint(0, n, (m,), generator=g)
    same = torch.rand(m, generator=g) < 0.8
    by_class = [torch.nonzero(y == c).view(-1) for c in range(classes)]
    dst = torch.randint(0, n, (m,), generator=g)
    for c in range(classes):
        pick = same & (y[src] == c)
        dst[pick] = by_class[c][torch.randint(0, len(by_class[c]), (int(pick.sum()),), generator=g)]
    ei = coalesce(to_undirected(torch.stack([src, dst])[:, src != dst], num_nodes=n), num_nodes=n)
    means = torch.randn(classes, features, generator=g) * 0.5
    x = means[y] + torch.randn(n, features, generator=g)
    masks = torch.rand(n, generator=g)
    return Data(x=x, edge_index=ei, y=y, train_mask=masks < 0.2, val_mask=(masks >= 0.2) & (masks < 0.4),
                test_mask=masks >= 0.4)


@pytest.mark.parametrize("conv", ["gcn", "sage", "gin", "gat", "gcn2"])
def test_sparse_adjacency_gives_the_edge_index_logits(conv: str) -> None:
    """Our graph ResNet on the sparse adjacency computes what it computes on edge_index (PyG's message passing)."""
    from resnet_any.domains.graph import gcn_resnet

    g = _sbm(300)
    torch.manual_seed(0)
    model = gcn_resnet(16, 4, hidden_channels=8, depth=3, conv=conv).eval()
    dense = model(g.x, g.edge_index)
    sparse = model(g.x, adjacency(g.edge_index, g.num_nodes))
    assert torch.allclose(dense, sparse, atol=1e-5), (dense - sparse).abs().max()


def test_edge_weights_live_in_the_adjacency_values() -> None:
    """GCN with weights on edge_index equals GCN on the weighted sparse adjacency (no edge_weight passed again)."""
    from torch_geometric.nn import GCNConv

    g = _sbm(200)
    w = torch.rand(g.num_edges, generator=torch.Generator().manual_seed(1))
    conv = GCNConv(16, 8)
    assert torch.allclose(conv(g.x, g.edge_index, w), conv(g.x, adjacency(g.edge_index, g.num_nodes, w)), atol=1e-5)


@pytest.mark.parametrize("conv", ["gcn", "sage", "gin", "gat", "gcn2"])
def test_with_every_neighbour_sampled_the_seeds_get_their_full_graph_logits(conv: str) -> None:
    """Fan-out 'all' at every hop: a sampled forward is the full graph's at the seeds (GCN: with the graph's degrees)."""
    from resnet_any.domains.graph import gcn_resnet
    from resnet_any.train.run.tasks import NodeTask

    g = _sbm(400)
    g.edge_weight = torch.rand(g.num_edges, generator=torch.Generator().manual_seed(2)) + 0.5
    torch.manual_seed(0)
    model = gcn_resnet(16, 4, hidden_channels=8, depth=3, conv=conv, norm="none").eval()
    full = NodeTask(_splits(g), torch.device("cpu"), 1)
    sampled = NodeTask(_splits(g), torch.device("cpu"), 16, sampling="neighbor")
    sampled.fanouts = (-1, -1, -1)
    seeds = torch.tensor([3, 99, 250, 7])
    with torch.no_grad():
        whole = model(g.x, full._structure(model)[0])[seeds]
        part, y = sampled.forward(model, (seeds, 0))
    assert torch.allclose(whole, part, atol=1e-5), (whole - part).abs().max()
    assert torch.equal(y, g.y[seeds])
    # sampled (fan-out 2), GCN's normalisation is back on after the pass
    sampled.fanouts = (2, 2, 2)
    sampled.forward(model, (seeds, 1))
    from torch_geometric.nn import GCN2Conv, GCNConv

    assert all(m.normalize for m in model.modules() if isinstance(m, (GCNConv, GCN2Conv)))


def test_a_users_own_model_gets_the_sampled_edges_and_their_weights() -> None:
    """A model we did not build is called with the subgraph's edge_index and, as its forward takes them, its weights."""
    from torch_geometric.nn.models import GCN

    from resnet_any.train.run.tasks import NodeTask

    g = _sbm(300)
    g.edge_weight = torch.rand(g.num_edges, generator=torch.Generator().manual_seed(4))
    calls = []

    class Spy(GCN):
        def forward(self, x, edge_index, edge_weight=None):
            calls.append((edge_index, edge_weight))
            return super().forward(x, edge_index, edge_weight=edge_weight)

    task = NodeTask(_splits(g), torch.device("cpu"), 8, sampling="neighbor")
    task.forward(Spy(16, 8, 2, 4), (torch.tensor([1, 2, 3]), 0))
    (edge_index, weight), = calls
    assert not edge_index.is_sparse and weight is not None
    from resnet_any.train.plan.scale import fanouts

    sub = task._sampler.sample(torch.tensor([1, 2, 3]), fanouts(2), torch.Generator().manual_seed(0))
    assert torch.equal(edge_index, sub.edge_index) and torch.equal(weight, g.edge_weight[sub.e_id])


def test_weights_enter_the_adjacency_only_for_convolutions_that_weigh_edges() -> None:
    """GCN and GCNII take edge_weight on edge_index, so they get the weights; SAGE, GIN and GAT ignore them there."""
    from resnet_any.domains.graph import gcn_resnet
    from resnet_any.train.run.sampling import takes_weights

    weighs = {c: takes_weights(gcn_resnet(4, 2, depth=2, conv=c)) for c in ("gcn", "gcn2", "sage", "gin", "gat")}
    assert weighs == {"gcn": True, "gcn2": True, "sage": False, "gin": False, "gat": False}


def test_neighbor_run_records_its_mode_and_evaluates_as_full_batch(tmp_path: Path) -> None:
    """fit with --sampling neighbor: several seed batches an epoch, said in the notes; test scores = a full-batch pass."""
    import resnet_any
    from resnet_any.train.run.tasks import NodeTask, predict_split

    g = _sbm(2000)
    out = tmp_path / "run"
    summary = resnet_any.fit(None, g, domain="graph", sampling="neighbor", batch_size=128, epochs=3, device="cpu", quiet=True,
                  out=str(out))
    config = json.loads((out / "config.json").read_text())
    assert config["sampling"] == "neighbor" and config["batch_size"] == 128
    assert any(n.startswith("sampling: neighbour-sampled training (--sampling neighbor)") for n in summary["notes"])
    assert summary["test_accuracy"] > 0.5  # 4 classes: it learned from the sampled batches
    # evaluation of a sampled run is a full-batch pass: the same logits as a full-batch task's
    from resnet_any.train import load_checkpoint

    model = load_checkpoint(out / "best.pt")[0]
    splits = _splits(g)
    a, ya = predict_split(model, NodeTask(splits, torch.device("cpu"), 1), "test")
    b, yb = predict_split(model, NodeTask(splits, torch.device("cpu"), 128, sampling="neighbor"), "test")
    assert torch.equal(a, b) and torch.equal(ya, yb)


def test_an_epoch_of_seed_batches_visits_every_training_node_once() -> None:
    """Sampled training: ceil(train / batch) steps, the seeds of an epoch are the training nodes, each once."""
    from resnet_any.train.run.tasks import NodeTask

    g = _sbm(500)
    task = NodeTask(_splits(g), torch.device("cpu"), 32, sampling="neighbor")
    n = int(g.train_mask.sum())
    batches = list(task.batches("train", torch.Generator().manual_seed(0)))
    assert task.steps_per_epoch() == len(batches) == -(-n // 32) - (n % 32 == 1)
    seeds = torch.cat([b[0] for b in batches])
    assert len(seeds) == len(set(seeds.tolist())) and bool(g.train_mask[seeds].all())
    assert len(seeds) >= n - 1


def _splits(g):
    from resnet_any.data.base import DataSplits

    return DataSplits(name="sbm", domain="graph", layout="node", train=None, val=None, test=None, num_classes=4,
                      class_names=["0", "1", "2", "3"], in_channels=int(g.num_features), graph=g)


def test_rule_samples_above_the_budget_and_refuses_what_sampled_cannot_hold(monkeypatch) -> None:
    """auto picks neighbor when the full-batch estimate passes the budget; too big even sampled: one UserError."""
    from resnet_any.train.plan import recipes, scale

    g = _sbm(20000)
    splits = _splits(g)
    config = recipes.resolve(recipes.TrainConfig(domain="graph"), "node", "sbm", recorded="sbm")
    shape = scale.shape(config, splits, None)
    assert (shape.nodes, shape.edges, shape.width, shape.layers) == (20000, g.num_edges, 64, 2)
    assert shape.sampled(8) < shape.full_batch() < shape.sampled(scale.SAMPLED_BATCH)  # 1,024 seeds reach every node
    cpu = torch.device("cpu")
    monkeypatch.setattr(scale, "budget", lambda device: (shape.full_batch() + 1, "test"))
    assert scale.choose(config, splits, cpu, None, {})[0].sampling == "full"
    monkeypatch.setattr(scale, "budget", lambda device: (shape.full_batch() - 1, "test"))
    chosen, note = scale.choose(config, splits, cpu, None, {"batch_size": 8})
    assert chosen.sampling == "neighbor" and "(auto)" in note
    with pytest.raises(UserError, match="even with sampled neighbourhoods"):
        scale.choose(config, splits, cpu, None, {})
    monkeypatch.setattr(scale, "budget", lambda device: (10**12, "test"))
    forced = dataclasses.replace(config, sampling="neighbor")
    assert scale.choose(forced, splits, cpu, None, {})[0].batch_size == scale.SAMPLED_BATCH
    # what the user chose is kept, with the reason still said
    forced = dataclasses.replace(config, sampling="full")
    assert scale.choose(forced, splits, cpu, None, {})[0].sampling == "full"


def test_ranks_draw_disjoint_seed_nodes() -> None:
    """Under torchrun each rank's seeds are its slice of every global batch of one shared order: disjoint, all covered."""
    from resnet_any.train import distributed
    from resnet_any.train.run.tasks import NodeTask, shuffled

    g = _sbm(500)
    per_rank = []
    for rank in (0, 1):
        info = distributed.DistInfo(rank, 2)
        task = NodeTask(_splits(g), torch.device("cpu"), 16, sampling="neighbor",
                        order=lambda n, gen, info=info: distributed.shard(shuffled(n, gen), info, 16))
        per_rank.append(torch.cat([b[0] for b in task.batches("train", torch.Generator().manual_seed(3))]))
    a, b = (set(s.tolist()) for s in per_rank)
    n = int(g.train_mask.sum())
    assert not a & b and len(a) == len(b) and n - 2 <= len(a | b) <= n


def test_torchrun_trains_sampled_batches_on_every_rank(tmp_path: Path) -> None:
    """2 gloo ranks with --sampling neighbor join one group (no rank trains alone) and write one run."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "resnet_any.train", "--domain", "graph", "--sampling", "neighbor", "--batch-size", "64", "--epochs", "1",
           "--width", "8", "--device", "cpu", "--quiet", "--out", str(tmp_path / "run")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240, cwd=repo)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trains alone" not in proc.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["sampling"], config["batch_size"]) == ("neighbor", 64)
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize("conv", ["gcn", "sage", "gat"])
def test_a_node_task_scores_what_edge_index_gives_on_self_loops_and_repeated_edges(conv: str) -> None:
    """With a self-loop and a repeated edge the node task's logits are edge_index's (predict and explain use it)."""
    from resnet_any.domains.graph import gcn_resnet
    from resnet_any.train.run.tasks import NodeTask

    g = _sbm(300)
    extra = torch.tensor([[0, 5, 5], [0, 6, 6]])  # a self-loop on node 0, the edge 5 -> 6 twice more
    g.edge_index = torch.cat([g.edge_index, extra], 1)
    g.train_mask = g.val_mask = g.test_mask = torch.ones(300, dtype=torch.bool)
    torch.manual_seed(0)
    model = gcn_resnet(16, 4, hidden_channels=8, depth=2, conv=conv).eval()
    task = NodeTask(_splits(g), torch.device("cpu"), 8)
    with torch.no_grad():
        logits, _ = task.forward(model, "test")
        assert torch.allclose(logits, model(g.x, g.edge_index), atol=1e-5)


def test_a_repeated_seed_gets_its_own_logits_not_an_empty_neighbourhood() -> None:
    """--sampler balanced repeats seeds: each copy gets the logits of the seed sampled once."""
    from resnet_any.domains.graph import gcn_resnet
    from resnet_any.train.run.tasks import NodeTask

    g = _sbm(300)
    torch.manual_seed(0)
    model = gcn_resnet(16, 4, hidden_channels=8, depth=2).eval()
    task = NodeTask(_splits(g), torch.device("cpu"), 8, sampling="neighbor")
    task.fanouts = (1000, 1000)  # every neighbour: the seeds' logits are the full graph's
    with torch.no_grad():
        logits, y = task.forward(model, (torch.tensor([3, 3, 7]), 0))
        full = model(g.x, g.edge_index)
    assert torch.allclose(logits, full[[3, 3, 7]], atol=1e-5) and torch.equal(y, g.y[[3, 3, 7]])
