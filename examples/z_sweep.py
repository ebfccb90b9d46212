"""Sweeping one latent variable far beyond its training range — the paper's Fig 9.

Beguš & Zhou (2022) set z11 from −15 to 5 in steps of 2 with the other 99
variables fixed and looked at every layer: the frication of [s] appears first as
spikes in Conv1 and separates from periodic vibration in Conv3. This script runs
the same sweep on any model, fits the mixed models and draws the grid:

    python examples/z_sweep.py --checkpoint demo --var z11 --bases 10 --out z11_sweep

Writes OUT/ (one sample per base × value, latents.csv, acoustics.csv), OUT/stats/
and OUT/figures/.
"""

import argparse

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--checkpoint", default="demo", help="model: 'demo' or a checkpoint file")
ap.add_argument("--var", default="z11", help="latent variable to sweep")
ap.add_argument("--start", type=float, default=-15, help="first value")
ap.add_argument("--stop", type=float, default=5, help="last value (included)")
ap.add_argument("--step", type=float, default=2, help="step between values")
ap.add_argument("--bases", type=int, default=10, help="random base latents, each swept")
ap.add_argument("--seed", type=int, default=1, help="seed of the base latents")
ap.add_argument("--measures", default=None,
                help="outcomes to model, comma-separated, e.g. intensity,f0 (default: every sweep measure)")
ap.add_argument("--workers", type=int, default=2, help="processes annotating, measuring and fitting")
ap.add_argument("--out", default="z11_sweep", help="output folder")
args = ap.parse_args()

import ganphon.stats as st  # noqa: E402  (after --help, which must stay light)
from ganphon.plots import plot_effects, plot_sweep_grid  # noqa: E402
from ganphon.sweep import run_sweep  # noqa: E402

spec = {"kind": "dimension", "var": args.var, "from": args.start, "to": args.stop, "step": args.step,
        "bases": args.bases, "seed": args.seed}
run_sweep(spec, args.checkpoint, args.out, workers=args.workers)
measures = {"measures": args.measures.split(",")} if args.measures else {}
result = st.run_stats(args.out, workers=args.workers, **measures)
print("first layer with an effect, per outcome:", result.first_layers)
print(plot_sweep_grid(args.out, base=0, out=f"{args.out}/figures/sweep_grid"))
if result.tables["effects"].empty:
    print("no model could be fitted (too few bases or values?); see", f"{args.out}/stats/stats.json")
else:
    print(plot_effects(result.tables["effects"], out=f"{args.out}/figures/effects"))
