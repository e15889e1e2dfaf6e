"""resnet_any: one residual core for images, time series, volumes and graphs."""
import os

# torch's OpenMP workers spin while waiting by default; on a small or busy CPU they starve the
# main thread (a resnet18 step measured 2.5 s spinning vs 0.06 s passive on 2 shared cores).
# Set before torch is imported anywhere; an explicit setting by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from resnet_any.errors import UserError  # noqa: E402  (torch-free)

__version__ = "0.1.0"

# Public names -> the module that defines them. Imported on first use, so a CLI that rejects a bad
# flag (or `--help`) answers without paying for torch and PyG imports.
_LAZY = {
    **{name: "resnet_any.core" for name in (
        "BASIC", "BOTTLENECK", "BlockSpec", "GraphOps", "GridOps", "Ops", "ResidualBlock", "ResNet", "StemSpec",
        "create_model", "list_models", "register_model")},
    "load_checkpoint": "resnet_any.train.checkpoint",
}

__all__ = sorted([*_LAZY, "UserError", "__version__"])


def __getattr__(name: str):
    """Import a public name from its module on first access."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'resnet_any' has no attribute {name!r}")
