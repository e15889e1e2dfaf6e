"""What one prediction says, per task: the top-k classes, the values in the user's units, or the tag set.

predict's terminal lines, its --json and its --dataset CSV columns are all made here from a Predictor's
decoded outputs (predictor.py), so the three agree:

classify:   top-k (class, probability); CSV: predicted, top1_label, top1_prob, ...
regress:    {target: value} in the user's units; CSV: one predicted_<target> column per target
multilabel: the tags at or above their thresholds and every tag's probability; CSV: predicted ("a;b"), then
            prob_<tag> per tag
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from resnet_any.inference.predictor import Predictor

TAG_SEPARATOR = ";"  # as a multi-label table writes a tag set in one cell (data/targets.py)


def answers(pred: Predictor, outputs: torch.Tensor, top_k: int = 5) -> list[dict[str, Any]]:
    """One answer per row of decoded outputs: {"top": [...]}, {"values": {...}} or {"tags": [...], "probs": {...}}."""
    if pred.task == "regress":
        return [{"values": dict(zip(pred.class_names, row))} for row in outputs.double().tolist()]
    if pred.task == "multilabel":
        return [{"tags": tags, "probs": dict(zip(pred.class_names, row))}
                for tags, row in zip(pred.tags(outputs), outputs.double().tolist())]
    return [{"top": top} for top in pred.top_k(outputs, top_k)]


def as_text(answer: dict[str, Any]) -> str:
    """The terminal's words for one answer."""
    if "values" in answer:
        return ", ".join(f"{name} {v:.6g}" for name, v in answer["values"].items())
    if "tags" in answer:
        tags = TAG_SEPARATOR.join(answer["tags"]) or "(no tag)"
        return f"{tags}  [" + ", ".join(f"{n} {p:.3f}" for n, p in answer["probs"].items()) + "]"
    return ", ".join(f"{c} {pr:.3f}" for c, pr in answer["top"])


def as_json(answer: dict[str, Any]) -> dict[str, Any]:
    """One answer as --json prints it."""
    if "values" in answer:
        return {"values": answer["values"]}
    if "tags" in answer:
        return {"tags": answer["tags"], "probs": {n: round(p, 6) for n, p in answer["probs"].items()}}
    return {"top": [{"label": c, "prob": round(pr, 6)} for c, pr in answer["top"]]}


def csv_header(pred: Predictor, found: Sequence[dict[str, Any]]) -> list[str]:
    """The prediction columns of a --dataset CSV (after the id, extra and truth columns)."""
    if pred.task == "regress":
        return [f"predicted_{n}" for n in pred.class_names]
    if pred.task == "multilabel":
        return ["predicted", *(f"prob_{n}" for n in pred.class_names)]
    k = max((len(a["top"]) for a in found), default=0)
    header = ["predicted"]
    for i in range(1, k + 1):
        header += [f"top{i}_label", f"top{i}_prob"]
    return header


def csv_cells(answer: dict[str, Any]) -> list[str]:
    """One answer's cells under csv_header (values written with full float precision: repr)."""
    if "values" in answer:
        return [repr(float(v)) for v in answer["values"].values()]
    if "tags" in answer:
        return [TAG_SEPARATOR.join(answer["tags"]), *(f"{p:.6f}" for p in answer["probs"].values())]
    cells = [answer["top"][0][0]]
    for label, prob in answer["top"]:
        cells += [label, f"{prob:.6f}"]
    return cells


def truth_cell(value: Any) -> str:
    """A true label as a CSV cell: empty where missing, tag lists joined, numbers as given."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (list, tuple)):
        return TAG_SEPARATOR.join(str(v) for v in value)
    return str(value)
