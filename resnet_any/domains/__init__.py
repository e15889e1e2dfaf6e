"""Built-in domains: each file registers its models (a table of specs over the core)."""
from resnet_any.domains import graph, image, series, volume  # noqa: F401  (import registers models)
