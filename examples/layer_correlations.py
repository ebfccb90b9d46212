"""Layer × output correlations — the paper's §VI table (SPEC §7).

Beguš & Zhou (2022) measured intensity, F0, F1, F2 and duration on each
intermediate layer (upsampled, on the output's vowel intervals) and on the
output, and report Pearson r per layer (ciwGAN: intensity Conv4 0.82 … Conv1
0.44; F0 Conv4 0.55 …). This script computes that table for any model:

    python examples/layer_correlations.py --checkpoint demo --n 60 --out corr_run

Writes OUT/ (the random outputs, acoustics.csv), OUT/figures/correlations.csv
(the table: measure, layer, r, ci_low, ci_high, n, p) and its figure.
"""

import argparse

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--checkpoint", default="demo", help="model: 'demo' or a checkpoint file")
ap.add_argument("--n", type=int, default=60, help="random outputs")
ap.add_argument("--seed", type=int, default=1, help="seed of the latents")
ap.add_argument("--settings", default="paper-ciwgan", help="Praat settings preset")
ap.add_argument("--labels", default="voi", help="interval labels to correlate in (comma-separated)")
ap.add_argument("--workers", type=int, default=2, help="processes annotating and measuring")
ap.add_argument("--out", default="corr_run", help="output folder")
args = ap.parse_args()

from pathlib import Path  # noqa: E402  (after --help, which must stay light)

import ganphon.stats as st  # noqa: E402
from ganphon import layout  # noqa: E402
from ganphon.io import write_table  # noqa: E402
from ganphon.plots import plot_correlations  # noqa: E402
from ganphon.sweep import run_sweep  # noqa: E402

run_sweep({"kind": "random", "n": args.n, "seed": args.seed}, args.checkpoint, args.out,
          settings=args.settings, workers=args.workers)
table = st.read_acoustics(args.out)
# voiced stretches only, as in the paper
corr = st.correlation_table(table, labels=[x.strip() for x in args.labels.split(",") if x.strip()])
figures = Path(args.out) / layout.FIGURES_DIR
figures.mkdir(exist_ok=True)
write_table(corr, figures / "correlations.csv")
print(corr.to_string(index=False))
print("figure:", plot_correlations(corr, out=figures / "correlations"))
