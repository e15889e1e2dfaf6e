"""A trained checkpoint's model to ONNX, TorchScript or a torch.export program, with dynamic axes."""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from resnet_any.domains.checkpoint_info import CheckpointInfo
from resnet_any.errors import UserError

FORMATS = ("onnx", "torchscript", "exported")


def example_inputs(meta: CheckpointInfo | Mapping[str, Any]) -> tuple[Tensor, ...]:
    """A batch of two inputs shaped as the checkpoint's training data (graphs: a small random graph)."""
    meta = CheckpointInfo.of(meta)
    kwargs, data = meta.model_kwargs or {}, meta.data or {}
    channels = int(kwargs.get("in_channels") or data.get("channels") or 1)
    domain = meta.domain
    if domain == "image":
        size = int(data.get("image_size", 32))
        return (torch.randn(2, channels, size, size),)
    if domain == "series":
        return (torch.randn(2, channels, int(data.get("length", 64))),)
    if domain == "graph":
        edge_index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
        return torch.randn(4, channels), edge_index
    raise UserError(f"cannot export a model of domain {domain!r}; valid: image, series, graph")


def _names(meta: CheckpointInfo) -> tuple[list[str], dict[str, dict[int, str]]]:
    """Input names and their dynamic axes: batch always, length for series, nodes and edges for graphs."""
    if meta.domain == "graph":
        return ["x", "edge_index"], {"x": {0: "nodes"}, "edge_index": {1: "edges"}, "logits": {0: "nodes"}}
    axes = {0: "batch", 2: "length"} if meta.domain == "series" else {0: "batch"}
    return ["input"], {"input": axes, "logits": {0: "batch"}}


def export(model: nn.Module, meta: CheckpointInfo | Mapping[str, Any], fmt: str, out: str | Path) -> Path:
    """Write `model` to `out` in format `fmt` with dynamic batch (and length, nodes) axes."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    meta = CheckpointInfo.of(meta)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    inputs = example_inputs(meta)
    names, axes = _names(meta)
    if fmt == "onnx":
        if meta.domain == "graph":
            raise UserError("ONNX export of graph models is not supported (message passing scatters); "
                            "use --format exported")
        try:  # checked first: torch's exporter would fail deep inside with a traceback
            importlib.import_module("onnx")
        except ImportError:
            raise UserError("--format onnx needs the onnx package: pip install 'resnet_any[export]' (or: pip install "
                            "onnx); --format torchscript and exported need nothing more") from None
        # the TorchScript-based exporter needs only `onnx`; the dynamo one would add onnxscript
        torch.onnx.export(model, inputs, str(out), input_names=names, output_names=["logits"],
                          dynamic_axes=axes, dynamo=False)
        _attach_metadata(out, meta)
    elif fmt == "torchscript":
        with torch.no_grad():
            scripted = torch.jit.trace(model, inputs)
        scripted.save(str(out))
    else:
        dims = {name: {axis: torch.export.Dim(label, min=1 if label == "batch" else 2) for axis, label in a.items()}
                for name, a in axes.items() if name != "logits"}
        program = torch.export.export(model, inputs, dynamic_shapes=tuple(dims[n] for n in names))
        torch.export.save(program, str(out))
    return out


def _attach_metadata(path: Path, meta: CheckpointInfo) -> None:
    """Store class names and preprocessing in the ONNX file, so a runtime needs nothing else."""
    import onnx

    proto = onnx.load(str(path))
    for key in ("class_names", "data", "model", "domain"):
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"resnet_any.{key}", json.dumps(getattr(meta, key))
    onnx.save(proto, str(path))
