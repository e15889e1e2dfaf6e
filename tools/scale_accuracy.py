"""Usage: python tools/scale_accuracy.py cora|NODES full|neighbor|auto [FEATURES] [SEED]

Neighbour-sampled vs full-batch test accuracy with the node default (all epochs): an SBM and Cora as a plain graph."""
import json, sys, tempfile
import torch
sys.path.insert(0, __file__.rsplit("/", 1)[0])
torch.set_num_threads(1)
import resnet_any
from scale_study import sbm
from resnet_any.data import load_dataset

which, mode = sys.argv[1], sys.argv[2]
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
if which == "cora":
    g = load_dataset("graph", "cora").graph
else:
    n = int(which)
    g = sbm(n, 10 * n, int(sys.argv[3]) if len(sys.argv) > 3 else 128, seed=0)
s = resnet_any.fit(None, g, domain="graph", sampling=mode, device="cpu", quiet=True, out=tempfile.mkdtemp(), seed=seed)
print(json.dumps({"graph": which, "sampling": mode, "seed": seed, "test_accuracy": round(s["test_accuracy"], 4),
                  "wall_s": round(s["wall_seconds"], 1), "epochs": s["epochs"], "best_epoch": s["best_epoch"]}))
