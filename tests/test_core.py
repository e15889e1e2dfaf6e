"""The residual core and model zoo, checked against torchvision, published counts and hand-computed facts."""
from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch_geometric.datasets import KarateClub

import resnet_any
from resnet_any import BASIC, GridOps, ResNet, UserError, create_model, list_models
from resnet_any.domains import model_domain

# He et al. 2015 architectures as torchvision ships them, 1000 classes (torchvision's docs)
PUBLISHED_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "se_resnet50": 28_088_024,  # timm's seresnet50 (SE reduction 16, 1x1 projections)
}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def karate():
    return KarateClub()[0]  # built into PyG, no download


@pytest.mark.parametrize("name", list(PUBLISHED_PARAMS))
def test_parameter_counts_match_published(name):
    assert n_params(create_model(name)) == PUBLISHED_PARAMS[name]


@pytest.mark.parametrize("name", ["resnext50_32x4d", "wide_resnet50_2"])
def test_grouped_and_wide_counts_match_torchvision(name):
    assert n_params(create_model(name)) == n_params(getattr(torchvision.models, name)())


def test_resnet3d18_has_the_shape_of_torchvision_r3d_18():
    ours, theirs = create_model("resnet3d18"), torchvision.models.video.r3d_18()
    assert n_params(ours) == n_params(theirs) == 33_371_472
    assert ours(torch.randn(1, 3, 4, 32, 32)).shape == (1, 400)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_weights_load_and_give_the_same_logits(name):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)().eval()
    ours = create_model(name).eval()
    ours.load_state_dict(theirs.state_dict())  # strict: every name matches
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max().item() <= 1e-5


def test_stage_features_match_torchvision_intermediate_layers():
    from torchvision.models.feature_extraction import create_feature_extractor

    theirs = torchvision.models.resnet50().eval()
    ours = create_model("resnet50").eval()
    ours.load_state_dict(theirs.state_dict())
    extractor = create_feature_extractor(theirs, ["maxpool", "layer1", "layer2", "layer3", "layer4"])
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = list(extractor(x).values())
        got = ours.forward_stages(x)
    assert [f.shape for f in got] == [f.shape for f in expected]
    for a, b in zip(got, expected):
        assert torch.allclose(a, b, atol=1e-5)


def test_list_models_names_every_zoo_entry():
    names = set(list_models())
    for depth in (18, 34, 50, 101, 152):
        assert {f"resnet{depth}", f"se_resnet{depth}", f"preact_resnet{depth}"} <= names
    assert {"series_resnet", "resnet1d18", "resnet1d34", "resnet3d18", "gcn_resnet"} <= names
    assert set(list_models("graph")) == {"gcn_resnet", "sage_resnet", "gin_resnet", "gat_resnet"}


def _example(name: str, karate):
    """Inputs and expected output rows for a model of any domain."""
    domain = model_domain(name)
    if domain == "image":
        return {"in_channels": 3}, (torch.randn(2, 3, 32, 32),), 2
    if domain == "series":
        return {"in_channels": 2}, (torch.randn(2, 2, 40),), 2
    if domain == "volume":
        return {"in_channels": 1}, (torch.randn(2, 1, 4, 16, 16),), 2
    return {"in_channels": karate.num_features}, (karate.x, karate.edge_index), karate.num_nodes


@pytest.mark.parametrize("name", list_models())
def test_every_model_forward_shape_and_finite_gradients(name, karate):
    torch.manual_seed(0)
    kwargs, inputs, rows = _example(name, karate)
    model = create_model(name, num_classes=5, **kwargs)
    out = model(*inputs)
    assert out.shape == (rows, 5)
    out.square().mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"


def _grad_ratio(skip: bool) -> float:
    """First-layer over last-layer gradient norm of a 100-layer stack at initialisation."""
    torch.manual_seed(0)
    model = ResNet(GridOps(2), BASIC, (50,), (16,), in_channels=3, num_classes=10, stem="cifar", skip=skip)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    return model.conv1.weight.grad.norm().item() / model.layer1[-1].conv2.weight.grad.norm().item()


def test_skip_connections_keep_gradients_in_scale_through_100_layers():
    residual, plain = math.log10(_grad_ratio(True)), math.log10(_grad_ratio(False))
    assert abs(residual) < 3, f"residual stack: first/last gradient 1e{residual:.1f}"
    assert abs(plain) > 4, f"plain stack: first/last gradient 1e{plain:.1f}"


def _permute(data, perm):
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel())
    return data.x[perm], inverse[data.edge_index]


@pytest.mark.parametrize("style", ["res", "res+", "gcnii"])
def test_graph_resnet_is_permutation_equivariant(style, karate):
    torch.manual_seed(0)
    model = create_model("gcn_resnet", in_channels=karate.num_features, num_classes=4, depth=6,
                         style=style, attn="se").eval()
    perm = torch.randperm(karate.num_nodes)
    x, edge_index = _permute(karate, perm)
    with torch.no_grad():
        assert torch.allclose(model(x, edge_index), model(karate.x, karate.edge_index)[perm], atol=1e-5)


def test_graph_readout_and_attention_stay_within_each_graph(karate):
    torch.manual_seed(0)
    model = create_model("gcn_resnet", in_channels=karate.num_features, num_classes=3, depth=4,
                         attn="se").eval()
    n = karate.num_nodes
    # two copies of the graph in one batch; changing the second must not move the first's output
    x = torch.cat([karate.x, karate.x])
    edge_index = torch.cat([karate.edge_index, karate.edge_index + n], dim=1)
    batch = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
    with torch.no_grad():
        before = model(x, edge_index, batch)
        x2 = x.clone()
        x2[n:] = torch.rand_like(x2[n:])
        after = model(x2, edge_index, batch)
    assert before.shape == (2, 3)
    assert torch.allclose(before[0], after[0], atol=1e-6)
    assert torch.allclose(before[0], before[1], atol=1e-6)
    assert not torch.allclose(before[1], after[1], atol=1e-4)


@pytest.mark.parametrize("name, block, channels", [("resnet18", 0, 64), ("preact_resnet18", 0, 64),
                                                   ("resnet50", 1, 256), ("preact_resnet50", 1, 256)])
def test_zero_init_residual_makes_every_block_start_as_identity(name, block, channels):
    model = create_model(name, zero_init_residual=True).eval()
    x = torch.relu(torch.randn(2, channels, 16, 16))  # post-activation blocks see ReLU outputs
    with torch.no_grad():
        assert torch.equal(model.layer1[block](x), x)


def test_drop_path_decays_linearly_with_depth():
    model = create_model("resnet18", drop_path_rate=0.3)
    rates = [getattr(b.drop_path, "p", 0.0) for stage in (model.layer1, model.layer2, model.layer3, model.layer4)
             for b in stage]
    assert rates == pytest.approx([0.3 * i / 7 for i in range(8)])
    x = torch.randn(4, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))  # no dropping at inference


def test_resnet_d_shortcut_average_pools_before_projecting():
    model = create_model("resnet50", avg_down=True)
    pool, proj, _ = model.layer2[0].downsample
    assert isinstance(pool, torch.nn.AvgPool2d) and proj.stride == (1, 1)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_cifar_stem_keeps_resolution_and_in_channels_is_honoured():
    model = create_model("resnet18", stem="cifar", in_channels=1, num_classes=10)
    assert model.conv1.weight.shape == (64, 1, 3, 3)
    assert model.forward_stages(torch.randn(1, 1, 32, 32))[-1].shape == (1, 512, 4, 4)


def test_series_resnet_is_wang_et_al():
    model = create_model("series_resnet", in_channels=3, num_classes=4)
    block = model.layer1[0]
    assert [getattr(block, f"conv{i}").kernel_size[0] for i in (1, 2, 3)] == [8, 5, 3]
    assert [model.layer1[0].out_channels, model.layer2[0].out_channels, model.layer3[0].out_channels] == [64, 128, 128]
    for length in (24, 150, 301):  # any length, global average pooled
        assert model(torch.randn(2, 3, length)).shape == (2, 4)


def test_custom_domain_in_a_few_lines():
    # a spectrogram classifier: 1-channel 2D grid, two small stages, squeeze-excitation
    spectro = ResNet(GridOps(2), BASIC, layers=(1, 1), widths=(16, 32), in_channels=1, num_classes=3,
                     stem="cifar", attn="se")
    assert spectro(torch.randn(2, 1, 64, 40)).shape == (2, 3)
    # a 3D scan classifier with the same core
    scans = ResNet(GridOps(3), resnet_any.BOTTLENECK, layers=(1, 1), widths=(8, 16), in_channels=1, num_classes=2)
    assert scans(torch.randn(2, 1, 16, 16, 16)).shape == (2, 2)


def test_user_errors_name_the_bad_value_and_the_valid_ones():
    with pytest.raises(UserError, match=r"unknown model 'resnet19'.*resnet18"):
        create_model("resnet19")
    with pytest.raises(UserError, match=r"takes no argument colour"):
        create_model("resnet18", colour="red")
    with pytest.raises(UserError, match=r"unknown stem 'tiny'.*imagenet"):
        create_model("resnet18", stem="tiny")
    with pytest.raises(UserError, match=r"unknown attention 'cbam'"):
        create_model("resnet18", attn="cbam")
    with pytest.raises(UserError, match=r"unknown graph residual style"):
        create_model("gcn_resnet", in_channels=4, num_classes=2, style="dense")


@pytest.mark.parametrize("name", ["resnet18", "se_resnet18", "preact_resnet18"])
def test_compiles_with_fullgraph_no_graph_breaks(name):
    model = create_model(name, num_classes=10, drop_path_rate=0.1)
    compiled = torch.compile(model, fullgraph=True, backend="eager")  # dynamo raises on any graph break
    compiled(torch.randn(2, 3, 32, 32)).sum().backward()


def test_resnet18_compiles_with_inductor_and_matches_eager():
    model = create_model("resnet18", num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(torch.compile(model, fullgraph=True)(x), model(x), atol=1e-4)


def test_sparse_input_dropout_matches_dropout_in_distribution():
    from resnet_any.domains.graph import SparseDropout

    torch.manual_seed(0)
    x = (torch.rand(3000, 400) < 0.02).float() * (1 + torch.rand(3000, 400))
    y = SparseDropout(0.5).train()(x)
    assert not y[x == 0].any()                                     # zeros stay zero
    kept = (y != 0).sum() / (x != 0).sum()
    assert kept.item() == pytest.approx(0.5, abs=0.02)             # each nonzero kept with p = 0.5
    assert torch.allclose(y[y != 0], 2 * x[y != 0])                # and rescaled by 1 / (1 - p)
    assert torch.equal(SparseDropout(0.5).eval()(x), x)
