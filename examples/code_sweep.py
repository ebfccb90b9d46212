"""A ciwGAN code sweep — the paper's code interpolation (c2 from 0 to 2 in steps of 0.25).

The paper varies one code variable of the ciwGAN while the noise variables stay
fixed and watches which layers follow; values far above 1 (up to ±15) show where
outputs stop changing. This script sweeps one code variable and fits the models:

    python examples/code_sweep.py --checkpoint demo --var c2 --stop 2 --step 0.25 --out c2_sweep

The other code variables stay 0. Writes OUT/ (samples, latents.csv, acoustics.csv),
OUT/stats/ and OUT/figures/.
"""

import argparse

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--checkpoint", default="demo", help="ciwGAN or fiwGAN: 'demo' or a checkpoint file")
ap.add_argument("--var", default="c2", help="code variable to sweep")
ap.add_argument("--start", type=float, default=0, help="first value")
ap.add_argument("--stop", type=float, default=2, help="last value (included)")
ap.add_argument("--step", type=float, default=0.25, help="step between values")
ap.add_argument("--bases", type=int, default=10, help="random noise latents, each swept")
ap.add_argument("--seed", type=int, default=1, help="seed of the noise latents")
ap.add_argument("--measures", default=None,
                help="outcomes to model, comma-separated, e.g. intensity,f0 (default: every sweep measure)")
ap.add_argument("--workers", type=int, default=2, help="processes annotating, measuring and fitting")
ap.add_argument("--out", default="c2_sweep", help="output folder")
args = ap.parse_args()

import ganphon.stats as st  # noqa: E402  (after --help, which must stay light)
from ganphon.plots import plot_effects, plot_sweep_grid  # noqa: E402
from ganphon.sweep import run_sweep  # noqa: E402

spec = {"kind": "code", "var": args.var, "from": args.start, "to": args.stop, "step": args.step,
        "bases": args.bases, "seed": args.seed}
run_sweep(spec, args.checkpoint, args.out, workers=args.workers)
measures = {"measures": args.measures.split(",")} if args.measures else {}
result = st.run_stats(args.out, workers=args.workers, **measures)
print(result.tables["lrt"].to_string(index=False))
print(plot_sweep_grid(args.out, base=0, out=f"{args.out}/figures/sweep_grid"))
if result.tables["effects"].empty:
    print("no model could be fitted (too few bases or values?); see", f"{args.out}/stats/stats.json")
else:
    print(plot_effects(result.tables["effects"], out=f"{args.out}/figures/effects"))
