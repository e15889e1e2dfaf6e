"""A trained checkpoint's model to ONNX, TorchScript or a torch.export program, with dynamic axes.

What the exported program outputs follows the checkpoint's task: class logits (classify, output "logits"),
values in the user's units (regress, output "values": the training targets' standardization is undone inside
the program, value = output * std + mean), tag logits (multilabel, output "logits": a tag is on where its
sigmoid reaches its threshold). ONNX files carry in their metadata (keys resnet_any.*) the task, the
class/target/tag names, the target scaling (mean, std, and that it is applied in the graph), the per-tag
thresholds and the preprocessing, so a runtime needs nothing else.
"""
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


def output_name(meta: CheckpointInfo) -> str:
    """The program's output: "values" (in the user's units) for regress, "logits" otherwise."""
    return "values" if meta.task == "regress" else "logits"


def _names(meta: CheckpointInfo) -> tuple[list[str], dict[str, dict[int, str]]]:
    """Input names and their dynamic axes: batch always, length for series, nodes and edges for graphs."""
    out = output_name(meta)
    if meta.domain == "graph":
        return ["x", "edge_index"], {"x": {0: "nodes"}, "edge_index": {1: "edges"}, out: {0: "nodes"}}
    axes = {0: "batch", 2: "length"} if meta.domain == "series" else {0: "batch"}
    return ["input"], {"input": axes, out: {0: "batch"}}


class InUserUnits(nn.Module):
    """A regression model whose outputs are in the user's units: output * std + mean (the training targets')."""

    def __init__(self, model: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.model(*inputs).float() * self.std + self.mean


def scaling(meta: CheckpointInfo) -> dict[str, Any] | None:
    """A regress checkpoint's target scaling {"mean", "std"} (per target), None for other tasks."""
    if meta.task != "regress":
        return None
    data, k = meta.data or {}, int(meta.num_classes or len(meta.class_names or []) or 1)
    return {"mean": [float(v) for v in data.get("target_mean", [0.0] * k)],
            "std": [float(v) for v in data.get("target_std", [1.0] * k)]}


def exported_model(model: nn.Module, meta: CheckpointInfo | Mapping[str, Any]) -> nn.Module:
    """The module that is exported: the model, wrapped to output values in the user's units for regress."""
    meta = CheckpointInfo.of(meta)
    scale = scaling(meta)
    return model.eval() if scale is None else InUserUnits(model, scale["mean"], scale["std"]).eval()


def export(model: nn.Module, meta: CheckpointInfo | Mapping[str, Any], fmt: str, out: str | Path) -> Path:
    """Write `model` to `out` in format `fmt` with dynamic batch (and length, nodes) axes."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    meta = CheckpointInfo.of(meta)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = exported_model(model, meta)
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
        torch.onnx.export(model, inputs, str(out), input_names=names, output_names=[output_name(meta)],
                          dynamic_axes=axes, dynamo=False)
        _attach_metadata(out, meta)
    elif fmt == "torchscript":
        with torch.no_grad():
            scripted = torch.jit.trace(model, inputs)
        scripted.save(str(out))
    else:
        dims = {name: {axis: torch.export.Dim(label, min=1 if label == "batch" else 2) for axis, label in a.items()}
                for name, a in axes.items() if name != output_name(meta)}
        program = torch.export.export(model, inputs, dynamic_shapes=tuple(dims[n] for n in names))
        torch.export.save(program, str(out))
    return out


def metadata(meta: CheckpointInfo) -> dict[str, Any]:
    """What an ONNX file carries (each value JSON under the key resnet_any.<name>)."""
    task = meta.task or "classify"
    names = [str(c) for c in meta.class_names or []]
    out: dict[str, Any] = {key: getattr(meta, key) for key in ("class_names", "data", "model", "domain")}
    out.update(task=task, layout=meta.layout, output=output_name(meta))
    if task == "regress":
        out["target_names"] = names
        out["target_scaling"] = {**scaling(meta), "applied": True}  # values = raw * std + mean, inside the graph
    elif task == "multilabel":
        chosen = (meta.best or {}).get("thresholds")
        out["tag_names"] = names
        out["thresholds"] = [float(t) for t in chosen] if chosen else [0.5] * len(names)
    return out


def _attach_metadata(path: Path, meta: CheckpointInfo) -> None:
    """Store the task, names, target scaling, thresholds and preprocessing in the ONNX file."""
    import onnx

    proto = onnx.load(str(path))
    for key, value in metadata(meta).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"resnet_any.{key}", json.dumps(value)
    onnx.save(proto, str(path))
