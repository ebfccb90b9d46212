"""A ciwGAN code sweep — the paper's code interpolation (c2 from 0 to 2 in steps of 0.25).

The paper varies one code variable of the ciwGAN while the noise variables stay
fixed and watches which layers follow; values far above 1 (up to ±15) show where
outputs stop changing. This script sweeps one code variable and fits the models:

    python examples/code_sweep.py --checkpoint demo --var c2 --stop 2 --step 0.25 --out c2_sweep
"""

import argparse

import ganphon.stats as st
from ganphon.plots import plot_effects, plot_sweep_grid
from ganphon.sweep import run_sweep

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--checkpoint", default="demo")
ap.add_argument("--var", default="c2")
ap.add_argument("--start", type=float, default=0)
ap.add_argument("--stop", type=float, default=2)
ap.add_argument("--step", type=float, default=0.25)
ap.add_argument("--bases", type=int, default=10)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--out", default="c2_sweep")
args = ap.parse_args()

spec = {"kind": "code", "var": args.var, "from": args.start, "to": args.stop, "step": args.step,
        "bases": args.bases, "seed": args.seed}
run_sweep(spec, args.checkpoint, args.out, workers=2)
result = st.run_stats(args.out)
print(result.tables["lrt"].to_string(index=False))
print(plot_sweep_grid(args.out, base=0, out=f"{args.out}/figures/sweep_grid"))
print(plot_effects(result.tables["effects"], out=f"{args.out}/figures/effects"))
