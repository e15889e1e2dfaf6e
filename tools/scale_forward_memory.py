"""Peak RSS of one training step (forward + backward) of the node default on a generated graph: edge_index vs sparse adjacency.

Usage: python tools/scale_forward_memory.py NODES EDGES FEATURES edge_index|sparse [CONV]  (one process per measurement)
"""
import json
import resource
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from scale_study import sbm  # noqa: E402

from resnet_any.data.neighbors import adjacency  # noqa: E402
from resnet_any.domains.graph import gcn_resnet  # noqa: E402

n, e, f, how = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
conv = sys.argv[5] if len(sys.argv) > 5 else "gcn"
torch.set_num_threads(1)
g = sbm(n, e, f)
structure = adjacency(g.edge_index, n) if how == "sparse" else g.edge_index
model = gcn_resnet(f, 8, style="res", norm="none", depth=2, hidden_channels=64, dropout=0.5, input_dropout=0.5,
                   conv=conv)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
t0 = time.monotonic()
out = model(g.x, structure)
torch.nn.functional.cross_entropy(out[g.train_mask], g.y[g.train_mask]).backward()
step = time.monotonic() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
print(json.dumps({"nodes": n, "edges": int(g.num_edges), "conv": conv, "structure": how, "step_s": round(step, 2),
                  "peak_rss_gb": round(peak, 2), "peak_over_data_gb": round(peak - before, 2)}))
