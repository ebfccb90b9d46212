"""The reduplication code path — TACL 2021 (Beguš, "Identity-based patterns…").

A ciwGAN trained on C1V2C3V4 and reduplicated C1V2-C1V2C3V4 words learns a code
for reduplication; the paper interpolates the code along [1.5, 0] → [0, 0] →
[0, 1.5] in steps of 0.125 (25 outputs per set, 100 sets) and counts
reduplicated outputs. This script runs that path on a model with 2 codes, e.g.
one trained on `ganphon corpus synth --template redup`:

    python examples/reduplication_path.py --checkpoint redup_model.pt --bases 20 --out redup_path

Any further codes stay 0. Writes OUT/ (samples, latents.csv, acoustics.csv),
OUT/stats/ and OUT/figures/.
"""

import argparse

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--checkpoint", default="demo", help="ciwGAN or fiwGAN with at least 2 codes")
ap.add_argument("--bases", type=int, default=20, help="random noise latents, each sent along the path")
ap.add_argument("--step", type=float, default=0.125, help="step along each segment of the path")
ap.add_argument("--seed", type=int, default=1, help="seed of the noise latents")
ap.add_argument("--measures", default="duration,intensity", help="outcomes to model, comma-separated")
ap.add_argument("--workers", type=int, default=2, help="processes annotating, measuring and fitting")
ap.add_argument("--out", default="redup_path", help="output folder")
args = ap.parse_args()

import ganphon.stats as st  # noqa: E402  (after --help, which must stay light)
from ganphon.models import load_checkpoint  # noqa: E402
from ganphon.plots import plot_folder  # noqa: E402
from ganphon.sweep import run_sweep  # noqa: E402

model = load_checkpoint(args.checkpoint)
k = model.config.n_codes
if k < 2:
    raise SystemExit(f"reduplication_path.py: error: {args.checkpoint} has {k} codes; the path needs 2")
# The TACL path in the first two codes; any further codes stay 0.
path = [[1.5, 0] + [0] * (k - 2), [0] * k, [0, 1.5] + [0] * (k - 2)]
spec = {"kind": "code", "path": path, "step": args.step, "bases": args.bases, "seed": args.seed}
run_sweep(spec, model, args.out, workers=args.workers)
result = st.run_stats(args.out, measures=args.measures.split(","), workers=args.workers)
print(result.tables["effects"].to_string(index=False))
figures, notes = plot_folder(args.out, base=0)
print("\n".join(map(str, figures + notes)))
