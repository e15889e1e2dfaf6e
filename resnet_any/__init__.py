"""resnet_any: one residual core for images, time series, volumes and graphs."""
# Importing resnet_any changes nothing in the process (no environment, threads or warning filters): the
# command-line entry points set what they need (resnet_any.errors.cli_environment).
from resnet_any.errors import UserError  # torch-free

__version__ = "0.1.0"

# Public names -> the module that defines them. Imported on first use, so a CLI that rejects a bad
# flag (or `--help`) answers without paying for torch and PyG imports.
_LAZY = {
    **{name: "resnet_any.core" for name in (
        "BASIC", "BOTTLENECK", "BlockSpec", "GraphOps", "GridOps", "Ops", "ResidualBlock", "ResNet", "StemSpec",
        "register_model")},
    **{name: "resnet_any.domains" for name in ("create_model", "list_models")},
    "load_checkpoint": "resnet_any.domains.weights",
    "fit": "resnet_any.train.fit",
    "DataSplits": "resnet_any.data.base",
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
