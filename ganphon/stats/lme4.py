"""The R engine: the same models fitted by lme4 + lmerTest (Rscript), model frames on disk, refit.R.

``run_stats(..., engine="lme4")`` writes every model's frame to
``stats/frames/<outcome>_<layer>[_<label>].csv`` and runs the bundled
``lme4_fit.R`` on them: ``lmer(outcome ~ value + (value | base), REML =
FALSE)`` with the same fallback chain as the statsmodels engine
(uncorrelated slope ``(1 | base) + (0 + value_c | base)``, then ``(1 |
base)``, then ``lm``), singular fits kept and flagged, fixed effects with
Satterthwaite df (lmerTest).  Every lmer fit (full, null, REML) is tried with
nloptwrap, bobyqa and Nelder_Mead and restarted from the best θ (and from
3 × and ⅓ × it, and off the boundary); the highest likelihood is kept and a
fit where lme4's default optimiser alone stopped short says so in its
``warnings``.  A 0/1 outcome (``family="binomial"``) is fitted by glmer
(Laplace, PIRLS tolerance 1e-12) with z tests.  ``engine="both"`` fits with both and writes
``parity.csv`` (full and null log-likelihoods, LRT p, estimates, SEs); a fit
of either engine below the other's maximum is flagged and not counted as
converged.  Every run with frames also writes ``frames/refit.R``,
which refits each reported model in R from its frame.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io, layout
from ..errors import GanphonError, ParameterError
from .mixed import DF_METHOD_TEXT, STRUCTURE_TEXT, STRUCTURES, Estimate, MixedFit, between_within_df, model_name

#: The bundled R script (package data).
R_SCRIPT = Path(__file__).with_name("lme4_fit.R")
#: Engines of :func:`ganphon.stats.run_stats`.
ENGINES = ("statsmodels", "lme4", "both")
#: A statsmodels fit this far below lme4's log-likelihood is flagged.
PARITY_LLF = 0.01
#: A standard error differing from lme4's by more than this (relative) is a disagreement.
PARITY_SE = 1e-2
#: A fixed effect differing from lme4's by more than this × max(|estimate|, se) is flagged.
PARITY_REL = 1e-3
FRAMES_DIR = "frames"


def find_rscript() -> str:
    """Path of ``Rscript``; a one-line error naming the Debian packages when R is absent."""
    exe = shutil.which("Rscript")
    if exe is None:
        raise ParameterError("engine", "lme4 needs R: Rscript is not on PATH (Debian: apt-get install "
                                       "r-base-core r-cran-lme4 r-cran-lmertest)")
    return exe


def frame_name(outcome: str, layer: str, label: str = "") -> str:
    """``<outcome>_<layer>[_<label>].csv`` (labels joined by ``+``; unsafe characters replaced)."""
    parts = [outcome, layer] + ([label] if label else [])
    return "_".join(re.sub(r"[^A-Za-z0-9.+-]", "-", str(p)) for p in parts) + ".csv"


def write_frame(task, folder: Path) -> Path:
    """Write the rows one model uses (``value``, ``value_c``, ``base``, the outcome, keys) as CSV."""
    data, outcome, layer, label = task.data, task.outcome, task.layer, task.label
    keep = [c for c in ("sample_id", "layer", "label", "tier", "start", "end", "base", "value") if c in data.columns]
    out = data[keep + [outcome]].copy()
    out["value_c"] = out["value"] - out["value"].mean()
    for column in ("layer", "label"):
        if column in out.columns:
            out[column] = out[column].astype(str)
    path = Path(folder) / frame_name(outcome, layer, label)
    io.write_table(out, path, float_format="%.17g")  # R reads every digit
    return path


def _factors(task) -> str:
    data, rhs = task.data, task.rhs
    specs = []
    for name in re.findall(r"C\((\w+)\)", rhs):
        column = data[name]
        levels = list(column.cat.categories) if isinstance(column.dtype, pd.CategoricalDtype) \
            else sorted(column.astype(str).unique())
        levels = [str(x) for x in levels if str(x) in set(column.astype(str))]
        specs.append(f"{name}={'|'.join(levels)}")
    return ";".join(specs)


def _patsy_name(r_term: str, factors: str) -> str:
    """lme4's term name → patsy's: ``(Intercept)`` → ``Intercept``, ``labelvoi`` → ``C(label)[T.voi]``."""
    if r_term == "(Intercept)":
        return "Intercept"
    names = [spec.split("=", 1)[0] for spec in factors.split(";") if spec]
    levels = {spec.split("=", 1)[0]: spec.split("=", 1)[1].split("|") for spec in factors.split(";") if spec}
    out = []
    for part in r_term.split(":"):
        for name in names:
            if part.startswith(name) and part[len(name):] in levels[name]:
                part = f"C({name})[T.{part[len(name):]}]"
                break
        out.append(part)
    return ":".join(out)


def fit_tasks_lme4(tasks, frames_dir, timeout: float | None = None) -> list:
    """Fit the models of :func:`ganphon.stats.mixed_tasks` with lme4 (one Rscript run).

    Parameters
    ----------
    tasks : list
        From :func:`ganphon.stats.mixed_tasks`.
    frames_dir : path-like
        Where the frames are written (kept: ``refit.R`` reads them).
    timeout : float, optional
        Seconds allowed for Rscript.

    Returns
    -------
    list of MixedFit
        ``engine="lme4"``, in task order; ``result``/``ml_result``/``null_result``
        are :class:`Estimate` objects (fixed effects and their standard
        errors; ``cov_fe`` diagonal), ``df`` Satterthwaite.
    """
    exe = find_rscript()
    frames_dir = Path(frames_dir)
    layout.make_folder(frames_dir)
    jobs = []
    for i, task in enumerate(tasks):
        path = write_frame(task, frames_dir)
        structures = STRUCTURES if task.random_slope else ("intercept",)
        if task.data["base"].nunique() < 2:
            structures = ()
        jobs.append({"id": str(i), "frame": str(path.resolve()), "outcome": task.outcome, "rhs": task.rhs,
                     "null_rhs": task.null_rhs, "structures": ";".join(structures), "reml": "1" if task.reml else "0",
                     "factors": _factors(task), "family": task.family})
    if not jobs:
        return []
    with tempfile.TemporaryDirectory(prefix="ganphon-lme4-") as tmp:
        job_path, out_path = Path(tmp) / "jobs.csv", Path(tmp) / "out.csv"
        io.write_table(pd.DataFrame(jobs), job_path)
        try:
            done = subprocess.run([exe, "--vanilla", str(R_SCRIPT), str(job_path), str(out_path)],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GanphonError(f"Rscript {R_SCRIPT.name} did not finish within {timeout:g} s") from None
        if done.returncode != 0 or not out_path.is_file():
            lines = [x for x in (done.stderr or "").strip().splitlines() if x.strip()]
            raise GanphonError(f"Rscript {R_SCRIPT.name} failed: {lines[-1] if lines else 'no output'} "
                               "(are r-cran-lme4 and r-cran-lmertest installed?)")
        out = io.read_table(out_path, "lme4 result table",
                            dtype={"id": str, "warnings": str, "structure": str, "term": str},
                            keep_default_na=False, na_values=["NA"])
    fits = []
    for i, task in enumerate(tasks):
        fits.append(_fit_from_rows(task, out[out["id"] == str(i)], jobs[i]["factors"]))
    return fits


def _fit_from_rows(task, rows: pd.DataFrame, factors: str) -> MixedFit:
    data, outcome, layer, reml, label = task.data, task.outcome, task.layer, task.reml, task.label
    formula, null_formula = task.formula, task.null_formula
    n_obs, n_groups = len(data), int(data["base"].nunique())
    named = {"outcome": outcome, "layer": layer, "formula": formula, "null_formula": null_formula, "n_obs": n_obs,
             "n_groups": n_groups, "label": label, "engine": "lme4"}
    if rows.empty:
        return MixedFit(**named, re_formula=None, method="not fitted (lme4 returned nothing)", result=None,
                        ml_result=None, null_result=None, warnings=[], structure=None, df=None, df_method="")
    first = rows.iloc[0]
    binomial = task.family == "binomial"
    structure = str(first["structure"])
    terms = [_patsy_name(t, factors) for t in rows["term"]]
    fe = pd.Series(rows["estimate"].to_numpy(float), index=terms)
    cov = pd.DataFrame(np.diag(rows["se"].to_numpy(float) ** 2), index=terms, columns=terms)
    sd = {"base": float(first["sd_base"]), "value": float(first["sd_value"]), "corr": float(first["corr"]),
          "resid": float(first["sd_resid"])}
    singular = str(first["singular"]).upper() == "TRUE"
    optimizer = str(first.get("optimizer", "lme4"))
    k_params = int(first["k_params"])
    full = Estimate(fe_params=fe, cov_fe=cov, llf=float(first["llf"]), method="ML", structure=structure, re_sd=sd,
                    n_obs=n_obs, k_params=k_params, converged=True, singular=singular, gradient=math.nan,
                    optimizer=f"lme4 {optimizer}", notes=[])
    k_null = int(first["k_null"])
    null = Estimate(fe_params=pd.Series(np.zeros(k_null)), cov_fe=pd.DataFrame(np.zeros((k_null, k_null))),
                    llf=float(first["llf_null"]), method="ML", structure=structure, re_sd={}, n_obs=n_obs,
                    k_params=k_null, converged=True, singular=False, gradient=math.nan,
                    optimizer=f"lme4 {first.get('optimizer_null', 'lme4')}", notes=[])
    reported = full if not reml or binomial else Estimate(
        fe_params=fe, cov_fe=cov, llf=math.nan, method="REML", structure=structure, re_sd=sd, n_obs=n_obs,
        k_params=k_params, converged=True, singular=singular, gradient=math.nan, optimizer="lme4", notes=[])
    warnings = list(task.left_out)
    warnings += [w for w in str(first["warnings"] or "").split("; ") if w and w != "nan"]
    kind = "REML" if reml else "ML"
    chain = STRUCTURES if task.random_slope else ("intercept",)
    if structure == "ols":
        method = "ols (one base latent)" if n_groups < 2 else "ols (the mixed models dropped)"
        if binomial:
            method = method.replace("ols", "logistic GLM", 1)
        re_formula = None
    else:
        text, re_formula = STRUCTURE_TEXT[structure]
        method = f"glmer-Laplace ML (logit), {text}" if binomial else f"lmer {kind}, {text}"
        if structure != chain[0]:
            method += " (random slope dropped)" if structure == "intercept" else " (correlated slope dropped)"
        if singular:
            method += ", singular"
    df = pd.Series(rows["df"].to_numpy(float), index=terms)
    df_text = "Satterthwaite" if structure != "ols" else "ols"
    if binomial:
        df_text = "z (Laplace)" if structure != "ols" else "z"
    elif structure != "ols" and task.df_method == "bases":
        df, df_text = between_within_df(data, formula, structure), DF_METHOD_TEXT["bases"]
    return MixedFit(**named, re_formula=re_formula, method=method, result=reported, ml_result=full, null_result=null,
                    warnings=warnings, structure=None if structure == "ols" else structure, df=df, df_method=df_text,
                    seconds=float(first["seconds"]))


def _model_parity(a, b) -> dict:
    """Model-level comparison of two fits of one model: log-likelihoods (full, null) and the LRT."""
    ta, tb = a.lrt(), b.lrt()
    return {"llf_sm": ta["llf_full"], "llf_lme4": tb["llf_full"], "llf_diff": ta["llf_full"] - tb["llf_full"],
            "llf_null_sm": ta["llf_null"], "llf_null_lme4": tb["llf_null"],
            "llf_null_diff": ta["llf_null"] - tb["llf_null"], "lrt_p_sm": ta["p"], "lrt_p_lme4": tb["p"]}


def parity_table(sm_fits, r_fits) -> pd.DataFrame:
    """statsmodels against lme4, model by model and term by term.

    Both engines' full and null maxima, the likelihood-ratio p, each fixed
    effect and its standard error.  ``agree`` needs the same random
    structure, both log-likelihoods within :data:`PARITY_LLF` of each other
    (neither engine stopped short of the other's maximum), fixed effects
    within :data:`PARITY_REL` and standard errors within :data:`PARITY_SE`.

    Returns
    -------
    pandas.DataFrame
        Columns outcome, label, layer, term, estimate_sm, estimate_lme4,
        rel_diff (|Δ| / max(|lme4 estimate|, lme4 se)), se_sm, se_lme4,
        se_rel_diff, llf_sm, llf_lme4, llf_diff (statsmodels − lme4),
        llf_null_sm, llf_null_lme4, llf_null_diff, lrt_p_sm, lrt_p_lme4,
        method_sm, method_lme4, agree.
    """
    rows = []
    for a, b in zip(sm_fits, r_fits):
        if not (a.fitted and b.fitted):
            rows.append({"outcome": a.outcome, "label": a.label, "layer": a.layer, "term": "",
                         "method_sm": a.method, "method_lme4": b.method, "agree": False})
            continue
        ca, cb = a.coefficients().set_index("term"), b.coefficients().set_index("term")
        model = _model_parity(a, b)
        same_llf = abs(model["llf_diff"]) <= PARITY_LLF and abs(model["llf_null_diff"]) <= PARITY_LLF
        for term in ca.index:
            ea, sa = ca.loc[term, "estimate"], ca.loc[term, "se"]
            eb, sb = (cb.loc[term, "estimate"], cb.loc[term, "se"]) if term in cb.index else (math.nan, math.nan)
            rel = abs(ea - eb) / max(abs(eb), sb) if np.isfinite(eb) else math.nan
            rel_se = abs(sa - sb) / sb if np.isfinite(sb) and sb > 0 else math.nan
            same = (a.structure == b.structure) and np.isfinite(rel) and rel <= PARITY_REL and same_llf \
                and (not np.isfinite(rel_se) or rel_se <= PARITY_SE)
            rows.append({"outcome": a.outcome, "label": a.label, "layer": a.layer, "term": term,
                         "estimate_sm": ea, "estimate_lme4": eb, "rel_diff": rel, "se_sm": sa, "se_lme4": sb,
                         "se_rel_diff": rel_se, **model, "method_sm": a.method, "method_lme4": b.method,
                         "agree": bool(same)})
    return pd.DataFrame(rows, columns=PARITY_COLUMNS)


PARITY_COLUMNS = ["outcome", "label", "layer", "term", "estimate_sm", "estimate_lme4", "rel_diff", "se_sm",
                  "se_lme4", "se_rel_diff", "llf_sm", "llf_lme4", "llf_diff", "llf_null_sm", "llf_null_lme4",
                  "llf_null_diff", "lrt_p_sm", "lrt_p_lme4", "method_sm", "method_lme4", "agree"]


def _stopped_short(fit, other, engine: str) -> list:
    """Why ``fit`` is below ``other``'s maximum (full or null model); marks its estimates not converged."""
    why = []
    for what, mine, theirs in (("", fit.ml_result, other.ml_result),
                               ("model without value: ", fit.null_result, other.null_result)):
        gap = float(theirs.llf) - float(mine.llf)
        if gap > PARITY_LLF:
            why.append(f"{what}{engine}'s log-likelihood is {gap:.3g} higher: this fit stopped short of the "
                       "maximum")
            if hasattr(mine, "converged"):
                mine.converged = False
    return why


def flag_disagreements(sm_fits, r_fits) -> int:
    """Flag every model on which the engines disagree, in both engines' fits; the number of such models.

    A fit whose full or null log-likelihood stays more than :data:`PARITY_LLF`
    below the other engine's is marked not converged (``converged`` False,
    ``[below the other engine's maximum]`` in ``method``) — whichever engine it is.
    """
    flagged = 0
    for a, b in zip(sm_fits, r_fits):
        why = []
        if a.fitted != b.fitted or a.structure != b.structure:
            why.append(f"lme4 fitted another model ({b.method})")
        elif a.fitted:
            short_a = _stopped_short(a, b, "lme4")
            short_b = _stopped_short(b, a, "statsmodels")
            why += short_a
            ca, cb = a.coefficients().set_index("term"), b.coefficients().set_index("term")
            for term in ca.index:
                if term in cb.index:
                    eb, sb = cb.loc[term, "estimate"], cb.loc[term, "se"]
                    rel = abs(ca.loc[term, "estimate"] - eb) / max(abs(eb), sb)
                    if not rel <= PARITY_REL:
                        why.append(f"{term} differs from lme4's by {rel:.2g} (relative)")
            if short_b:
                why.append("lme4 stopped short of the maximum (" + "; ".join(
                    w.replace("statsmodels's", "statsmodels'") for w in short_b) + ")")
                b.warnings += [w.replace("statsmodels's", "statsmodels'") for w in short_b]
                b.method += " [below the other engine's maximum]"
            if short_a:
                a.method += " [below the other engine's maximum]"
        if why:
            a.warnings.append("lme4 disagrees: " + "; ".join(why))
            a.method += " [lme4 disagrees]"
            flagged += 1
    return flagged


def refit_script(fits, names, tasks=None) -> str:
    """R code refitting each reported model from its frame (``stats/frames/refit.R``).

    With the models' ``tasks``, factors get ganphon's level order (the same reference level).
    """
    lines = ["# Refit every model of this stats/ folder in R from its frame (written by ganphon).",
             "# Run from any folder: Rscript path/to/refit.R (it reads the frames next to itself); in an R session",
             "# source(\"path/to/refit.R\", chdir = TRUE).  Needs r-cran-lme4 and r-cran-lmertest.",
             "local({",
             '  here <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))',
             "  if (length(here) == 1) setwd(dirname(normalizePath(here)))",
             "})",
             "suppressPackageStartupMessages({library(lme4); library(lmerTest)})", ""]
    specs = [_factors(task) for task in tasks] if tasks is not None else [""] * len(fits)
    for fit, name, spec in zip(fits, names, specs):
        levels = dict(x.split("=", 1) for x in spec.split(";") if x)
        rhs = re.sub(r"C\((\w+)\)", r"\1", fit.formula.split("~", 1)[1].strip())
        lines.append(f"# {model_name(fit.outcome, fit.label)}, layer {fit.layer}: {fit.method} ({fit.engine})")
        lines.append(f'd <- read.csv("{name}"); d$base <- factor(d$base)')
        for factor in re.findall(r"C\((\w+)\)", fit.formula):
            order = ", ".join(f'"{x}"' for x in levels[factor].split("|")) if factor in levels else ""
            lines.append(f"d${factor} <- factor(d${factor}" + (f", levels = c({order}))" if order else ")"))
        logistic = fit.method.startswith(("glmer", "logistic"))
        if fit.structure is None:
            lines.append(f"m <- glm({fit.outcome} ~ {rhs}, data = d, family = binomial)" if logistic
                         else f"m <- lm({fit.outcome} ~ {rhs}, data = d)")
        elif logistic:
            lines.append(f"m <- glmer({fit.outcome} ~ {rhs} + {fit.re_formula}, data = d, family = binomial)")
        else:
            reml = "TRUE" if getattr(fit.result, "method", "ML") == "REML" else "FALSE"
            lines.append(f"m <- lmer({fit.outcome} ~ {rhs} + {fit.re_formula}, data = d, REML = {reml})")
        lines.append(f'cat("\\n== {name} ==\\n"); print(summary(m))')
        lines.append("")
    return "\n".join(lines)
