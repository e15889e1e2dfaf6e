"""Reading a graph folder's CSV files (the layouts below) into tables of ids, features, edges and labels.

Node classification (a folder without graphs.csv):
- nodes.csv: id, label (empty for unlabelled nodes), optional split (train, val or test; empty: in
  no split), every other column a numeric node feature. The label is a class, a number (node regression)
  or tags "a;b" (multi-label); label_column may name several target columns instead ("a,b": numbers, or
  0/1 tags), which are then no features;
- edges.csv: source, target (ids of nodes.csv: any strings or numbers), optional weight (kept as
  edge_weight). Edges are undirected (both directions, duplicates merged, weights averaged) unless
  directed=True, which keeps them as given.

Graph classification (a folder with graphs.csv):
- graphs.csv: graph_id, label (a class, a number or tags "a;b"); without a label column every other column
  is a target of the graph (numbers, or 0/1 tags), or label_column names the target columns;
- edges.csv: graph_id, source, target, optional weight;
- nodes.csv (optional): graph_id, id and numeric feature columns. Without it a graph's nodes are the
  ids its edges name (sorted: by value when they are all integers, else as text), with degree features.

Each file may be Parquet instead (nodes.parquet, edges.parquet, graphs.parquet: the same columns; rows counted from
1), which reads faster and smaller for big graphs. Node ids that are all integers (written without leading zeros)
are matched by value in vectorised lookups; any other ids as text.

Which targets mean which task is data/targets.py's one table (--task overrides it); an empty target cell is a
missing label (NaN), never an error, except for classes. Every error is one UserError line naming the file, the row (counted as a spreadsheet shows it: the
header is row 1) or column, and what was expected (a DataError: see frames.py). csv_graphs.py turns the
tables into DataSplits for training, and gives files read for prediction a model's node features.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import DataError
from .frames import Where, lookup, numeric_values, read_frame, require_columns, require_unique, require_values
from .splits import SPLIT_NAMES, canonical_label
from .target_cells import cell

if TYPE_CHECKING:  # torch_geometric takes seconds to import: loaded where a graph is made
    from torch_geometric.data import Data

NODES, EDGES, GRAPHS = "nodes.csv", "edges.csv", "graphs.csv"
NODE_LAYOUT = ("nodes.csv (id, label, optional split, numeric feature columns) and edges.csv (source, target, "
               "optional weight)")
GRAPH_LAYOUT = ("graphs.csv (graph_id, label), edges.csv (graph_id, source, target, optional weight) and optional "
                "nodes.csv (graph_id, id, numeric feature columns)")
LAYOUT = f"a folder holding {NODE_LAYOUT} for node classification, or {GRAPH_LAYOUT} for graph classification"


# ---------------------------------------------------------------- shared pieces

def _features(df, where: Where, columns: list[str]) -> np.ndarray | None:
    """The feature columns as float32 (N, F); any cell that is not a finite number is numeric_values' error."""
    import pandas as pd

    if not columns:
        return None
    if all(pd.api.types.is_numeric_dtype(df[c]) for c in columns):
        # filled column by column: a million nodes' 128 features never exist as a second float64 frame
        x = np.empty((len(df), len(columns)), dtype=np.float32)
        for j, c in enumerate(columns):
            x[:, j] = df[c].to_numpy(dtype=np.float32, na_value=np.nan)
        if np.isfinite(x).all():
            return x
    return numeric_values(df[columns], where, missing="expected a number in every feature cell",
                          finite=True).astype(np.float32)


def _weights(df, where: Where) -> np.ndarray | None:
    """The weight column as numbers >= 0 (GCN's normalisation takes the square root of each node's summed weights)."""
    if "weight" not in df.columns:
        return None
    w = numeric_values(df[["weight"]], where, missing="every edge needs a weight when the column is there",
                       finite=True)[:, 0]
    negative = np.flatnonzero(w < 0)
    if len(negative):
        i = int(negative[0])
        valid = "edge weights must be 0 or more (a strength, not a signed value)"
        raise where.error(f"weight {w[i]:g} is negative; {valid}", int(df.index[i]), "weight", value=w[i],
                          expected=f"the weight is negative; {valid}")
    return w


def _undirected(edge_index: torch.Tensor, weight: torch.Tensor | None, n: int, directed: bool):
    """Both directions of every edge, duplicates merged (weights averaged), sorted by (source, target).

    What torch_geometric.utils.to_undirected(..., reduce="mean") returns (a test checks it), with two sorts of
    integer keys: PyG's coalesce of the doubled list took 30 s and 1.8 GB for 10 M edges on one core.
    """
    if directed:
        return edge_index, weight
    src, dst = edge_index
    # one key per unordered pair, so (a, b) and (b, a) written in the file merge as PyG merges them
    key, perm = torch.sort(torch.minimum(src, dst) * n + torch.maximum(src, dst))
    first = torch.ones_like(key, dtype=torch.bool)
    first[1:] = key[1:] != key[:-1]
    group = torch.cumsum(first, 0) - 1
    pairs = key[first]
    del key
    low, high = pairs // n, pairs % n
    loop = low == high
    rows = torch.cat([low, high[~loop]])
    cols = torch.cat([high, low[~loop]])
    # the sorted keys give the sorted rows and columns back: no gather of 20 M random positions (4 s)
    both, order = torch.sort(rows * n + cols)
    del rows, cols
    out = torch.stack([both // n, both % n])
    if weight is None:
        return out, None
    total = torch.zeros(len(pairs), dtype=torch.float64).index_add_(0, group, weight[perm].double())
    mean = (total / torch.bincount(group, minlength=len(pairs))).float()
    return out, torch.cat([mean, mean[~loop]])[order]


def table_file(folder: Path, name: str) -> Path:
    """folder/<name> as .csv, else as .parquet where only that exists (the .csv path when neither does)."""
    stem = Path(name).stem
    found = [folder / f"{stem}{suffix}" for suffix in (".csv", ".parquet") if (folder / f"{stem}{suffix}").is_file()]
    if len(found) > 1:
        raise DataError(f"{{path}} holds both {stem}.csv and {stem}.parquet; keep the one to read", path=folder)
    return found[0] if found else folder / name


def _read_edges(path: Path, text: set[str]):
    """read_frame of an edge list, where a header without rows is an empty list (CSV or Parquet)."""
    import pandas as pd

    try:
        return read_frame(path, text, exact=False)
    except DataError as e:
        if "but no data rows" not in str(e):
            raise
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        columns, where = [str(c).strip() for c in pq.read_schema(path).names], Where(path, "parquet")
    else:
        columns = [str(c).strip() for c in pd.read_csv(path, nrows=0, skipinitialspace=True).columns]
        where = Where(path, "text")
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns}), where


def _integer_columns(path: Path, columns: tuple[str, ...]) -> bool:
    """Whether a table's `columns` look like integer ids (Parquet: their type; CSV: its first 1,000 rows)."""
    import pandas as pd

    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
            names = [str(n).strip() for n in schema.names]
            return all(c in names and pa.types.is_integer(schema.field(names.index(c)).type) for c in columns)
        head = pd.read_csv(path, nrows=1000, skipinitialspace=True)
    except Exception:  # noqa: BLE001 - an unreadable file is read_frame's to report, with its reason
        return False
    head.columns = [str(c).strip() for c in head.columns]
    return all(c in head.columns and pd.api.types.is_integer_dtype(head[c]) for c in columns)


def integer_ids(ids) -> np.ndarray | None:
    """Node ids (text) as int64 when every one is an integer written plainly ("7", not "07" or "7.0"), else None."""
    import pandas as pd

    text = pd.Series(np.asarray(ids, dtype=object))
    number = pd.to_numeric(text, errors="coerce")
    if not len(text) or not pd.api.types.is_integer_dtype(number):
        return None
    values = number.to_numpy(dtype=np.int64)
    return values if bool((pd.Series(values).astype(str).to_numpy() == text.to_numpy()).all()) else None


def _edge_ends(ids, edges_path: Path, columns: tuple[str, ...]):
    """(edges frame, its Where, positions in `ids` of each of `columns`' values, -1 where absent).

    Integer ids (integer_ids) are read as numbers and looked up by value, with no Python object per edge (a
    10 M-edge list stays in int64 arrays); other ids as stripped text, as every table's text columns are read.
    """
    import pandas as pd

    numbers = integer_ids(ids) if _integer_columns(edges_path, columns) else None
    edges, where = _read_edges(edges_path, set() if numbers is not None else set(columns))
    if numbers is not None and all(c in edges.columns and pd.api.types.is_integer_dtype(edges[c]) for c in columns):
        index = pd.Index(numbers)
        return edges, where, [index.get_indexer(edges[c].to_numpy()) for c in columns]
    if numbers is not None:  # a later row is not an integer: read the ids as text after all
        edges, where = _read_edges(edges_path, set(columns))
    for c in columns:
        if c not in edges.columns:
            return edges, where, []
        require_values(edges, where, c, f"{c} node id")
    index = pd.Index(np.asarray(ids, dtype=object))
    return edges, where, [index.get_indexer(edges[c].to_numpy(dtype=object)) for c in columns]


# ---------------------------------------------------------------- node classification

@dataclass
class NodeTable:
    """One graph read from nodes.csv and edges.csv, before labels are encoded and masks drawn."""

    folder: Path
    ids: list[str]
    x: np.ndarray | None              # (N, F) node features, None without feature columns
    feature_columns: list[str]
    edge_index: torch.Tensor          # (2, E), undirected unless directed=True
    edge_weight: torch.Tensor | None
    labels: list[str | None]          # None: unlabelled (or no label column, or several target columns)
    splits: list[str | None] | None   # train/val/test/None per node; None without a split column
    rows: list[int]                   # 0-based data rows of nodes.csv
    where: Where
    targets: list[tuple] | None = None  # raw target cells per node (None where empty); None: no target columns
    target_columns: tuple[str, ...] = ("label",)


def _target_cells(df, columns: list[str]) -> tuple[list[tuple] | None, list[str | None]]:
    """(raw target cells per row or None without the columns, canonical labels of one column or all None)."""
    if any(c not in df.columns for c in columns):
        return None, [None] * len(df)
    # once per distinct value, then looked up: a million nodes carry a handful of classes
    read = [df[c].tolist() for c in columns]
    seen = {v: cell(v) for values in read for v in set(values)}
    cells = list(zip(*([seen[v] for v in values] for values in read)))
    if len(columns) != 1:
        return cells, [None] * len(df)
    label = {v: None if v is None else canonical_label(v) for v in set(seen.values())}
    return cells, [label[c[0]] for c in cells]


def read_nodes(folder: str | Path, *, directed: bool = False, labels: bool = True,
               label_columns: tuple[str, ...] = ("label",)) -> NodeTable:
    """Read a node-classification folder. labels=False (prediction): the label column is optional."""
    folder = Path(folder).expanduser()
    nodes_path, edges_path = table_file(folder, NODES), table_file(folder, EDGES)
    for p in (nodes_path, edges_path):
        if not p.is_file():
            raise DataError(f"{{path}} has no {p.name}; expected {LAYOUT}", path=folder)
    columns = list(label_columns)
    nodes, nw = read_frame(nodes_path, {"id", *columns, "split"}, exact=False)
    require_columns(nodes, nodes_path, ["id"] + (columns if labels else []),
             f"id, {', '.join(columns)} (empty for unlabelled nodes), optional split (train/val/test) and numeric "
             f"feature columns")
    require_values(nodes, nw, "id", "node id")
    require_unique(nodes, nw, ["id"], "node ids")
    feature_columns = [c for c in nodes.columns if c not in ("id", "split", *columns)]
    x = _features(nodes, nw, feature_columns)
    nodes = nodes.drop(columns=feature_columns)  # x holds them now: a million rows' frame is not kept twice
    targets, node_labels = _target_cells(nodes, columns)
    splits = None
    if "split" in nodes.columns:
        keys = nodes["split"].map(lambda v: SPLIT_NAMES.get(str(v).lower(), "?"), na_action="ignore")
        unknown = np.flatnonzero((keys == "?").to_numpy())
        if len(unknown):
            i = int(unknown[0])
            v = nodes["split"].iloc[i]
            valid = "valid: train, val, test, or an empty cell for a node in no split"
            raise nw.error(f"unknown split {v!r}; {valid}", int(nodes.index[i]), "split", value=v,
                           expected=f"unknown split; {valid}")
        splits = [None if k is None or k != k else k for k in keys.tolist()]
    ids = nodes["id"].to_numpy(dtype=object)
    edges, ew, ends = _edge_ends(ids, edges_path, ("source", "target"))
    require_columns(edges, edges_path, ["source", "target"], "source, target (node ids of nodes.csv) and optional weight")
    src, dst = ends
    # the first row naming an unknown id, whichever column it is in
    bad = np.flatnonzero((src < 0) | (dst < 0))
    if len(bad):
        i = int(bad[0])
        column = "source" if src[i] < 0 else "target"
        value = str(edges[column].iloc[i])
        raise ew.error(f"node id {value!r} is not in {str(nodes_path)!r} (its id column)",
                       int(edges.index[i]), column, value=value,
                       expected=f"the node id is not in {nodes_path.name} (its id column)")
    weight = _weights(edges, ew)
    edge_index = torch.as_tensor(np.stack([src, dst]).astype(np.int64)).reshape(2, -1)
    w = None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
    del edges, ends, src, dst, weight  # a 10 M-edge frame is gone before the undirected copy is made
    edge_index, w = _undirected(edge_index, w, len(nodes), directed)
    return NodeTable(folder, [str(v) for v in ids], x, feature_columns, edge_index, w, node_labels, splits,
                     nodes.index.tolist(), nw, targets, tuple(columns))


def node_data(table: NodeTable) -> Data:
    """The table as a PyG Data with x (features as float32, or None), edge_index and edge_weight."""
    from torch_geometric.data import Data

    data = Data(edge_index=table.edge_index, num_nodes=len(table.ids))
    if table.x is not None:
        data.x = torch.as_tensor(table.x, dtype=torch.float32)
    if table.edge_weight is not None:
        data.edge_weight = table.edge_weight
    return data


# ---------------------------------------------------------------- graph classification

@dataclass
class GraphTable:
    """Graphs read from graphs.csv, edges.csv and nodes.csv, features from columns (x None without them)."""

    folder: Path
    graph_ids: list[str]
    labels: list[str | None]
    graphs: list[Any]                 # PyG Data with edge_index, num_nodes, x (or None), node_ids
    feature_columns: list[str]
    rows: list[int]                   # 0-based data rows of graphs.csv
    where: Where
    has_nodes_file: bool
    targets: list[tuple] | None = None  # raw target cells per graph (None where empty); None: no target columns
    target_columns: tuple[str, ...] = ("label",)


def _natural(ids: list[str]) -> list:
    """Sort keys: integers by value when every id is one, else the text."""
    try:
        return [int(v) for v in ids]
    except ValueError:
        return list(ids)


def read_graphs(folder: str | Path, *, directed: bool = False, labels: bool = True,
                label_columns: tuple[str, ...] = ("label",)) -> GraphTable:
    """Read a graph-classification folder. labels=False (prediction): the label column is optional.

    Targets: label_columns; without them in graphs.csv, when they are the default ("label"), every column other
    than graph_id (module docstring).
    """
    import pandas as pd
    from torch_geometric.data import Data

    folder = Path(folder).expanduser()
    graphs_path, edges_path = table_file(folder, GRAPHS), table_file(folder, EDGES)
    nodes_path = table_file(folder, NODES)
    if not edges_path.is_file():
        raise DataError(f"{{path}} has {graphs_path.name} but no {EDGES}; expected {GRAPH_LAYOUT}", path=folder)
    columns = list(label_columns)
    if graphs_path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        header = [str(c).strip() for c in pq.read_schema(graphs_path).names]
    else:
        header = [str(c).strip() for c in pd.read_csv(graphs_path, nrows=0, skipinitialspace=True).columns]
    if columns == ["label"] and "label" not in header and len(header) > 1 and "graph_id" in header:
        columns = [c for c in header if c != "graph_id"]  # every other column is a target of the graph
    gdf, gw = read_frame(graphs_path, {"graph_id", *columns}, exact=False)
    require_columns(gdf, graphs_path, ["graph_id"] + (columns if labels else []),
                    "graph_id and label (or target columns)")
    require_values(gdf, gw, "graph_id", "graph id")
    require_unique(gdf, gw, ["graph_id"], "graph ids")
    targets, graph_labels = _target_cells(gdf, columns)
    gindex = pd.Index(list(gdf["graph_id"]))
    num_graphs = len(gdf)

    edges, ew = _read_edges(edges_path, {"graph_id", "source", "target"})
    require_columns(edges, edges_path, ["graph_id", "source", "target"],
             "graph_id, source, target (node ids within the graph) and optional weight")
    for c, what in (("graph_id", "graph id"), ("source", "source node id"), ("target", "target node id")):
        require_values(edges, ew, c, what)
    e_graph = lookup(gindex, list(edges["graph_id"]), edges, ew, "graph_id", f"a graph_id of {str(graphs_path)!r}",
                     f"a graph_id of {GRAPHS}")
    weight = _weights(edges, ew)

    if nodes_path.is_file():
        ndf, nw = read_frame(nodes_path, {"graph_id", "id"}, exact=False)
        require_columns(ndf, nodes_path, ["graph_id", "id"], "graph_id, id and numeric feature columns")
        require_values(ndf, nw, "graph_id", "graph id")
        require_values(ndf, nw, "id", "node id")
        require_unique(ndf, nw, ["graph_id", "id"], "node ids within a graph")
        n_graph = lookup(gindex, list(ndf["graph_id"]), ndf, nw, "graph_id", f"a graph_id of {str(graphs_path)!r}",
                     f"a graph_id of {GRAPHS}")
        n_ids = [str(v) for v in ndf["id"]]
        feature_columns = [c for c in ndf.columns if c not in ("graph_id", "id")]
        feats = _features(ndf, nw, feature_columns)
        order = np.argsort(n_graph, kind="stable")  # nodes grouped by graph, file order within a graph
    else:
        pairs = pd.DataFrame({"g": np.concatenate([e_graph, e_graph]),
                              "id": list(edges["source"]) + list(edges["target"])}).drop_duplicates()
        n_graph = pairs["g"].to_numpy()
        n_ids = [str(v) for v in pairs["id"]]
        key = _natural(n_ids)
        order = np.array(sorted(range(len(n_ids)), key=lambda i: (n_graph[i], key[i])), dtype=np.int64)
        feature_columns, feats = [], None
    n_graph, n_ids = n_graph[order], [n_ids[i] for i in order]
    feats = None if feats is None else feats[order]
    node_index = pd.MultiIndex.from_arrays([n_graph, n_ids])
    src = node_index.get_indexer(pd.MultiIndex.from_arrays([e_graph, list(edges["source"])]))
    dst = node_index.get_indexer(pd.MultiIndex.from_arrays([e_graph, list(edges["target"])]))
    bad = np.flatnonzero((src < 0) | (dst < 0))
    if len(bad):
        i = int(bad[0])
        column = "source" if src[i] < 0 else "target"
        node, graph = edges[column].iloc[i], edges["graph_id"].iloc[i]
        owners = np.flatnonzero(np.asarray(n_ids, dtype=object) == str(node))
        if len(owners):  # the id is a node of another graph: an edge never joins two graphs
            other = gindex[int(n_graph[owners[0]])]
            why = "an edge joins two nodes of its own graph (its graph_id), never nodes of two graphs"
            raise ew.error(f"node {node!r} belongs to graph {other!r} in {str(nodes_path)!r}, not to this edge's graph "
                           f"{graph!r}; {why}", int(edges.index[i]), column, value=(node, graph, other),
                           expected=f"the node belongs to another graph in {NODES}; {why}")
        raise ew.error(f"node id {node!r} of graph {graph!r} is not in {str(nodes_path)!r}", int(edges.index[i]),
                       column, value=(node, graph), expected=f"the node id is not among its graph's nodes in {NODES}")
    counts = np.bincount(n_graph, minlength=num_graphs)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        g = int(empty[0])
        why = (f"has no nodes (no edge in {EDGES}{'' if nodes_path.is_file() else ' and no nodes.csv'} names it); "
               f"expected at least one node")
        raise gw.error(f"graph {gindex[g]!r} {why}", int(gdf.index[g]), "graph_id", value=gindex[g],
                       expected=f"the graph {why}")
    offsets = np.concatenate([[0], np.cumsum(counts)])
    e_order = np.argsort(e_graph, kind="stable")
    e_counts = np.bincount(e_graph, minlength=num_graphs)
    e_offsets = np.concatenate([[0], np.cumsum(e_counts)])
    src, dst = src[e_order], dst[e_order]
    w_sorted = None if weight is None else weight[e_order]
    graphs = []
    for g in range(num_graphs):
        lo, hi = e_offsets[g], e_offsets[g + 1]
        n = int(counts[g])
        ei = torch.as_tensor(np.stack([src[lo:hi], dst[lo:hi]]) - offsets[g], dtype=torch.long).reshape(2, -1)
        w = None if w_sorted is None else torch.as_tensor(w_sorted[lo:hi], dtype=torch.float32)
        ei, w = _undirected(ei, w, n, directed)
        data = Data(edge_index=ei, num_nodes=n)
        if feats is not None:
            data.x = torch.as_tensor(feats[offsets[g]:offsets[g + 1]], dtype=torch.float32)
        if w is not None:
            data.edge_weight = w
        graphs.append(data)
    return GraphTable(folder, [str(v) for v in gdf["graph_id"]], graph_labels, graphs, feature_columns,
                      [int(i) for i in gdf.index], gw, nodes_path.is_file(), targets, tuple(columns))
