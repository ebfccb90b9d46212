"""Individual feature maps — the paper's §IV-E analysis.

For N outputs the paper averages each map of a layer across outputs into an
activation profile, separates maps with spectral clustering (RBF affinity,
γ = 1e-10, k = 2) — maps that spike only at [s] against the rest — and ranks
maps by the cosine distance of their profiles between z11 = −15 and z11 = 15.

    python examples/feature_maps.py --checkpoint demo --layer conv3 --var z11 --out fmaps
"""

import argparse
from pathlib import Path

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--checkpoint", default="demo", help="model: 'demo' or a checkpoint file")
ap.add_argument("--layer", default="conv3", help="layer whose individual maps are compared")
ap.add_argument("--var", default="z11", help="latent variable set to -value and +value")
ap.add_argument("--value", type=float, default=15.0, help="compare var = -value with var = +value")
ap.add_argument("--n", type=int, default=100, help="random base latents")
ap.add_argument("--seed", type=int, default=1, help="seed of the base latents")
ap.add_argument("--gamma", type=float, default=1e-10, help="RBF affinity of the spectral clustering")
ap.add_argument("--out", default="fmaps", help="output folder")
args = ap.parse_args()

import numpy as np  # noqa: E402  (after --help, which must stay light)

import ganphon.stats as st  # noqa: E402
from ganphon.io import write_table  # noqa: E402
from ganphon.models import Latent, load_checkpoint  # noqa: E402
from ganphon.plots import plot_feature_maps  # noqa: E402
from ganphon.probe import probe  # noqa: E402

model = load_checkpoint(args.checkpoint)
lat = Latent(model.config)
base = lat.sample(args.n, seed=args.seed)
maps = {}
for sign in (-1, 1):
    z = base.clone()
    z[:, lat.index(args.var)] = sign * args.value
    maps[sign] = probe(model.generator, z, layers=[args.layer], feature_maps=[args.layer]).feature_maps[args.layer]
profiles = st.activation_profiles(np.concatenate([maps[-1], maps[1]]))
labels = st.cluster_feature_maps(profiles, gamma=args.gamma, k=2, seed=args.seed)
ranking = st.rank_maps_by_cosine(maps[-1], maps[1])
Path(args.out).mkdir(parents=True, exist_ok=True)
write_table(ranking, Path(args.out) / f"ranking_{args.layer}.csv")
print("cluster sizes:", np.bincount(labels))
print(ranking.head(10).to_string(index=False))
print(plot_feature_maps(profiles, labels, out=Path(args.out) / f"profiles_{args.layer}",
                        title=f"{args.layer}: activation profiles by cluster"))
