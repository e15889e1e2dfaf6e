"""Image ResNets (2D grids): ResNet-18 to 152, squeeze-excitation and pre-activation variants."""
from __future__ import annotations

from functools import partial

from resnet_any.core import BASIC, BOTTLENECK, GridOps, ResNet, register_model

# depth -> (block, blocks per stage), He et al. 2015, Table 1
DEPTHS = {
    18: (BASIC, (2, 2, 2, 2)),
    34: (BASIC, (3, 4, 6, 3)),
    50: (BOTTLENECK, (3, 4, 6, 3)),
    101: (BOTTLENECK, (3, 4, 23, 3)),
    152: (BOTTLENECK, (3, 8, 36, 3)),
}

# name prefix -> what the variant changes
VARIANTS = {
    "": {},
    "se_": {"attn": "se"},            # Hu et al. 2018
    "preact_": {"preact": True},      # He et al. 2016, identity mappings
}

# torchvision's grouped and wide bottleneck networks, same names and widths
EXTRAS = {
    "resnext50_32x4d": (50, {"groups": 32, "base_width": 4}),
    "resnext101_32x8d": (101, {"groups": 32, "base_width": 8}),
    "wide_resnet50_2": (50, {"base_width": 128}),
    "wide_resnet101_2": (101, {"base_width": 128}),
}


def image_resnet(depth: int, *, num_classes: int = 1000, in_channels: int = 3, stem: str = "imagenet",
                 width: int = 64, attn: str | None = None, attn_kwargs: dict | None = None,
                 drop_path_rate: float = 0.0, zero_init_residual: bool = False, preact: bool = False,
                 groups: int = 1, base_width: int = 64, avg_down: bool = False, skip: bool = True,
                 head_dropout: float = 0.0, act: str = "relu") -> ResNet:
    """An image ResNet of a published depth; `width` is the first stage's (64 in the paper)."""
    block, layers = DEPTHS[depth]
    return ResNet(GridOps(2, act), block, layers, [width * 2**i for i in range(4)],
                  in_channels=in_channels, num_classes=num_classes, stem=stem, preact=preact,
                  skip=skip, attn=attn, attn_kwargs=attn_kwargs, drop_path_rate=drop_path_rate,
                  head_dropout=head_dropout, zero_init_residual=zero_init_residual, groups=groups,
                  base_width=base_width, avg_down=avg_down)


for _depth in DEPTHS:
    for _prefix, _variant in VARIANTS.items():
        register_model(f"{_prefix}resnet{_depth}", "image", partial(image_resnet, _depth, **_variant))
for _name, (_depth, _variant) in EXTRAS.items():
    register_model(_name, "image", partial(image_resnet, _depth, **_variant))
