"""What makes a full-batch graph epoch cheaper computes what the plain path does: the sparse input dropout's
CSR output and cache, the run-long GCN normalisation cache, checkpoint snapshots."""
from __future__ import annotations

import torch
from torch import nn

from resnet_any.domains.graph import SparseDropout


def _bag_of_words(n: int = 60, f: int = 200, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, f, generator=g) < 0.03).float() * torch.rand(n, f, generator=g)


def test_csr_output_holds_the_dense_dropouts_values_and_feeds_a_linear() -> None:
    x = _bag_of_words()
    dense, sparse = SparseDropout(0.5), SparseDropout(0.5, sparse_out=True)
    torch.manual_seed(1)
    a = dense.train()(x)
    torch.manual_seed(1)
    b = sparse.train()(x)
    assert b.layout == torch.sparse_csr and torch.equal(b.to_dense(), a)  # the same draws, the same values
    assert torch.equal(sparse.eval()(x).to_dense(), x)
    lin = nn.Linear(200, 8)
    ref = lin(a)
    ref.sum().backward()
    grad = lin.weight.grad.clone()
    lin.weight.grad = None
    out = lin(b)
    out.sum().backward()
    assert torch.allclose(out, ref, atol=1e-6) and torch.allclose(lin.weight.grad, grad, atol=1e-5)
    dense_input = torch.rand(20, 10) + 0.1  # no zeros: a CSR matrix would only be slower
    assert sparse.eval()(dense_input) is dense_input


def test_the_nonzeros_cache_follows_the_tensor_not_its_address() -> None:
    drop = SparseDropout(0.5).train()
    x = _bag_of_words(seed=2)
    drop(x)
    x[0, :] = 1.0  # in place: its version counter moves, the positions are found again
    torch.manual_seed(3)
    y = drop(x)
    assert int((y[0] != 0).sum()) > 0
    other = _bag_of_words(seed=4)  # another tensor (maybe at a freed address): never the old positions
    torch.manual_seed(3)
    z = drop(other)
    assert bool(((z != 0) <= (other != 0)).all()) and int((z != 0).sum()) > 0


def test_a_full_batch_run_caches_gcn_normalisation_only_while_it_runs() -> None:
    from torch_geometric.nn import GCN2Conv, GCNConv

    from resnet_any.data.base import DataSplits
    from resnet_any.train.run.tasks import NodeTask

    g = torch.Generator().manual_seed(5)
    edge_index = torch.randint(0, 30, (2, 120), generator=g)
    from torch_geometric.data import Data

    data = Data(x=torch.randn(30, 8, generator=g), edge_index=edge_index, y=torch.randint(0, 3, (30,), generator=g),
                train_mask=torch.ones(30, dtype=torch.bool))
    splits = DataSplits(name="t", domain="graph", layout="node", train=None, val=None, test=None, num_classes=3,
                        class_names=["a", "b", "c"], in_channels=8, graph=data, meta={"task": "node"})
    task = NodeTask(splits, torch.device("cpu"), 1)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = GCNConv(8, 8), GCN2Conv(8, alpha=0.1)

        def forward(self, x, edge_index):
            h = self.a(x, edge_index).relu()
            return self.b(h, h, edge_index)

    net = Net().eval()
    plain = net(data.x, edge_index)
    with task.session(net):
        assert net.a.cached and net.b.cached
        once, twice = net(data.x, edge_index), net(data.x, edge_index)
        assert net.a._cached_edge_index is not None
    assert torch.equal(once, plain) and torch.equal(twice, plain)
    assert not net.a.cached and not net.b.cached and net.a._cached_edge_index is None  # other graphs: as built


def test_a_snapshot_does_not_follow_later_steps() -> None:
    from resnet_any.train.run.checkpoints import snapshot

    model = nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "history": [{"epoch": 1}]}
    snap = snapshot(state)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    assert all(torch.equal(snap["model"][k], before[k]) for k in before)
    assert not torch.equal(snap["model"]["weight"], model.weight)
    assert snap["history"] is state["history"]  # built fresh by checkpoint_state: not walked again
