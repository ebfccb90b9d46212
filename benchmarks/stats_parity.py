"""The README's parity figures: every model of measured sweep folders fitted by both engines, side by side.

For each folder (e.g. the demo's ``sweep_c2`` and ``sweep_z45``) the models
``ganphon stats`` fits (every measure, label and layer) are fitted by the
statsmodels engine and by the lme4 engine (lme4 + lmerTest via Rscript; every
fit tried with several optimisers), ML and REML.  Printed:

* the parity table (one line per model): full and null log-likelihood of
  both engines, the LRT p of both, and whether they agree (``parity.csv``'s
  rule);
* the summary the README quotes: models, agreements, largest differences of
  fixed effects, standard errors, log-likelihoods and LRT p;
* the Satterthwaite df (ML and REML fits) of the statsmodels engine against
  lmerTest's: the largest relative difference over non-singular models and
  over singular (boundary) ones;
* the REML estimates and standard errors against lmer's.

    python benchmarks/stats_parity.py /tmp/demo/sweep_c2 /tmp/demo/sweep_z45
    python benchmarks/stats_parity.py DIR --csv parity_all.csv
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import pandas as pd

from ganphon import stats
from ganphon.stats import lme4 as engine
from ganphon.stats.run import _sweep_models


def folder_tasks(folder, reml=False) -> list:
    table = stats.read_acoustics(folder)
    measures = [m for m in stats.SWEEP_MEASURES if m in set(table["measure"])]
    return [task for task, _ in _sweep_models(table, measures, None, None, False, "mean", True, [], reml=reml)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", help="measured sweep folders")
    ap.add_argument("--csv", default=None, help="also write the per-term parity table here")
    args = ap.parse_args(argv)
    engine.find_rscript()
    tables, models, dfs = [], [], []
    for folder in args.folders:
        for reml in (False, True):
            tasks = folder_tasks(folder, reml)
            sm = stats.fit_tasks(tasks)
            with tempfile.TemporaryDirectory() as tmp:
                r = engine.fit_tasks_lme4(tasks, tmp)
            for a, b in zip(sm, r):
                if a.fitted and b.fitted and a.structure == b.structure and a.structure is not None:
                    for term in a.df.index:
                        dfs.append({"reml": reml, "singular": bool(a.ml_result.singular or b.ml_result.singular),
                                    "df_sm": float(a.df[term]), "df_lme4": float(b.df[term]),
                                    "est_sm": float(a.result.fe_params[term]),
                                    "est_lme4": float(b.result.fe_params[term]),
                                    "se_sm": float(a.result.bse_fe[term]), "se_lme4": float(b.result.bse_fe[term])})
            if reml:
                continue
            parity = engine.parity_table(sm, r).assign(folder=str(folder))
            tables.append(parity)
            for (outcome, label, layer), part in parity.groupby(["outcome", "label", "layer"], sort=False):
                row = part.iloc[0]
                models.append({"folder": str(folder).rstrip("/").split("/")[-1], "model": f"{outcome}/{label}",
                               "layer": layer, "llf_sm": row["llf_sm"], "llf_lme4": row["llf_lme4"],
                               "llf_null_sm": row["llf_null_sm"], "llf_null_lme4": row["llf_null_lme4"],
                               "lrt_p_sm": row["lrt_p_sm"], "lrt_p_lme4": row["lrt_p_lme4"],
                               "agree": bool(part["agree"].all())})
    parity, models, dfs = pd.concat(tables, ignore_index=True), pd.DataFrame(models), pd.DataFrame(dfs)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(models.to_string(index=False, float_format=lambda x: f"{x:.6g}"))
    p_rel = (parity["lrt_p_sm"] - parity["lrt_p_lme4"]).abs() / parity["lrt_p_lme4"]
    print(f"\n{len(models)} models: engines agree on {int(models['agree'].sum())}; fixed effects rel. diff median "
          f"{parity['rel_diff'].median():.2g}, max {parity['rel_diff'].max():.2g}; SE rel. diff max "
          f"{parity['se_rel_diff'].max():.2g}; llf diff (statsmodels − lme4) full {parity['llf_diff'].min():.2g} … "
          f"{parity['llf_diff'].max():.2g}, null {parity['llf_null_diff'].min():.2g} … "
          f"{parity['llf_null_diff'].max():.2g}; LRT p rel. diff max {p_rel.max():.2g}")
    rel = (dfs["df_sm"] - dfs["df_lme4"]).abs() / dfs["df_lme4"]
    for reml in (False, True):
        for singular in (False, True):
            pick = (dfs["reml"] == reml) & (dfs["singular"] == singular)
            if pick.any():
                print(f"Satterthwaite df ({'REML' if reml else 'ML'}, {'singular' if singular else 'non-singular'} "
                      f"fits): {int(pick.sum())} terms, rel. diff to lmerTest median {rel[pick].median():.2g}, "
                      f"max {rel[pick].max():.2g}")
    r = dfs[dfs["reml"]]
    print(f"REML estimates: rel. diff (÷ max(|est|, se)) max "
          f"{((r['est_sm'] - r['est_lme4']).abs() / np.maximum(r['est_lme4'].abs(), r['se_lme4'])).max():.2g}; "
          f"SE rel. diff max {((r['se_sm'] - r['se_lme4']).abs() / r['se_lme4']).max():.2g}")
    if args.csv:
        parity.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
