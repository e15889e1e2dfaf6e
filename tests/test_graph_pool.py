"""Graph-level readouts of the graph ResNet: sum/mean/max pooling and per-layer (jk) readouts."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

from resnet_any import GraphOps, UserError, create_model

# two graphs in one batch: a 3-node path (nodes 0-2) and a 2-node edge (nodes 3-4)
X = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0], [4.0, 1.0], [-2.0, 5.0]])
EDGES = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
BATCH = torch.tensor([0, 0, 0, 1, 1])


def test_sum_readout_is_the_per_graph_sum():
    out = GraphOps("gin", pool="sum").readout(X, EDGES, BATCH)
    by_hand = torch.stack([X[:3].sum(0), X[3:].sum(0)])  # [[4.5, 1.0], [2.0, 6.0]]
    assert torch.equal(out, by_hand)
    assert torch.equal(out, global_add_pool(X, BATCH))


@pytest.mark.parametrize("pool, reference", [("mean", global_mean_pool), ("max", global_max_pool)])
def test_mean_and_max_readouts_match_pyg(pool, reference):
    assert torch.allclose(GraphOps("gin", pool=pool).readout(X, EDGES, BATCH), reference(X, BATCH))


def test_default_readout_stays_the_mean():
    assert GraphOps().pool_name == "mean"
    model = create_model("gcn_resnet", in_channels=2, num_classes=2, conv="gin")
    assert model.ops.pool_name == "mean" and model.jk is None


def test_readout_leaves_node_tasks_and_attention_squeeze_alone():
    ops = GraphOps("gin", pool="sum")
    assert torch.equal(ops.readout(X, EDGES), X)  # no batch: one row per node
    assert torch.allclose(ops.squeeze(X, EDGES, BATCH), global_mean_pool(X, BATCH))  # SE gates stay size-free


def test_sum_readout_counts_nodes_where_mean_cannot():
    # one graph is the other twice over (two disjoint copies): a mean readout cannot tell them apart
    x = torch.ones(6, 3)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 0, 3, 2, 5, 4]])
    batch = torch.tensor([0, 0, 1, 1, 1, 1])
    mean, total = GraphOps(pool="mean"), GraphOps(pool="sum")
    assert torch.equal(mean.readout(x, edge_index, batch)[0], mean.readout(x, edge_index, batch)[1])
    assert torch.equal(total.readout(x, edge_index, batch)[1], 2 * total.readout(x, edge_index, batch)[0])


@pytest.mark.parametrize("pool", ["sum", "max", "mean"])
@pytest.mark.parametrize("jk", [False, True])
def test_graph_output_is_invariant_to_node_order(pool, jk):
    torch.manual_seed(0)
    model = create_model("gcn_resnet", in_channels=2, num_classes=3, conv="gin", depth=3, pool=pool, jk=jk,
                         attn="se").eval()
    perm = torch.tensor([4, 2, 0, 3, 1])  # mixes the two graphs' nodes in the node list
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(5)
    with torch.no_grad():
        out = model(X, EDGES, BATCH)
        permuted = model(X[perm], inverse[EDGES], BATCH[perm])
    assert out.shape == (2, 3)
    assert torch.allclose(out, permuted, atol=1e-5)


@pytest.mark.parametrize("style, depth", [("res+", 1), ("res+", 4), ("res", 3), ("gcnii", 3)])
def test_jk_adds_one_classifier_per_earlier_layer(style, depth):
    model = create_model("gcn_resnet", in_channels=2, num_classes=3, conv="gin", depth=depth, style=style,
                         pool="sum", jk=True).eval()
    # the input, the stem, and every block but the last (whose output the head already reads)
    blocks = depth if style == "gcnii" else depth - 1
    assert len(model.jk) == 1 + blocks
    assert model(X, EDGES, BATCH).shape == (2, 3)


def test_jk_input_classifier_sees_summed_raw_features():
    torch.manual_seed(0)
    model = create_model("gcn_resnet", in_channels=2, num_classes=2, conv="gin", depth=2, pool="sum", jk=True).eval()
    with torch.no_grad():
        base = model(X, EDGES, BATCH)
        model.jk[0].weight.add_(1.0)  # shifts the logits by the per-graph feature sums
        shifted = model(X, EDGES, BATCH)
    sums = global_add_pool(X, BATCH).sum(1, keepdim=True)
    assert torch.allclose(shifted - base, sums.expand(-1, 2), atol=1e-5)


def test_unknown_pool_is_a_user_error():
    with pytest.raises(UserError, match=r"unknown graph pool 'median'; valid: mean, sum, max"):
        create_model("gcn_resnet", in_channels=2, num_classes=2, pool="median")
    with pytest.raises(UserError, match=r"unknown graph pool"):
        GraphOps("gin", pool="add")


def test_head_dropout_can_differ_from_the_blocks():
    model = create_model("gcn_resnet", in_channels=2, num_classes=2, conv="gin", depth=3, dropout=0.0,
                         head_dropout=0.5)
    assert isinstance(model.layer1[0].drop, torch.nn.Identity) and model.head_drop.p == 0.5
    same = create_model("gcn_resnet", in_channels=2, num_classes=2, conv="gin", depth=3, dropout=0.3)
    assert same.layer1[0].drop.p == same.head_drop.p == 0.3
