"""Volume and video ResNets (3D grids), proving the dimension is just a parameter."""
from __future__ import annotations

from resnet_any.core import BASIC, GridOps, ResNet, StemSpec, register_model

# torchvision's r3d_18 stem (Tran et al. 2018): 3x7x7, striding space but not time, no pool
R3D_STEM = StemSpec(kernel=(3, 7, 7), stride=(1, 2, 2), pool=False, width=64)


def resnet3d18(*, num_classes: int = 400, in_channels: int = 3, width: int = 64, attn: str | None = None,
               drop_path_rate: float = 0.0, zero_init_residual: bool = False, preact: bool = False,
               skip: bool = True) -> ResNet:
    """ResNet-18 on (N, C, D, H, W) volumes, shaped as torchvision's video r3d_18."""
    stem = StemSpec(R3D_STEM.kernel, R3D_STEM.stride, R3D_STEM.pool, width)
    return ResNet(GridOps(3), BASIC, (2, 2, 2, 2), [width * 2**i for i in range(4)], in_channels=in_channels,
                  num_classes=num_classes, stem=stem, attn=attn, drop_path_rate=drop_path_rate,
                  zero_init_residual=zero_init_residual, preact=preact, skip=skip)


register_model("resnet3d18", "volume", resnet3d18)
