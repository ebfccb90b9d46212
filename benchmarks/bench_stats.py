"""How fast the mixed models are: the statsmodels engine against the lme4 engine on the same frames.

Simulates sweeps like the paper's (11 values of a variable × ``--bases`` base
latents, outcome = intercept + u_b + (slope + s_b)·value + noise, a third of
them with no slope variance, i.e. boundary fits), builds the per-layer model
tasks once, and fits them in one run with

1. ``ganphon.stats.fit_tasks`` (statsmodels, one process: the fit chain),
2. ``ganphon.stats.lme4.fit_tasks_lme4`` (one ``Rscript`` run: lme4 + lmerTest),

in interleaved rounds (statsmodels, lme4, then lme4, statsmodels, …), and
prints seconds per model for each, the ratio per model (ganphon's fit chain
against R's own fits of the same model, both full + null with their
optimisers and restarts; the median over rounds), R's start-up share, and
the parity of the two (fixed effects, full and null llf).  Or pass
``--folder DIR`` to time the models of a measured sweep folder (e.g. the
demo's ``sweep_z68``).

    python benchmarks/bench_stats.py                 # 24 models
    python benchmarks/bench_stats.py --models 8
    python benchmarks/bench_stats.py --folder /tmp/demo/sweep_z68
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import numpy as np
import pandas as pd

from ganphon import __version__, stats
from ganphon.stats import lme4 as engine
from ganphon.stats.run import _sweep_models

VALUES = np.arange(-15.0, 6.0, 2.0)


def simulated_tasks(n_models: int, bases: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    tasks = []
    for m in range(n_models):
        sd_slope = 0.0 if m % 3 == 2 else 0.3
        rows = []
        for b in range(bases):
            u, s = rng.normal(0, 3.0), rng.normal(0, sd_slope)
            for v in VALUES:
                rows.append({"layer": f"m{m:02d}", "label": "voi", "base": b, "value": v,
                             "f0": 120 + u + (0.5 + s) * v + rng.normal(0, 2.0)})
        (task,) = stats.mixed_tasks(pd.DataFrame(rows), "f0", label="voi")
        tasks.append(task)
    return tasks


def folder_tasks(folder) -> list:
    table = stats.read_acoustics(folder)
    notes = []
    measures = [m for m in stats.SWEEP_MEASURES if m in set(table["measure"])]
    return [task for task, _ in _sweep_models(table, measures, None, None, False, "mean", True, notes)]


PLAIN_R = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
args <- commandArgs(TRUE); out <- numeric(0)
for (i in seq(2, length(args), 2)) {
  d <- read.csv(args[i - 1]); d$base <- factor(d$base); y <- args[i]
  t0 <- proc.time()[["elapsed"]]
  full <- suppressMessages(suppressWarnings(lmer(as.formula(paste(y, "~ value + (value | base)")), d, REML = FALSE)))
  null <- suppressMessages(suppressWarnings(lmer(as.formula(paste(y, "~ 1 + (value | base)")), d, REML = FALSE)))
  s <- summary(full)
  out <- c(out, proc.time()[["elapsed"]] - t0)
}
cat(out, "\n")
"""


def plain_lmer_seconds(tasks, frames_dir) -> list:
    """Seconds per model of one plain lmer fit (full and null, default optimiser) inside R."""
    import subprocess
    from pathlib import Path

    args = []
    for task in tasks:
        args += [str(Path(frames_dir) / engine.frame_name(task.outcome, task.layer, task.label)), task.outcome]
    script = Path(frames_dir) / "plain.R"
    script.write_text(PLAIN_R)
    done = subprocess.run([engine.find_rscript(), "--vanilla", str(script), *args], capture_output=True, text=True,
                          check=True)
    return [float(x) for x in done.stdout.split()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=24, help="simulated models")
    ap.add_argument("--bases", type=int, default=10, help="base latents per simulated sweep")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (statsmodels, lme4, lme4, statsmodels…)")
    ap.add_argument("--folder", default=None, help="time the models of this measured sweep folder instead")
    args = ap.parse_args(argv)
    engine.find_rscript()
    tasks = folder_tasks(args.folder) if args.folder else simulated_tasks(args.models, args.bases, args.seed)
    n = len(tasks)
    t_sm, t_r, per_sm, per_r, per_plain = [], [], [], [], []
    sm = r = None
    for round_ in range(args.rounds):
        order = ("sm", "r") if round_ % 2 == 0 else ("r", "sm")
        for who in order:
            t0 = time.perf_counter()
            if who == "sm":
                sm = stats.fit_tasks(tasks, workers=1)
                t_sm.append(time.perf_counter() - t0)
                per_sm.append([f.seconds for f in sm])
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    r = engine.fit_tasks_lme4(tasks, tmp)
                    t_r.append(time.perf_counter() - t0)
                    per_r.append([f.seconds for f in r])
                    per_plain.append(plain_lmer_seconds(tasks, tmp))
    parity = engine.parity_table(sm, r)
    s_sm, s_r = np.median(per_sm, axis=0), np.median(per_r, axis=0)
    ratio = s_sm / np.maximum(s_r, 1e-9)
    print(f"ganphon {__version__}, statsmodels {__import__('statsmodels').__version__}, Python "
          f"{platform.python_version()}; {n} models ({'folder ' + args.folder if args.folder else 'simulated'}); "
          f"{args.rounds} interleaved rounds")
    print(f"statsmodels engine: {np.median(t_sm):8.2f} s  {np.median(t_sm) / n:.3f} s/model (whole call)")
    print(f"lme4 engine:        {np.median(t_r):8.2f} s  {np.median(t_r) / n:.3f} s/model (whole call; R's own fits "
          f"{s_r.sum() / n:.3f} s/model, the rest is Rscript start-up and I/O)")
    print(f"statsmodels ÷ lme4 per model (fit chain vs R's fits of the same model): median {np.median(ratio):.2f}, "
          f"range {ratio.min():.2f}–{ratio.max():.2f}; total {s_sm.sum() / s_r.sum():.2f}; whole calls "
          f"{np.median(t_sm) / np.median(t_r):.2f}")
    s_plain = np.median(per_plain, axis=0)
    print(f"against one plain lmer fit per model (full + null, lme4's default optimiser only, Satterthwaite "
          f"summary; {s_plain.sum() / n:.3f} s/model): statsmodels ÷ plain lmer {s_sm.sum() / s_plain.sum():.2f}")
    same = sum(a.structure == b.structure for a, b in zip(sm, r))
    print(f"parity: same random structure in {same}/{n}; fixed effects rel. diff median "
          f"{parity['rel_diff'].median():.2g}, max {parity['rel_diff'].max():.2g}; se rel. diff median "
          f"{parity['se_rel_diff'].median():.2g}; llf(statsmodels) − llf(lme4) full min {parity['llf_diff'].min():.3g}, "
          f"null min {parity['llf_null_diff'].min():.3g}; agree {int(parity['agree'].sum())}/{len(parity)} terms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
