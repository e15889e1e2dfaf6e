"""torchvision's ImageNet weights for the image ResNets that are torchvision's architectures, read from its cache only.

The weights are torchvision's DEFAULT for each model (its weights API names the file, the crop size and the
mean/std); the file is looked up where torchvision's own builders keep it, `torch.hub.get_dir()/checkpoints/`
(TORCH_HOME decides the folder), and is never downloaded: a missing file is a UserError saying where it
goes. Loading reuses `init_from` (--init), whose names are torchvision's, so a head of another class count
stays fresh and a gray model gets the RGB stem summed over colour (as timm adapts in_chans=1).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from torch import nn

from resnet_any.domains.image import DEPTHS, EXTRAS
from resnet_any.domains.weights import init_from
from resnet_any.errors import UserError

# our image ResNets whose architecture and state_dict names are torchvision's model of the same name
MODELS: tuple[str, ...] = (*(f"resnet{d}" for d in DEPTHS), *EXTRAS)
# what the weights take: RGB, or gray by summing the stem over colour (init_from); any other count has no
# meaning for ImageNet filters
CHANNELS = (3, 1)


def weights_of(name: str) -> Any:
    """torchvision's DEFAULT ImageNet weights (a WeightsEnum member) of `name`; a UserError lists those with them."""
    if name not in MODELS:
        raise UserError(f"--pretrained: model {name!r} has no published ImageNet weights; models with them: "
                        f"{', '.join(MODELS)}")
    import torchvision

    return torchvision.models.get_model_weights(name).DEFAULT


def weights_file(name: str, in_channels: int = 3) -> Path:
    """Where torch.hub's cache holds `name`'s weights; a UserError (never a download) when the file is not there."""
    weights = weights_of(name)
    if in_channels not in CHANNELS:
        raise UserError(f"--pretrained: ImageNet weights take 3 (RGB) or 1 (gray) input channels; this {name} "
                        f"takes {in_channels}")
    import torch.hub

    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / os.path.basename(urlparse(weights.url).path)
    if not path.is_file():
        raise UserError(f"--pretrained needs {name}'s ImageNet weights file {path.name!r} in {str(folder)!r} "
                        f"(TORCH_HOME decides the folder; nothing is downloaded): fetch it from {weights.url} "
                        "and put it there")
    return path


def load_weights(model: nn.Module, name: str, path: Path) -> dict[str, Any]:
    """Load the weights file into `model` (a head of another class count stays fresh); refuses a partial fit."""
    report = init_from(model, path, flag="--pretrained")
    # an option that changes the architecture (--attn, avg_down, ...) would leave layers fresh or weights unused
    left = report["missing"] or report["unused"]
    if left:
        raise UserError(f"--pretrained: this {name} is not torchvision's ({left[0]} has no counterpart); drop the "
                        "options that change its architecture (--attn, --width, --model-kwargs)")
    return report


def preprocessing(name: str, channels: int) -> dict[str, Any]:
    """The weights' image size (their crop) and mean/std as image meta, one value per channel of the data."""
    transform = weights_of(name).transforms()
    mean, std = [float(v) for v in transform.mean], [float(v) for v in transform.std]
    if channels == 1:
        # a gray image is R = G = B and the stem is summed over colour, so one mean/std, the average of the
        # RGB ones, stands for all three
        mean, std = [round(sum(mean) / 3, 6)], [round(sum(std) / 3, 6)]
    return {"image_size": int(transform.crop_size[0]), "mean": mean, "std": std}


def note(name: str, meta: dict[str, Any], channels: int) -> str:
    """The run's note: which weights file was loaded and the preprocessing it brought (`meta`: the data's)."""
    path = weights_file(name, channels)
    crop = preprocessing(name, channels)["image_size"]
    size = meta.get("image_size")
    sized = f"{size}x{size}" + (f" (the weights' crop is {crop})" if size != crop else "")
    # float images given through fit are not standardised by the task, so their mean/std stays the user's
    norm = (f"ImageNet mean {meta['mean']} std {meta['std']} instead of the dataset's" if "mean" in meta else
            "float images are used as given (standardise them with ImageNet's mean/std yourself)")
    gray = "; the RGB stem is summed over colour for gray images" if channels == 1 else ""
    return (f"pretrained: loaded torchvision's ImageNet weights {path.name} from {path.parent}; preprocessing "
            f"changed to the weights': images {sized}, {norm}{gray}")
