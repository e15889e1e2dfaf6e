"""app-load benchmark, short mode: concurrent /classify during training, no failures, big upload refused."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from resnet_any.bench.__main__ import main  # noqa: E402


def test_app_load_quick_has_no_failures_and_refuses_50mb(tmp_path):
    out = tmp_path / "rows.json"
    assert main(["app-load", "--quick", "--json", str(out)]) == 0
    rows = {(r["case"], r["metric"]): r for r in json.loads(out.read_text())}
    assert rows[("4x3 +train", "failures")]["ours"] == 0
    assert 0 < rows[("4x3 +train", "p50_latency")]["ours"] <= rows[("4x3 +train", "p95_latency")]["ours"]
    assert rows[("upload 50 MB", "refused")]["ours"] == 1.0
