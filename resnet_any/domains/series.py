"""Time-series ResNets (1D grids): the Wang et al. 2017 baseline and 1D ResNet-18/34."""
from __future__ import annotations

from functools import partial

from resnet_any.core import BASIC, BlockSpec, GridOps, ResNet, register_model

# Wang, Yan & Oates 2017: three blocks of three convolutions with kernels 8, 5, 3
WANG_BLOCK = BlockSpec(kernels=(8, 5, 3), expansion=1, stride_at=0)


def series_resnet(*, num_classes: int = 2, in_channels: int = 1, width: int = 64, attn: str | None = None,
                  drop_path_rate: float = 0.0, dropout: float = 0.0, zero_init_residual: bool = False,
                  preact: bool = False, skip: bool = True) -> ResNet:
    """The time-series classification ResNet: 64/128/128 filters, no stem, no striding, GAP head."""
    return ResNet(GridOps(1), WANG_BLOCK, (1, 1, 1), (width, 2 * width, 2 * width), in_channels=in_channels,
                  num_classes=num_classes, stem="none", strides=(1, 1, 1), attn=attn, preact=preact, skip=skip,
                  drop_path_rate=drop_path_rate, dropout=dropout, zero_init_residual=zero_init_residual)


def resnet1d(layers: tuple, *, num_classes: int = 2, in_channels: int = 1, stem: str = "imagenet",
             width: int = 64, attn: str | None = None, drop_path_rate: float = 0.0,
             zero_init_residual: bool = False, preact: bool = False, skip: bool = True) -> ResNet:
    """ResNet-18/34 with 1D convolutions, for long or multichannel signals."""
    return ResNet(GridOps(1), BASIC, layers, [width * 2**i for i in range(4)], in_channels=in_channels,
                  num_classes=num_classes, stem=stem, attn=attn, preact=preact, skip=skip, drop_path_rate=drop_path_rate,
                  zero_init_residual=zero_init_residual)


register_model("series_resnet", "series", series_resnet)
register_model("resnet1d18", "series", partial(resnet1d, (2, 2, 2, 2)))
register_model("resnet1d34", "series", partial(resnet1d, (3, 4, 6, 3)))
