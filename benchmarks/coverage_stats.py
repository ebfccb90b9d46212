"""Coverage of the 95 % interval of a planted slope: ganphon's mixed model with 10 bases.

Simulates ``--sets`` sweeps (default 200) of 11 values × ``--bases`` (10)
base latents, outcome = 120 + u_b + (0.5 + s_b)·value + noise with
sd(u) = 3, sd(s) = 0.3, sd(noise) = 2 — a slope that varies between bases, as
a latent's effect does between base latents — and counts how often each
interval covers the planted 0.5:

* ganphon (statsmodels engine): random intercept and slope, t with Satterthwaite df, and with the
  between–within df (bases − 1);
* the lme4 engine (Satterthwaite df; skipped without Rscript);
* the old recipe for contrast: random intercept only, Wald z (what a dropped
  slope and z gave).

A 95 % interval should cover in 0.90–0.98 of the sets (binomial sd over 200
sets ≈ 0.015).

    python benchmarks/coverage_stats.py            # 200 sets, a few minutes
    python benchmarks/coverage_stats.py --sets 40
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time

import numpy as np
import pandas as pd
from scipy import stats as sps

from ganphon import stats
from ganphon.stats import lme4 as engine

VALUES = np.arange(-15.0, 6.0, 2.0)
SLOPE = 0.5


def simulate(seed: int, bases: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(bases):
        u, s = rng.normal(0, 3.0), rng.normal(0, 0.3)
        for v in VALUES:
            rows.append({"layer": f"set{seed:04d}", "label": "voi", "base": b, "value": v,
                         "f0": 120 + u + (SLOPE + s) * v + rng.normal(0, 2.0)})
    return pd.DataFrame(rows)


def covered(fits) -> np.ndarray:
    out = []
    for fit in fits:
        row = fit.coefficients().set_index("term").loc["value"]
        out.append(row["ci_low"] <= SLOPE <= row["ci_high"])
    return np.array(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", type=int, default=200)
    ap.add_argument("--bases", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1000, help="first simulation seed (sets use seed, seed+1, …)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--no-lme4", action="store_true", help="skip the lme4 engine")
    args = ap.parse_args(argv)
    frames = [simulate(args.seed + i, args.bases) for i in range(args.sets)]
    for df in ("satterthwaite", "bases"):
        tasks = [stats.mixed_tasks(f, "f0", label="voi", df=df)[0] for f in frames]
        t0 = time.perf_counter()
        fits = stats.fit_tasks(tasks, workers=args.workers)
        t_fit = time.perf_counter() - t0
        cov = covered(fits)
        n = len(fits)
        if df == "satterthwaite":
            se = np.sqrt(0.95 * 0.05 / n)
            print(f"{n} simulated sweeps, {args.bases} bases × {len(VALUES)} values, planted slope {SLOPE} "
                  f"(sd between bases 0.3); binomial sd of a 0.95 coverage: {se:.3f}")
            for method, count in pd.Series([f.method for f in fits]).value_counts().items():
                print(f"    {count:4d} × {method}")
        print(f"ganphon statsmodels engine, t with {fits[0].df_method} df: coverage {cov.mean():.3f}  "
              f"({t_fit / n:.2f} s/model)")
    if shutil.which("Rscript") and not args.no_lme4:
        with tempfile.TemporaryDirectory() as tmp:
            r = engine.fit_tasks_lme4(tasks, tmp)
        print(f"lme4 + lmerTest, Satterthwaite df:   coverage {covered(r).mean():.3f}")
        parity = engine.parity_table(fits, r)
        print(f"    parity with statsmodels: rel. diff median {parity['rel_diff'].median():.2g}, max "
              f"{parity['rel_diff'].max():.2g}; llf diff min {parity['llf_diff'].min():.3g}")
    old = []
    for task in tasks:
        data = task.data
        (fit,) = stats.fit_mixed(data, "f0", random_slope=False)
        row = fit.coefficients().set_index("term").loc["value"]
        half = sps.norm.ppf(0.975) * row["se"]
        old.append(row["estimate"] - half <= SLOPE <= row["estimate"] + half)
    print(f"contrast: random intercept only, Wald z:  coverage {np.mean(old):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
