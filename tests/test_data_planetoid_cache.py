"""Cora's processed cache (data/graphs.py): a later load reads the saved tensors, equal to PyG's own Planetoid."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from resnet_any.data import load_dataset
from resnet_any.data import graphs


def test_a_second_load_reads_the_cache_and_matches_pygs_planetoid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch_geometric.datasets
    import torch_geometric.transforms as T

    first = load_dataset("graph", "cora", cache_dir=str(tmp_path)).graph
    saved = list(tmp_path.rglob(graphs.PROCESSED))
    assert len(saved) == 1
    # PyG's own reading of the same raw files, as its examples do
    ref = torch_geometric.datasets.Planetoid(str(saved[0].parents[1]), "Cora", split="public",
                                             transform=T.NormalizeFeatures())[0]

    def refuse(*args, **kwargs):
        raise AssertionError("Planetoid read again despite the cache")

    monkeypatch.setattr(torch_geometric.datasets, "Planetoid", refuse)
    second = load_dataset("graph", "cora", cache_dir=str(tmp_path)).graph
    for key in graphs.PROCESSED_KEYS:
        assert torch.equal(second[key], ref[key]) and torch.equal(first[key], ref[key]), key

    saved[0].write_bytes(b"torn")  # a damaged cache file is rebuilt from the raw files, not an error
    monkeypatch.undo()
    again = load_dataset("graph", "cora", cache_dir=str(tmp_path)).graph
    assert torch.equal(again.x, ref.x) and torch.load(saved[0], weights_only=True).keys() == set(graphs.PROCESSED_KEYS)
