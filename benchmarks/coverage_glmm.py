"""Coverage of the 95 % interval of a planted slope: ganphon's logistic mixed model (Laplace) of a 0/1 outcome.

Simulates ``--sets`` binary sweeps (default 100): 11 values × ``--bases`` (10)
base latents × ``--reps`` (5) outputs each, an output with an [s] (1) or not
(0) with ``logit P = 0.5 + u_b + (0.15 + s_b)·value``, sd(u) = 1, sd(s) = 0.1;
fits ``has_s ~ value + (value | base)`` by Laplace (the statsmodels engine's
own code, :mod:`ganphon.stats.glmm`) and counts how often the 95 % z interval
covers the planted 0.15, and how often a planted 0 is called significant by
the likelihood-ratio test (``--null``).  With ``--lme4`` the first
``--lme4`` sets are also fitted by glmer and the largest differences printed.

    python benchmarks/coverage_glmm.py               # 100 sets
    python benchmarks/coverage_glmm.py --sets 20 --null
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pandas as pd

from ganphon import stats

VALUES = np.arange(-15.0, 6.0, 2.0)
SLOPE = 0.15


def simulate(seed: int, bases: int, reps: int, slope: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(bases):
        u, s = rng.normal(0, 1.0), rng.normal(0, 0.1)
        for v in VALUES:
            for _ in range(reps):
                p = 1 / (1 + np.exp(-(0.5 + u + (slope + s) * v)))
                rows.append({"layer": f"set{seed}", "label": "fric", "base": b, "value": v,
                             "has_s": int(rng.random() < p)})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", type=int, default=100)
    ap.add_argument("--bases", type=int, default=10)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0, help="seed of the first set (set i uses seed + i)")
    ap.add_argument("--null", action="store_true", help="also the false-positive rate of a planted 0")
    ap.add_argument("--lme4", type=int, default=0, metavar="N", help="also fit the first N sets with glmer")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    tasks = [stats.mixed_tasks(simulate(args.seed + i, args.bases, args.reps, SLOPE), "has_s", label="fric",
                               family="binomial")[0] for i in range(args.sets)]
    fits = stats.fit_tasks(tasks)
    coef = stats.coefficient_table(fits)
    slope = coef[coef["term"] == "value"]
    covered = ((slope["ci_low"] <= SLOPE) & (SLOPE <= slope["ci_high"])).to_numpy()
    structures = pd.Series([f.structure for f in fits]).value_counts().to_dict()
    print(f"{args.sets} binary sweeps of {args.bases} bases × 11 values × {args.reps}: coverage of the planted "
          f"slope {SLOPE} by the 95 % z interval {covered.mean():.3f} (binomial sd "
          f"{np.sqrt(0.95 * 0.05 / args.sets):.3f}); structures {structures}; "
          f"{(time.perf_counter() - t0) / args.sets:.2f} s per set")
    if args.null:
        null_tasks = [stats.mixed_tasks(simulate(10_000 + args.seed + i, args.bases, args.reps, 0.0), "has_s",
                                        label="fric", family="binomial")[0] for i in range(args.sets)]
        null_fits = stats.fit_tasks(null_tasks)
        p = np.array([f.lrt()["p"] for f in null_fits])
        print(f"planted 0: LRT p < 0.05 in {np.mean(p < 0.05):.3f} of {args.sets} sets")
    if args.lme4:
        from ganphon.stats import lme4 as engine

        with tempfile.TemporaryDirectory() as tmp:
            r = engine.fit_tasks_lme4(tasks[:args.lme4], tmp)
        parity = engine.parity_table(fits[:args.lme4], r)
        print(f"glmer on {args.lme4} sets: estimates rel. diff max {parity['rel_diff'].max():.2g}, SE max "
              f"{parity['se_rel_diff'].max():.2g}, |llf diff| max {parity['llf_diff'].abs().max():.2g} (null "
              f"{parity['llf_null_diff'].abs().max():.2g}), agree {int(parity['agree'].sum())}/{len(parity)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
