"""The reduplication code path — TACL 2021 (Beguš, "Identity-based patterns…").

A ciwGAN trained on C1V2C3V4 and reduplicated C1V2-C1V2C3V4 words learns a code
for reduplication; the paper interpolates the code along [1.5, 0] → [0, 0] →
[0, 1.5] in steps of 0.125 (25 outputs per set, 100 sets) and counts
reduplicated outputs. This script runs that path on a model with 2 codes, e.g.
one trained on `ganphon corpus synth --template redup`:

    python examples/reduplication_path.py --checkpoint redup_model.pt --bases 20 --out redup_path
"""

import argparse

import ganphon.stats as st
from ganphon.plots import plot_sweep_grid
from ganphon.sweep import run_sweep

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--checkpoint", default="demo")
ap.add_argument("--bases", type=int, default=20)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--out", default="redup_path")
args = ap.parse_args()

from ganphon.models import load_checkpoint

k = load_checkpoint(args.checkpoint).config.n_codes
# The TACL path in the first two codes; any further codes stay 0.
path = [[1.5, 0] + [0] * (k - 2), [0] * k, [0, 1.5] + [0] * (k - 2)]
spec = {"kind": "code", "path": path, "step": 0.125, "bases": args.bases, "seed": args.seed}
run_sweep(spec, args.checkpoint, args.out, workers=2)
result = st.run_stats(args.out, measures=("duration", "intensity"))
print(result.tables["effects"].to_string(index=False))
print(plot_sweep_grid(args.out, base=0, out=f"{args.out}/figures/path_grid"))
