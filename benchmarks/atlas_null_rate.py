"""How often does the atlas call an effect where there is none?  The long version of the test.

1. **Simulated atlases** without a true effect: ``--variables`` variables × 2
   outcomes × 5 values × ``--bases`` bases, y = base intercept + base's own
   slope (mean 0) · value + noise, ``--seeds`` times: the share of raw p < 0.05
   (should be 0.05), and the share of atlases with any Holm- (family-wise) or
   BH-passing effect (Holm ≤ 0.05; BH ≤ 0.05 too when every null is true).
2. **Sign-flip null on a real atlas** (``--atlas DIR``, an atlas folder): each
   (variable, base) gets its values multiplied by a random ±1, which makes
   every per-base slope's sign random and the true mean slope 0 while keeping
   the real outcomes' spread, outliers and missing values; ``--flips`` times.

Writes ``--out`` (PNG + PDF): the p-value histogram of the simulated tests and
the family-wise rates with their 95 % binomial intervals.

    python benchmarks/atlas_null_rate.py --seeds 1000 --atlas /tmp/bench_atlas/files_2 --out null_rate
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def simulated(rng, n_vars, n_bases, values=(-15, -5, 0, 5, 15), outcomes=("a", "b")):
    rows = []
    for v in range(n_vars):
        for o in outcomes:
            for b in range(n_bases):
                a, u = rng.normal(0, 3), rng.normal(0, 0.2)
                for x in values:
                    rows.append((f"z{v + 1}", o, "output", b, float(x), a + u * x + rng.normal(0, 1)))
    return pd.DataFrame(rows, columns=["var", "outcome", "layer", "base", "value", "y"])


def rate(hits):
    hits = np.asarray(hits, dtype=float)
    p = hits.mean()
    half = 1.96 * np.sqrt(max(p * (1 - p), 1e-12) / len(hits))
    return float(p), float(max(0.0, p - half)), float(p + half)


def main(argv=None) -> int:
    from ganphon.atlas import atlas_effects, sample_outcomes
    from ganphon.plots import new_figure, save_figure

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--variables", type=int, default=20)
    ap.add_argument("--bases", type=int, default=6)
    ap.add_argument("--atlas", default=None, help="an atlas folder for the sign-flip null")
    ap.add_argument("--flips", type=int, default=500)
    ap.add_argument("--out", default="atlas_null_rate")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(20261202)
    ps, holm_any, bh_any, flip_any = [], [], [], []
    for _ in range(args.seeds):
        data = simulated(rng, args.variables, args.bases)
        eff = atlas_effects(data)
        ps.append(eff["p"].to_numpy())
        holm_any.append(bool((eff["p_holm"] < 0.05).any()))
        bh_any.append(bool((eff["p_bh"] < 0.05).any()))
        flip_any.append(bool((atlas_effects(data, test="signflip")["p_holm"] < 0.05).any()))
    ps = np.concatenate(ps)
    result = {"simulated": {"seeds": args.seeds, "tests_per_atlas": args.variables * 2, "bases": args.bases,
                            "raw_p_below_0.05": rate(ps < 0.05), "any_holm": rate(holm_any),
                            "any_bh": rate(bh_any), "any_holm_signflip_test": rate(flip_any)}}
    flip_holm, flip_holm_test = [], []
    if args.atlas:
        from ganphon.stats.tables import read_acoustics

        outcomes = sample_outcomes(read_acoustics(args.atlas))
        cells = outcomes[["var", "base"]].drop_duplicates().reset_index(drop=True)
        real = atlas_effects(outcomes)
        for _ in range(args.flips):
            sign = pd.Series(rng.choice([-1.0, 1.0], len(cells)),
                             index=pd.MultiIndex.from_frame(cells))
            s = sign.reindex(pd.MultiIndex.from_frame(outcomes[["var", "base"]])).to_numpy()
            flipped = outcomes.assign(value=outcomes["value"] * s)
            flip_holm.append(bool((atlas_effects(flipped)["p_holm"] < 0.05).any()))
            flip_holm_test.append(bool((atlas_effects(flipped, test="signflip")["p_holm"] < 0.05).any()))
        result["sign_flip"] = {"atlas": str(args.atlas), "flips": args.flips, "tests": len(real),
                               "bases": int(outcomes["base"].nunique()), "real_passing": int(real["passes"].sum()),
                               "any_holm": rate(flip_holm), "any_holm_signflip_test": rate(flip_holm_test)}

    fig = new_figure(8.0, 3.0)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.hist(ps[np.isfinite(ps)], bins=20, range=(0, 1), color="#6baed6", edgecolor="white")
    ax1.axhline(np.isfinite(ps).sum() / 20, color="k", lw=0.8, ls="--")
    ax1.set_xlabel("p (simulated null cells)")
    ax1.set_ylabel("tests")
    ax1.set_title(f"{len(ps):,} null tests, {args.bases} bases", fontsize=9)
    names, vals = ["raw p<.05\n(per test)", "any Holm\n(per atlas)", "any BH\n(per atlas)"], \
        [result["simulated"]["raw_p_below_0.05"], result["simulated"]["any_holm"], result["simulated"]["any_bh"]]
    if flip_holm:
        names += ["sign-flip null\nt, any Holm", "sign-flip null\nsign-flip test"]
        vals += [result["sign_flip"]["any_holm"], result["sign_flip"]["any_holm_signflip_test"]]
    x = np.arange(len(vals))
    est = np.array([v[0] for v in vals])
    ax2.errorbar(x, est, yerr=[est - [v[1] for v in vals], [v[2] for v in vals] - est], fmt="o", capsize=4)
    ax2.axhline(0.05, color="#d62728", lw=0.8, ls="--", label="nominal 0.05")
    ax2.set_xticks(x)
    ax2.set_xticklabels(names, fontsize=7)
    ax2.set_ylim(0, max(0.12, max(v[2] for v in vals) + 0.02))
    ax2.set_title("rates (95 % CI)", fontsize=9)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    paths = save_figure(fig, args.out)
    result["figures"] = [str(p) for p in paths]
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
