"""Issue 26's bad graph input: a weight that is text or negative, an edge to a node of another graph.

Each ends the command line with exit 2 and one line naming the file, row and column; the app shows the row and
column without the cell's value.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from resnet_any.errors import DataError, run_cli

REPO = Path(__file__).resolve().parents[1]


def _node_folder(root: Path, weights: list) -> Path:
    folder = root / "nodes"
    folder.mkdir()
    pd.DataFrame({"id": ["a", "b", "c", "d"], "label": ["x", "y", "x", "y"], "f": [1.0, 2.0, 3.0, 4.0]}).to_csv(
        folder / "nodes.csv", index=False)
    pd.DataFrame({"source": ["a", "b", "c"], "target": ["b", "c", "d"], "weight": weights}).to_csv(
        folder / "edges.csv", index=False)
    return folder


def _graph_folder(root: Path) -> Path:
    """Two graphs; edges.csv row 4 (g1's third edge) names node 'q', which is g2's."""
    folder = root / "graphs"
    folder.mkdir()
    pd.DataFrame({"graph_id": ["g1", "g2"], "label": ["x", "y"]}).to_csv(folder / "graphs.csv", index=False)
    pd.DataFrame({"graph_id": ["g1", "g1", "g2", "g2", "g2"], "id": ["a", "b", "p", "q", "r"],
                  "f": [1.0, 2.0, 3.0, 4.0, 5.0]}).to_csv(folder / "nodes.csv", index=False)
    pd.DataFrame({"graph_id": ["g1", "g2", "g1", "g2"], "source": ["a", "p", "b", "q"],
                  "target": ["b", "q", "q", "r"]}).to_csv(folder / "edges.csv", index=False)
    return folder


CASES = {
    # name: (folder maker, file, row as a spreadsheet counts it, column, words of the problem, the value)
    "text weight": (lambda r: _node_folder(r, [1.0, "heavy", 2.0]), "edges.csv", 3, "weight", "is not a number",
                    "heavy"),
    "negative weight": (lambda r: _node_folder(r, [1.0, 0.5, -2.0]), "edges.csv", 4, "weight", "is negative", "-2"),
    "edge to another graph's node": (_graph_folder, "edges.csv", 4, "target", "belongs to graph 'g2'", "'q'"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_command_line_says_where_in_one_line(tmp_path, capsys, name):
    from resnet_any.train.cli import main

    make, file, row, column, problem, _ = CASES[name]
    folder = make(tmp_path)
    code = run_cli(main, ["--dataset", str(folder), "--domain", "graph", "--epochs", "1", "--out",
                          str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"{file}' row {row}" in err[0] and f"column '{column}'" in err[0] and problem in err[0], err[0]


@pytest.mark.parametrize("name", list(CASES))
def test_the_app_names_row_and_column_without_the_value(tmp_path, name):
    from resnet_any.app.messages import public_message
    from resnet_any.data import load_dataset

    make, file, row, column, problem, value = CASES[name]
    folder = make(tmp_path)
    with pytest.raises(DataError) as raised:
        load_dataset("graph", str(folder))
    shown = public_message(raised.value, tmp_path)
    assert shown.startswith(f"'{folder.name}/{file}' row {row}") and f"column '{column}'" in shown, shown
    assert value not in shown and str(tmp_path) not in shown, shown


def test_the_real_entry_point_prints_no_traceback(tmp_path):
    folder = _node_folder(tmp_path, [1.0, 0.5, -2.0])
    proc = subprocess.run([sys.executable, "-m", "resnet_any.train", "--dataset", str(folder), "--domain", "graph",
                           "--epochs", "1", "--out", str(tmp_path / "run")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and "is negative" in proc.stderr
