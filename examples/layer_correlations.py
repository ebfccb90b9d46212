"""Layer × output correlations — the paper's §VI table (SPEC §7).

Beguš & Zhou (2022) measured intensity, F0, F1, F2 and duration on each
intermediate layer (upsampled, on the output's vowel intervals) and on the
output, and report Pearson r per layer (ciwGAN: intensity Conv4 0.82 … Conv1
0.44; F0 Conv4 0.55 …). This script computes that table for any model:

    python examples/layer_correlations.py --checkpoint demo --n 60 --out corr_run
"""

import argparse

import ganphon.stats as st
from ganphon.plots import plot_correlations
from ganphon.sweep import run_sweep

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--checkpoint", default="demo")
ap.add_argument("--n", type=int, default=60, help="random outputs")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--settings", default="paper-ciwgan", help="Praat settings preset")
ap.add_argument("--out", default="corr_run")
args = ap.parse_args()

run_sweep({"kind": "random", "n": args.n, "seed": args.seed}, args.checkpoint, args.out,
          settings=args.settings, workers=2)
table = st.read_acoustics(args.out)
# voiced stretches only, as in the paper
corr = st.correlation_table(table, labels=["voi"])
print(corr.to_string(index=False))
print("figure:", plot_correlations(corr, out=f"{args.out}/figures/correlations"))
