"""Sweeping one latent variable far beyond its training range — the paper's Fig 9
and its ciwGAN code interpolation.

Beguš & Zhou (2022) set z11 from −15 to 5 in steps of 2 with the other 99
variables fixed and looked at every layer: the frication of [s] appears first as
spikes in Conv1 and separates from periodic vibration in Conv3. For a ciwGAN
they also vary one code variable (c2 from 0 to 2 in steps of 0.25; values far
above 1 show where outputs stop changing) while the noise stays fixed and the
other code variables stay 0. This script runs either sweep on any model, fits
the mixed models and draws the figures:

    python examples/z_sweep.py --checkpoint demo --var z11 --bases 10 --out z11_sweep
    python examples/z_sweep.py --checkpoint demo --var c2 --start 0 --stop 2 --step 0.25 --out c2_sweep

Writes OUT/ (one sample per base × value, latents.csv, acoustics.csv), OUT/stats/
and OUT/figures/.
"""

import argparse

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--checkpoint", default="demo", help="model: 'demo' or a checkpoint file")
ap.add_argument("--var", default="z11", help="latent variable to sweep: a noise variable z<i> or a code c<i>")
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
from ganphon.models import Latent, load_checkpoint  # noqa: E402
from ganphon.plots import plot_folder  # noqa: E402
from ganphon.sweep import run_sweep  # noqa: E402

model = load_checkpoint(args.checkpoint)
# a code variable is swept with the other codes at 0; a noise variable with the base's own code
kind = "code" if args.var in Latent(model.config).code_names else "dimension"
spec = {"kind": kind, "var": args.var, "from": args.start, "to": args.stop, "step": args.step,
        "bases": args.bases, "seed": args.seed}
run_sweep(spec, model, args.out, workers=args.workers)
result = st.run_stats(args.out, workers=args.workers, **({"measures": args.measures.split(",")} if args.measures else {}))
print(result.tables["lrt"].to_string(index=False))
print("first layer with an effect, per outcome:", result.first_layers)
figures, notes = plot_folder(args.out, base=0)
print("\n".join(map(str, figures + notes)))
