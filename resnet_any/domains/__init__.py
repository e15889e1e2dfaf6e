"""Built-in domains: each file registers its models (a table of specs over the core); look models up here."""
from resnet_any.core.registry import list_models, model_domain, register_model
from resnet_any.domains import graph, image, series, volume  # noqa: F401  (import registers models)
from resnet_any.domains.factory import create_model
from resnet_any.domains.weights import load_checkpoint

__all__ = ["create_model", "list_models", "load_checkpoint", "model_domain", "register_model"]
