"""Statistics on the long acoustic table: mixed models, correlations, latent discovery.

Everything here takes tidy pandas tables and returns tidy pandas tables or
the statsmodels results themselves, so the formula and the summary are the
ones a phonetician already reads:

* :func:`model_frame` — one row per (sample, layer, interval) with the
  outcome named after the measure (``f0``), the sweep ``value`` and the
  ``base`` latent.
* :func:`fit_mixed` — ``smf.mixedlm("f0 ~ value", df, groups=df["base"],
  re_formula="~value").fit(reml=False)`` per layer (or ``f0 ~ value *
  C(layer)``), with the likelihood-ratio test of the value effect, AIC/BIC and
  every statsmodels warning kept.  :func:`coefficient_table`,
  :func:`lrt_table` turn the fits into tables.
* :func:`fit_gam` — a B-spline GAM (statsmodels ``GLMGam``) for non-linear
  value curves.
* :func:`correlation_table` — the paper's table: Pearson r between each
  layer's measurement and the output's over matched intervals.
* :func:`effect_by_layer`, :func:`first_layer` — the standardised value
  effect per layer, and where in the network it first appears.
* :func:`discover`, :func:`frication_property` — GAP-style ranking of latent
  variables by how well they predict a property of the outputs.
* :func:`activation_profiles`, :func:`cluster_feature_maps`,
  :func:`rank_maps_by_cosine` — individual feature maps (paper §IV-E).
* :func:`run_stats` — all of it for an exported folder, into ``DIR/stats/``.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from . import layout
from .errors import GanphonError

#: Measures of the paper's correlation table (SPEC §7).
PAPER_MEASURES = ("intensity", "f0", "f1", "f2", "duration")
#: Key of one measured interval within a file.
INTERVAL_KEYS = ["tier", "label", "start", "end"]
ACOUSTICS = "acoustics.csv"
STATS_DIR = "stats"
FEATURE_MAPS_GLOB = layout.feature_maps("*")
#: Tables :func:`run_stats` may write into ``DIR/stats/``.
STATS_TABLES = ("mixed_models", "lrt", "effects", "gam_curves", "correlations", "discovery",
                "feature_map_clusters")

_LATENT_NAME = re.compile(r"^[cz]\d+$")
_CONV = re.compile(r"^conv(\d+)$")
# Warnings that say nothing about a fit; they are passed on, not recorded.
_NOT_ABOUT_THE_FIT = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


# --------------------------------------------------------------------------
# Layers and tables


def layer_rank(layer: str) -> tuple:
    """Sort key putting layers in network order: dense, conv1 … convK, output, others."""
    name = str(layer)
    if name == "dense":
        return (0, 0, "")
    match = _CONV.match(name)
    if match:
        return (1, int(match.group(1)), "")
    if name == layout.OUTPUT_LAYER:
        return (2, 0, "")
    return (3, 0, name)


def sort_layers(layers) -> list:
    """Distinct layer names in network order (not alphabetical: conv10 after conv9)."""
    return sorted({str(x) for x in layers if isinstance(x, str) and x}, key=layer_rank)


def read_acoustics(path) -> pd.DataFrame:
    """Read a long acoustic table (``DIR/acoustics.csv`` or any CSV of that form).

    Parameters
    ----------
    path : path-like
        The CSV, or a folder holding ``acoustics.csv``.

    Returns
    -------
    pandas.DataFrame
        The table with text columns as ``str`` and ``point`` as nullable int.
    """
    path = Path(path)
    if path.is_dir():
        path = path / ACOUSTICS
    if not path.is_file():
        raise GanphonError(f"{path}: no acoustic table; run 'ganphon measure' (or 'ganphon sweep') first")
    text_columns = ("file", "tier", "label", "measure", "note", "sample_id", "layer", "code", "var", "arch")
    try:
        table = pd.read_csv(path, dtype={c: str for c in text_columns}, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise GanphonError(f"{path}: cannot read the acoustic table ({exc})") from None
    missing = [c for c in ("file", "measure", "value") if c not in table.columns]
    if missing:
        raise GanphonError(f"{path}: not a long acoustic table (no column(s) {', '.join(missing)})")
    if "point" in table.columns:
        table["point"] = pd.to_numeric(table["point"], errors="coerce").astype("Int64")
    for column in ("start", "end", "time", "value", "sweep_value"):
        if column in table.columns:
            table[column] = pd.to_numeric(table[column], errors="coerce")
    table.attrs["source"] = str(path)
    return table


def has_sweep(table: pd.DataFrame) -> bool:
    """Whether a table comes from a sweep: a ``sweep_value`` column with values and a ``base``."""
    return ("sweep_value" in table.columns and "base" in table.columns
            and bool(pd.to_numeric(table["sweep_value"], errors="coerce").notna().any()))


def _source(table: pd.DataFrame) -> str:
    return table.attrs.get("source", "acoustic table")


def _require(table: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise GanphonError(f"{_source(table)}: {what} needs column(s) {', '.join(missing)}")


def model_frame(table: pd.DataFrame, measure: str, point_agg: str | None = "mean",
                labels=None, layers=None) -> pd.DataFrame:
    """The data of one regression: one row per (sample_id, layer, interval).

    Parameters
    ----------
    table : pandas.DataFrame
        Long acoustic table joined with the manifest of a sweep (columns
        ``sample_id``, ``layer``, ``sweep_value``, ``base``).
    measure : str
        Measure to model (``f0``, ``intensity``, ``duration`` …); it becomes
        the outcome column of that name.
    point_agg : {"mean", "median", None}
        How point measures are summarised over the points of an interval
        (NaN points skipped); None keeps one row per point with a ``point``
        column.
    labels : sequence of str, optional
        Keep only intervals with these labels (e.g. ``["voi"]``).
    layers : sequence of str, optional
        Keep only these layers.

    Returns
    -------
    pandas.DataFrame
        Columns ``sample_id, layer, tier, label, start, end[, point], <measure>,
        value, base`` (+ ``var`` and ``n_points`` when present / aggregated);
        ``layer`` is an ordered categorical in network order.  Rows whose
        outcome is undefined are kept (NaN); the model fits drop them.
    """
    _require(table, ["measure", "value", "sample_id", "layer"], "a model frame")
    if not has_sweep(table):
        raise GanphonError(f"{_source(table)}: no sweep columns (sweep_value, base); mixed models need a "
                           "table measured on a 'ganphon sweep' folder")
    if point_agg not in ("mean", "median", None):
        raise GanphonError(f"point_agg must be 'mean', 'median' or None, got {point_agg!r}")
    rows = table[table["measure"] == measure]
    if rows.empty:
        present = ", ".join(sorted(table["measure"].dropna().unique()))
        raise GanphonError(f"{_source(table)}: no rows for measure '{measure}' (the table has {present})")
    if labels:
        labels = [labels] if isinstance(labels, str) else list(labels)
        rows = rows[rows["label"].isin(labels)] if "label" in rows.columns else rows.iloc[:0]
        if rows.empty:
            raise GanphonError(f"{_source(table)}: no '{measure}' rows with label(s) {', '.join(labels)}")
    if layers:
        layers = [layers] if isinstance(layers, str) else list(layers)
        rows = rows[rows["layer"].isin(layers)]
        if rows.empty:
            raise GanphonError(f"{_source(table)}: no '{measure}' rows for layer(s) {', '.join(layers)}")
    rows = rows.copy()
    for key in INTERVAL_KEYS:
        if key not in rows.columns:
            rows[key] = np.nan
    keys = ["sample_id", "layer", *INTERVAL_KEYS]
    carry = ["sweep_value", "base"] + (["var"] if "var" in rows.columns else [])
    if point_agg is None:
        point = ["point"] if "point" in rows.columns else []
        frame = rows[keys + point + carry + ["value"]].copy()
    else:
        grouped = rows.groupby(keys + carry, dropna=False, sort=False)["value"]
        frame = grouped.agg(point_agg).rename("value").to_frame()
        frame["n_points"] = grouped.count()
        frame = frame.reset_index()
    frame = frame.rename(columns={"value": measure}).rename(columns={"sweep_value": "value"})
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame = frame[frame["value"].notna()]
    order = sort_layers(frame["layer"].unique())
    frame["layer"] = pd.Categorical(frame["layer"], categories=order, ordered=True)
    frame = frame.sort_values(["layer", "base", "value", "sample_id", "start"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame.attrs["source"] = _source(table)
    frame.attrs["measure"] = measure
    return frame


# --------------------------------------------------------------------------
# Fitting with warnings kept


def _first_line(message) -> str:
    text = str(message).strip().splitlines()
    return text[0] if text else ""


def _capture(fit):
    """Run ``fit()`` recording its warnings; returns (result or None, messages, error or None)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, error = fit(), None
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError, OverflowError) as exc:
            result, error = None, exc
    messages = []
    for w in caught:
        if issubclass(w.category, _NOT_ABOUT_THE_FIT):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        text = f"{w.category.__name__}: {_first_line(w.message)}"
        if text not in messages:
            messages.append(text)
    return result, messages, error


_NOT_PD = "Hessian matrix at the estimated parameter values is not positive definite"


def _fit_failure(result, error, messages=()) -> str | None:
    """Why a fit cannot be used (None when it can)."""
    if error is not None:
        return f"{type(error).__name__}: {_first_line(error)}"
    if result is None:
        return "no result"
    if getattr(result, "converged", True) is False:
        return "the optimiser did not converge"
    if not np.isfinite(result.llf):
        return "non-finite log-likelihood"
    if any(_NOT_PD in m and not m.startswith("start-value") for m in messages):
        # lme4 calls this a failure to converge too: the random effects are not identified
        return "the Hessian is not positive definite"
    with np.errstate(invalid="ignore", divide="ignore"):
        params = result.fe_params if hasattr(result, "fe_params") else result.params
        bse = result.bse_fe if hasattr(result, "bse_fe") else result.bse
    if not (np.all(np.isfinite(np.asarray(params, float))) and np.all(np.isfinite(np.asarray(bse, float)))):
        return "non-finite estimates or standard errors (singular fit)"
    return None


def _fit_mixedlm(formula: str, data: pd.DataFrame, re_formula: str | None, reml: bool):
    """MixedLM fit in the units of ``data``, optimised where it is well conditioned.

    statsmodels' optimiser often stops far from the maximum when ``value``
    spans tens of units with a random slope (a sweep from −15 to 5).  The
    model with ``value`` centred and scaled is the same model (random
    intercept and slope cover any affine change of ``value``), so it is fitted
    first and its estimates, mapped back, start the fit in the original
    units.  Near a variance boundary the gradient optimisers can still
    wander off; Powell's method from the same start is then tried too and
    the converged fit with the highest likelihood is kept.

    Returns
    -------
    (result or None, warning messages, exception or None)
    """
    import statsmodels.formula.api as smf
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    try:
        model = smf.mixedlm(formula, data, groups=data["base"], re_formula=re_formula)
    except (np.linalg.LinAlgError, ValueError) as exc:
        return None, [], exc
    centre, scale = float(data["value"].mean()), float(data["value"].std(ddof=0))
    start, first, prefit_messages = None, None, []
    if scale > 0 and np.isfinite(scale):
        std = data.assign(value=(data["value"] - centre) / scale)
        std_model = smf.mixedlm(formula, std, groups=std["base"], re_formula=re_formula)
        first, prefit_messages, error = _capture(lambda: std_model.fit(reml=reml))
        if first is not None and np.isfinite(first.llf):
            # both design matrices span the same space: X_std = X @ M, Z_std = Z @ R
            M = np.linalg.lstsq(model.exog, std_model.exog, rcond=None)[0]
            R = np.linalg.lstsq(model.exog_re, std_model.exog_re, rcond=None)[0]
            relative = np.asarray(first.cov_re, float) / first.scale
            start = MixedLMParams.from_components(fe_params=M @ np.asarray(first.fe_params, float),
                                                  cov_re=R @ relative @ R.T)
        else:
            first = None
    attempts = [_capture(lambda: model.fit(reml=reml, start_params=start))]
    result = attempts[0][0]
    reached = first is None or (result is not None and np.isfinite(result.llf)
                                and result.llf >= first.llf - 1e-6 * max(1.0, abs(first.llf)))
    if start is not None and (result is None or not result.converged or not reached):
        attempts.append(_capture(lambda: model.fit(reml=reml, start_params=start, method=["powell"])))
    good = [a for a in attempts if a[0] is not None and a[0].converged and np.isfinite(a[0].llf)]
    if good:
        chosen = max(good, key=lambda a: a[0].llf)
    else:
        chosen = next((a for a in attempts if a[0] is not None), attempts[0])
    result, messages, error = chosen
    messages = list(messages)
    if len(attempts) > 1 and chosen is attempts[1]:
        messages.insert(0, "the gradient optimisers stopped short of the maximum; Powell's method used")
    # the start-value fit's warnings matter only when the final fit is in trouble too
    if result is None or not result.converged:
        messages += [f"start-value fit: {m}" for m in prefit_messages]
    return result, messages, error


def _fit_ols(formula: str, data: pd.DataFrame):
    import statsmodels.formula.api as smf

    return smf.ols(formula, data).fit()


def lrt(full, null) -> dict:
    """Likelihood-ratio test of two nested fits (both by maximum likelihood).

    Parameters
    ----------
    full, null : statsmodels results
        MixedLM results fitted with ``reml=False`` (or OLS results); ``null``
        is ``full`` without the tested fixed-effect terms.

    Returns
    -------
    dict
        ``stat`` = 2·(llf_full − llf_null), ``df`` = difference in the number
        of fixed-effect parameters, ``p`` = chi²(df) survival function,
        ``llf_full``, ``llf_null``.
    """
    if any(getattr(result, "method", None) == "REML" for result in (full, null)):
        raise GanphonError("a likelihood-ratio test of fixed effects needs ML fits (reml=False)")
    k_full = _n_fixed(full)
    k_null = _n_fixed(null)
    df = k_full - k_null
    if df <= 0:
        raise GanphonError(f"the full model must have more fixed effects than the null ({k_full} vs {k_null})")
    stat = 2.0 * (float(full.llf) - float(null.llf))
    p = float(sps.chi2.sf(max(stat, 0.0), df)) if np.isfinite(stat) else math.nan
    return {"stat": stat, "df": int(df), "p": p, "llf_full": float(full.llf), "llf_null": float(null.llf)}


def _n_fixed(result) -> int:
    if hasattr(result, "fe_params"):
        return int(len(result.fe_params))
    return int(len(result.params))


@dataclass
class MixedFit:
    """One fitted regression of an outcome on the sweep value.

    Attributes
    ----------
    outcome, layer : str
        ``layer`` is ``all`` for the model with a layer interaction.
    formula : str
        The fixed-effects formula (``f0 ~ value``).
    re_formula : str or None
        The random-effects formula by ``base`` (``~value``; None: intercept only).
    null_formula : str
        The model without the value terms (``f0 ~ 1``), for the likelihood-ratio test.
    method : str
        What was fitted, including any fallback (``mixedlm ML, random intercept
        and slope by base``; ``… random intercept by base (random slope
        dropped)``; ``ols (one base latent)``; ``ols (the mixed models did not
        converge)``; ``not fitted (…)``).
    result : statsmodels results or None
        The fit (REML when asked, else ML); None when nothing could be fitted.
    ml_result, null_result : statsmodels results
        ML fits of the full model and of the model without the value terms
        (the likelihood-ratio test, AIC and BIC use these).
    n_obs, n_groups : int
        Complete rows and base latents.
    warnings : list of str
        Every warning statsmodels gave while fitting, and why a fallback happened.
    """

    outcome: str
    layer: str
    formula: str
    re_formula: str | None
    null_formula: str
    method: str
    result: object
    ml_result: object
    null_result: object
    n_obs: int
    n_groups: int
    warnings: list = field(default_factory=list)

    @property
    def fitted(self) -> bool:
        """False when no model could be fitted at all (see ``method`` and ``warnings``)."""
        return self.result is not None

    def lrt(self) -> dict:
        """Likelihood-ratio test of the value effect (see :func:`lrt`); NaN when not fitted."""
        if not self.fitted:
            return {"stat": math.nan, "df": 0, "p": math.nan, "llf_full": math.nan, "llf_null": math.nan}
        return lrt(self.ml_result, self.null_result)

    def summary(self) -> str:
        """The statsmodels summary, headed by the model and followed by the LRT."""
        if not self.fitted:
            return (f"== {self.outcome} · layer {self.layer} · {self.formula} · {self.method} ==\n"
                    + ("warnings: " + "; ".join(self.warnings) + "\n" if self.warnings else ""))
        test = self.lrt()
        groups = "" if self.method.startswith("ols") else \
            f", groups=base, re_formula={self.re_formula or '~1'}"
        head = f"== {self.outcome} · layer {self.layer} · {self.formula}{groups} · {self.method} =="
        lines = [head, str(self.result.summary()),
                 f"LRT value effect ({self.formula} vs {self.null_formula}): chi2({test['df']}) = "
                 f"{test['stat']:.4g}, p = {test['p']:.4g}; AIC {self.ml_result.aic:.6g}, BIC {self.ml_result.bic:.6g}"]
        if self.warnings:
            lines.append("warnings: " + "; ".join(self.warnings))
        return "\n".join(lines) + "\n"

    def coefficients(self) -> pd.DataFrame:
        """The fixed effects as a tidy table (one row per term)."""
        res = self.result
        if res is None:
            nan = [math.nan]
            return pd.DataFrame({
                "outcome": self.outcome, "layer": self.layer, "formula": self.formula, "re_formula": "",
                "term": ["value"], "estimate": nan, "se": nan, "z": nan, "p": nan, "ci_low": nan,
                "ci_high": nan, "llf": nan, "aic": nan, "bic": nan, "n_obs": self.n_obs,
                "n_groups": self.n_groups, "method": self.method, "warnings": "; ".join(self.warnings)})
        # a singular fit gives NaN standard errors; that is reported, not warned about again
        with np.errstate(invalid="ignore", divide="ignore"):
            params = res.fe_params if hasattr(res, "fe_params") else res.params
            bse = res.bse_fe if hasattr(res, "bse_fe") else res.bse
            terms = list(params.index)
            z = np.asarray(params, float) / np.asarray(bse, float)
            if hasattr(res, "fe_params"):
                p = 2.0 * sps.norm.sf(np.abs(z))
            else:
                p = np.asarray(res.pvalues.loc[terms], float)
            ci = res.conf_int().loc[terms].to_numpy(float)
        ml = self.ml_result
        return pd.DataFrame({
            "outcome": self.outcome, "layer": self.layer, "formula": self.formula,
            "re_formula": self.re_formula or "", "term": terms,
            "estimate": np.asarray(params, float), "se": np.asarray(bse, float), "z": z, "p": p,
            "ci_low": ci[:, 0], "ci_high": ci[:, 1], "llf": float(ml.llf), "aic": float(ml.aic),
            "bic": float(ml.bic), "n_obs": self.n_obs, "n_groups": self.n_groups,
            "method": self.method, "warnings": "; ".join(self.warnings),
        })


def _fit_pair(formula, null_formula, data, re_formula, reml):
    """Fit the full and null models with one random structure; (fits, messages, failure)."""
    full, m1, e1 = _fit_mixedlm(formula, data, re_formula, False)
    null, m2, e2 = _fit_mixedlm(null_formula, data, re_formula, False)
    messages = list(dict.fromkeys(m1 + [f"model without value: {m}" for m in m2]))
    failure = _fit_failure(full, e1, m1)
    if failure is None:
        null_failure = _fit_failure(null, e2, m2)
        failure = f"model without value: {null_failure}" if null_failure else None
    reported = full
    if reml and failure is None:
        reported, m3, e3 = _fit_mixedlm(formula, data, re_formula, True)
        m3 = [f"REML fit: {m}" for m in m3]
        messages = list(dict.fromkeys(messages + m3))
        reml_failure = _fit_failure(reported, e3, m3)
        failure = f"REML fit: {reml_failure}" if reml_failure else None
    return (reported, full, null), messages, failure


def _ols_pair(formula, null_formula, data):
    fits, messages, failure = [], [], None
    for f in (formula, null_formula):
        result, msgs, error = _capture(lambda f=f: _fit_ols(f, data))
        fits.append(result)
        messages += msgs
        failure = failure or _fit_failure(result, error, msgs)
    return fits, list(dict.fromkeys(messages)), failure


def _one_model(data, outcome, layer, rhs, null_rhs, random_slope, reml) -> MixedFit:
    """Fit one model, simplifying the random effects step by step when a fit fails.

    Random intercept and slope → random intercept → OLS; every step taken is
    recorded in ``method`` and ``warnings``.  A single base latent is fitted
    by OLS directly.
    """
    formula, null_formula = f"{outcome} ~ {rhs}", f"{outcome} ~ {null_rhs}"
    n_obs, n_groups = len(data), int(data["base"].nunique())
    kind = "REML" if reml else "ML"

    def made(method, re_formula, fits, messages):
        reported, full, null = fits
        return MixedFit(outcome, layer, formula, re_formula, null_formula, method, reported, full, null,
                        n_obs, n_groups, list(dict.fromkeys(messages)))

    notes = []
    if n_groups >= 2:
        if random_slope:
            # as lme4 requires: more observations than random effects
            if n_obs <= 2 * n_groups:
                fits, messages = None, []
                failure = f"{n_obs} observations for 2 × {n_groups} random effects"
            else:
                fits, messages, failure = _fit_pair(formula, null_formula, data, "~value", reml)
            if failure is None:
                return made(f"mixedlm {kind}, random intercept and slope by base", "~value", fits, messages)
            notes = [f"slope model: {m}" for m in messages] + [f"random slope dropped: {failure}"]
        if n_obs <= n_groups:
            fits, messages = None, []
            failure = f"{n_obs} observations for {n_groups} random intercepts"
        else:
            fits, messages, failure = _fit_pair(formula, null_formula, data, None, reml)
        if failure is None:
            method = f"mixedlm {kind}, random intercept by base" + (" (random slope dropped)" if notes else "")
            return made(method, None, fits, notes + messages)
        notes += [f"intercept model: {m}" for m in messages] + [f"mixed model dropped: {failure}"]
    (full, null), messages, failure = _ols_pair(formula, null_formula, data)
    if failure is None:
        method = "ols (one base latent)" if n_groups < 2 else "ols (the mixed models did not converge)"
        return made(method, None, (full, full, null), notes + messages)
    return made(f"not fitted ({failure})", None, (None, None, None), notes + messages)


def _complete(frame: pd.DataFrame, outcome: str) -> pd.DataFrame:
    _require(frame, [outcome, "value", "base", "layer"], "a mixed model")
    data = frame[np.isfinite(pd.to_numeric(frame[outcome], errors="coerce"))
                 & np.isfinite(pd.to_numeric(frame["value"], errors="coerce"))].copy()
    data[outcome] = data[outcome].astype(float)
    data["value"] = data["value"].astype(float)
    return data


def fit_mixed(frame: pd.DataFrame, outcome: str, by: str = "layer", random_slope: bool = True,
              reml: bool = False, min_obs: int = 10, single_base: str = "error", workers: int = 1,
              progress: bool = False) -> list:
    """Regress an outcome on the sweep value with random effects by base latent.

    Per layer ``smf.mixedlm(f"{outcome} ~ value", df, groups=df["base"],
    re_formula="~value").fit(reml=False)``, or with ``by="interaction"`` one
    model ``{outcome} ~ value * C(layer)`` over all layers.  The random slope
    is dropped (and the reason recorded) when the slope model, or the model
    without value, does not converge (optimiser failure, non-finite
    estimates, a Hessian that is not positive definite); when the random
    intercept model fails too, OLS is fitted and says so in ``method``.  A
    frame with a single base latent has no random effect to estimate: an
    error, or OLS with ``single_base="ols"``.  A constant outcome is an error.
    Warnings from statsmodels are kept in each fit's ``warnings``.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`model_frame`.
    outcome : str
        Outcome column (the measure name).
    by : {"layer", "interaction"}
    random_slope : bool
        Start from random intercept and slope of value by base.
    reml : bool
        Report REML fits; the likelihood-ratio test, AIC and BIC always use ML fits.
    min_obs : int
        Layers with fewer complete rows (or a single value) are skipped.
    single_base : {"error", "ols"}
        What a frame with one base latent gets.
    workers : int or None
        Processes fitting layers in parallel (None: one per CPU); the fits
        do not depend on the number.
    progress : bool
        Show a progress bar over the models.

    Returns
    -------
    list of MixedFit
        One per modelled layer in network order (one in all for ``interaction``).
    """
    tasks = mixed_tasks(frame, outcome, by=by, random_slope=random_slope, reml=reml, min_obs=min_obs,
                        single_base=single_base)
    return fit_tasks(tasks, workers=workers, progress=progress)


def fit_tasks(tasks, workers: int = 1, progress: bool = False) -> list:
    """Fit the models of :func:`mixed_tasks` (in ``workers`` processes); MixedFits in task order."""
    from .parallel import map_jobs

    return map_jobs(_fit_task, tasks, workers=workers, progress=progress, desc="models", unit="model",
                    preload=[__name__], weights=[len(task[0]) for task in tasks])


def _fit_task(task) -> MixedFit:
    return _one_model(*task)


def mixed_tasks(frame: pd.DataFrame, outcome: str, by: str = "layer", random_slope: bool = True,
                reml: bool = False, min_obs: int = 10, single_base: str = "error") -> list:
    """The models :func:`fit_mixed` fits, checked and not yet fitted.

    Same arguments and errors as :func:`fit_mixed`; returns one argument
    tuple ``(data, outcome, layer, rhs, null_rhs, random_slope, reml)`` per
    model, for :func:`fit_tasks`.
    """
    if by not in ("layer", "interaction"):
        raise GanphonError(f"by must be 'layer' or 'interaction', got {by!r}")
    if single_base not in ("error", "ols"):
        raise GanphonError(f"single_base must be 'error' or 'ols', got {single_base!r}")
    data = _complete(frame, outcome)
    if data.empty:
        raise GanphonError(f"{outcome}: no rows with both a value and a defined outcome")
    n_bases = int(data["base"].nunique())
    if n_bases < 2 and single_base == "error":
        raise GanphonError(f"{outcome}: a random effect by base latent needs at least 2 bases, the sweep has "
                           f"{n_bases}; sweep more --bases (or fit OLS with single_base='ols')")
    if data[outcome].nunique() < 2:
        raise GanphonError(f"{outcome}: the outcome is constant ({data[outcome].iloc[0]:g} in every row); "
                           "there is nothing to model")
    if by == "interaction":
        data["layer"] = pd.Categorical(data["layer"].astype(str),
                                       categories=sort_layers(data["layer"].astype(str).unique()))
        if data["layer"].cat.categories.size < 2:
            raise GanphonError(f"{outcome}: a layer interaction needs at least two layers with values")
        return [(data, outcome, "all", "value * C(layer)", "C(layer)", random_slope, reml)]
    tasks = []
    for layer in sort_layers(data["layer"].astype(str).unique()):
        part = data[data["layer"].astype(str) == layer].copy()
        if len(part) < min_obs or part["value"].nunique() < 2 or part[outcome].nunique() < 2:
            continue
        tasks.append((part, outcome, layer, "value", "1", random_slope, reml))
    return tasks


def coefficient_table(fits) -> pd.DataFrame:
    """Fixed effects of several :class:`MixedFit` as one tidy table."""
    frames = [fit.coefficients() for fit in fits]
    if not frames:
        return pd.DataFrame(columns=MIXED_COLUMNS)
    return pd.concat(frames, ignore_index=True)[MIXED_COLUMNS]


def lrt_table(fits) -> pd.DataFrame:
    """Likelihood-ratio tests of the value effect of several :class:`MixedFit`."""
    rows = []
    for fit in fits:
        test = fit.lrt()
        rows.append({"outcome": fit.outcome, "layer": fit.layer, "stat": test["stat"], "df": test["df"],
                     "p": test["p"], "llf_full": test["llf_full"], "llf_null": test["llf_null"],
                     "method": fit.method})
    return pd.DataFrame(rows, columns=LRT_COLUMNS)


MIXED_COLUMNS = ["outcome", "layer", "formula", "re_formula", "term", "estimate", "se", "z", "p",
                 "ci_low", "ci_high", "llf", "aic", "bic", "n_obs", "n_groups", "method", "warnings"]
LRT_COLUMNS = ["outcome", "layer", "stat", "df", "p", "llf_full", "llf_null", "method"]
EFFECT_COLUMNS = ["outcome", "layer", "beta", "se", "ci_low", "ci_high", "p", "n_obs", "n_groups",
                  "method", "warnings"]
CORRELATION_COLUMNS = ["measure", "layer", "r", "ci_low", "ci_high", "n", "p"]


# --------------------------------------------------------------------------
# GAM


def fit_gam(frame: pd.DataFrame, outcome: str, df: int = 5, degree: int = 3, alpha: float = 0.0) -> dict:
    """Non-linear value curves: a B-spline GAM of the outcome on value, per layer.

    ``GLMGam.from_formula(f"{outcome} ~ 1", smoother=BSplines(value, df=[df],
    degree=[degree]), alpha=[alpha])`` — a Gaussian regression spline
    (penalised when ``alpha`` > 0).  Base latents are pooled.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`model_frame`.
    outcome : str
    df : int
        Degrees of freedom of the B-spline basis (statsmodels ``BSplines``).
    degree : int
        Spline degree.
    alpha : float
        Penalty weight.

    Returns
    -------
    dict
        Layer → statsmodels ``GLMGamResults``, in network order; layers with
        at most ``df`` distinct values of a defined outcome are left out.
    """
    from statsmodels.gam.api import BSplines, GLMGam

    data = _complete(frame, outcome)
    results = {}
    for layer in sort_layers(data["layer"].astype(str).unique()):
        part = data[data["layer"].astype(str) == layer].reset_index(drop=True)
        if part["value"].nunique() <= df:
            continue
        smoother = BSplines(part[["value"]], df=[df], degree=[degree])
        model = GLMGam.from_formula(f"{outcome} ~ 1", data=part, smoother=smoother, alpha=[alpha])
        result, messages, error = _capture(model.fit)
        if error is not None:
            raise GanphonError(f"{outcome}, layer {layer}: the GAM could not be fitted ({_first_line(error)})")
        result.ganphon_warnings = messages
        results[layer] = result
    if not results:
        raise GanphonError(f"{outcome}: no layer has more than {df} distinct values with a defined outcome; "
                           f"a spline with df={df} needs more (lower df)")
    return results


def gam_curves(gams: dict, outcome: str | None = None, values=None, n: int = 50) -> pd.DataFrame:
    """Fitted GAM curves with 95 % confidence bands, as a tidy table.

    Parameters
    ----------
    gams : dict
        From :func:`fit_gam`.
    outcome : str, optional
        Written into the ``outcome`` column.
    values : array-like, optional
        Values to predict at (default: ``n`` points over each layer's range).
    n : int

    Returns
    -------
    pandas.DataFrame
        Columns outcome, layer, value, fit, ci_low, ci_high.
    """
    frames = []
    for layer, result in gams.items():
        observed = np.asarray(result.model.smoother.x[:, 0], float)
        grid = np.asarray(values, float) if values is not None else np.linspace(observed.min(), observed.max(), n)
        # B-splines are only defined inside the observed range
        grid = np.clip(grid, observed.min(), observed.max())
        pred = result.get_prediction(exog=pd.DataFrame({"value": grid}), exog_smooth=grid[:, None],
                                     transform=True).summary_frame(alpha=0.05)
        frames.append(pd.DataFrame({"outcome": outcome or result.model.endog_names, "layer": layer,
                                    "value": grid, "fit": pred["mean"].to_numpy(),
                                    "ci_low": pred["mean_ci_lower"].to_numpy(),
                                    "ci_high": pred["mean_ci_upper"].to_numpy()}))
    if not frames:
        return pd.DataFrame(columns=["outcome", "layer", "value", "fit", "ci_low", "ci_high"])
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------
# Correlations (the paper's table)


def pearson(x, y, confidence: float = 0.95) -> dict:
    """Pearson r with a Fisher-z confidence interval and the two-sided t-test p.

    Parameters
    ----------
    x, y : array-like
        Paired values; pairs with a NaN are dropped.
    confidence : float

    Returns
    -------
    dict
        ``r``, ``ci_low``, ``ci_high``, ``n``, ``p`` (NaN where undefined:
        r needs n ≥ 3 and variation in both, the interval n ≥ 4).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(x.size)
    out = {"r": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": n, "p": math.nan}
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    dx, dy = x - x.mean(), y - y.mean()
    r = float(np.clip(np.sum(dx * dy) / math.sqrt(np.sum(dx * dx) * np.sum(dy * dy)), -1.0, 1.0))
    out["r"] = r
    if abs(r) < 1.0:
        t = r * math.sqrt((n - 2) / (1.0 - r * r))
        out["p"] = float(2.0 * sps.t.sf(abs(t), n - 2))
    else:
        out["p"] = 0.0
    if n > 3:
        half = sps.norm.ppf(0.5 + confidence / 2.0) / math.sqrt(n - 3)
        z = math.atanh(min(max(r, -1 + 1e-15), 1 - 1e-15))
        out["ci_low"], out["ci_high"] = math.tanh(z - half), math.tanh(z + half)
    return out


def correlation_table(table: pd.DataFrame, measures=PAPER_MEASURES, reference: str = layout.OUTPUT_LAYER,
                      labels=None, match: str = "interval") -> pd.DataFrame:
    """Pearson r between each layer's measurement and the reference layer's (the paper's table).

    Parameters
    ----------
    table : pandas.DataFrame
        Long acoustic table with ``sample_id`` and ``layer`` columns.
    measures : sequence of str
        Measures to correlate (absent ones are skipped).
    reference : str
        The layer every other layer is compared with.
    labels : sequence of str, optional
        Keep only intervals with these labels (e.g. ``["voi"]``).
    match : {"interval", "order"}
        ``interval``: rows match when sample_id, tier, label, start, end and
        point are equal (layers measured on the output's intervals).
        ``order``: the k-th interval with a label in one file matches the
        k-th in the other, whatever the tier and times (layers annotated on
        their own ``auto_<layer>`` tiers, e.g. for duration).

    Returns
    -------
    pandas.DataFrame
        Columns measure, layer, r, ci_low, ci_high (95 %, Fisher z), n, p;
        NaN rows are dropped pairwise.
    """
    _require(table, ["sample_id", "layer", "measure", "value"], "a correlation table")
    if match not in ("interval", "order"):
        raise GanphonError(f"match must be 'interval' or 'order', got {match!r}")
    if isinstance(measures, str):
        measures = [m.strip() for m in measures.split(",") if m.strip()]
    if reference not in set(table["layer"].dropna()):
        raise GanphonError(f"{_source(table)}: no rows for the reference layer '{reference}'")
    rows = []
    for measure in measures:
        part = table[table["measure"] == measure].copy()
        if labels:
            part = part[part["label"].isin([labels] if isinstance(labels, str) else list(labels))]
        if part.empty:
            continue
        for key in INTERVAL_KEYS + ["point"]:
            if key not in part.columns:
                part[key] = np.nan
        # missing keys (interval measures have no point; a file measured whole has no
        # tier) must still match themselves: pivoting drops NaN keys
        part["point"] = pd.to_numeric(part["point"], errors="coerce").fillna(-1).astype(int)
        part[["tier", "label"]] = part[["tier", "label"]].astype(object).fillna("")
        part[["start", "end"]] = part[["start", "end"]].astype(float).fillna(-1.0)
        if match == "interval":
            keys = ["sample_id", "tier", "label", "start", "end", "point"]
        else:
            part = part.sort_values(["sample_id", "layer", "start", "point"], kind="stable")
            first = part.drop_duplicates(["sample_id", "layer", "tier", "label", "start", "end"])
            first = first.assign(ordinal=first.groupby(["sample_id", "layer", "label"]).cumcount())
            part = part.merge(first[["sample_id", "layer", "tier", "label", "start", "end", "ordinal"]],
                              on=["sample_id", "layer", "tier", "label", "start", "end"], how="left")
            keys = ["sample_id", "label", "ordinal", "point"]
        # observed key combinations only (a pivot with dropna=False would build their full product)
        wide = part.groupby(keys + ["layer"], sort=True)["value"].mean().unstack("layer")
        if reference not in wide.columns:
            continue
        for layer in sort_layers(wide.columns):
            if layer == reference:
                continue
            rows.append({"measure": measure, "layer": layer, **pearson(wide[layer], wide[reference])})
    out = pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
    out["n"] = out["n"].astype(int)
    return out


# --------------------------------------------------------------------------
# Where does the effect start


def effect_by_layer(frame: pd.DataFrame, outcome: str, random_slope: bool = True,
                    min_obs: int = 10, fits=None) -> pd.DataFrame:
    """Standardised value effect per layer: outcome and value z-scored within layer.

    Each layer's slope comes from the mixed model of :func:`fit_mixed` on the
    z-scored data (random intercept and slope by base, with the same
    fallback), or OLS when there is a single base latent.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`model_frame`.
    outcome : str
    random_slope : bool
    min_obs : int
        Layers with fewer complete rows get NaN (and say so in ``warnings``).
    fits : list of MixedFit, optional
        ML fits of the same frame from :func:`fit_mixed`: their value slopes are
        rescaled by sd(value) / sd(outcome) instead of refitting (the ML fit of
        an affinely rescaled outcome and value is the rescaled fit).

    Returns
    -------
    pandas.DataFrame
        Columns outcome, layer, beta, se, ci_low, ci_high (95 %), p, n_obs,
        n_groups, method, warnings; layers in network order.
    """
    data = _complete(frame, outcome)
    by_layer = {f.layer: f for f in (fits or [])}
    rows = []
    for layer in sort_layers(data["layer"].astype(str).unique()):
        part = data[data["layer"].astype(str) == layer].copy()
        row = {"outcome": outcome, "layer": layer, "beta": math.nan, "se": math.nan, "ci_low": math.nan,
               "ci_high": math.nan, "p": math.nan, "n_obs": len(part), "n_groups": part["base"].nunique(),
               "method": "", "warnings": ""}
        sd_y, sd_x = part[outcome].std(), part["value"].std()
        if len(part) < max(min_obs, 4):
            row["warnings"] = f"{len(part)} complete rows (fewer than {max(min_obs, 4)}): not fitted"
            rows.append(row)
            continue
        if not (sd_y > 0) or not (sd_x > 0):
            row["warnings"] = "no variation to standardise (constant outcome or value)"
            rows.append(row)
            continue
        if layer in by_layer:
            fit, scale = by_layer[layer], sd_x / sd_y
        else:
            part[outcome] = (part[outcome] - part[outcome].mean()) / sd_y
            part["value"] = (part["value"] - part["value"].mean()) / sd_x
            fit, scale = _one_model(part, outcome, layer, "value", "1", random_slope, False), 1.0
        coef = fit.coefficients().set_index("term").loc["value"]
        row.update(beta=coef["estimate"] * scale, se=coef["se"] * scale, ci_low=coef["ci_low"] * scale,
                   ci_high=coef["ci_high"] * scale, p=coef["p"], method=fit.method,
                   warnings="; ".join(fit.warnings))
        rows.append(row)
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


def first_layer(effects: pd.DataFrame, alpha: float = 0.05, outcome: str | None = None) -> str | None:
    """The first layer, in network order, whose (1 − alpha) CI of the effect excludes 0.

    Parameters
    ----------
    effects : pandas.DataFrame
        From :func:`effect_by_layer` (columns outcome, layer, beta, se).
    alpha : float
    outcome : str, optional
        Needed when ``effects`` holds several outcomes.

    Returns
    -------
    str or None
        None when no layer's interval excludes 0.
    """
    if outcome is not None:
        effects = effects[effects["outcome"] == outcome]
    if effects["outcome"].nunique() > 1:
        raise GanphonError(f"effects hold several outcomes ({', '.join(effects['outcome'].unique())}); "
                           "pass outcome=")
    if not 0 < alpha < 1:
        raise GanphonError(f"alpha must be between 0 and 1, got {alpha}")
    half = sps.norm.ppf(1 - alpha / 2)
    for layer in sort_layers(effects["layer"]):
        row = effects[effects["layer"] == layer].iloc[0]
        low, high = row["beta"] - half * row["se"], row["beta"] + half * row["se"]
        if np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0):
            return layer
    return None


# --------------------------------------------------------------------------
# Latent discovery (GAP)


def read_latents(path) -> pd.DataFrame:
    """Read ``latents.csv`` (a folder holding one, or the file)."""
    path = Path(path)
    if path.is_dir():
        path = path / layout.LATENTS
    if not path.is_file():
        raise GanphonError(f"{path}: no latents table (written by 'ganphon probe' / 'ganphon sweep')")
    try:
        table = pd.read_csv(path, dtype={"sample_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise GanphonError(f"{path}: cannot read latents ({exc})") from None
    if "sample_id" not in table.columns:
        raise GanphonError(f"{path}: no sample_id column")
    table.attrs["source"] = str(path)
    return table


def frication_property(dir_or_textgrids, tier: str = "auto", label: str = "fric") -> pd.DataFrame:
    """Whether each output has a ``fric`` interval in its ``auto`` tier, and how long they last.

    Parameters
    ----------
    dir_or_textgrids : path-like or sequence of path-like
        An exported folder (each sample's ``ID.TextGrid``), or TextGrid paths
        (the sample id is the file stem).
    tier : str
        Interval tier written by ``ganphon annotate``.
    label : str
        Label counted.

    Returns
    -------
    pandas.DataFrame
        Columns sample_id, ``has_<label>`` (0/1), ``<label>_duration`` (s, total),
        ``n_<label>`` (intervals).
    """
    from .annotate import find_samples, read_textgrid

    if isinstance(dir_or_textgrids, (str, Path)) and Path(dir_or_textgrids).is_dir():
        _, samples = find_samples(dir_or_textgrids)
        grids = [(sid, Path(grid)) for sid, _, grid in samples]
    elif isinstance(dir_or_textgrids, (str, Path)):
        raise GanphonError(f"{dir_or_textgrids}: not a folder")
    else:
        grids = [(Path(p).stem, Path(p)) for p in dir_or_textgrids]
    if not grids:
        raise GanphonError("no TextGrids given")
    rows = []
    for sid, path in grids:
        if not path.is_file():
            raise GanphonError(f"{path}: no such TextGrid")
        grid = read_textgrid(path)
        if not grid.has_tier(tier):
            raise GanphonError(f"{path}: no tier '{tier}' (run 'ganphon annotate' on the folder first)")
        found = [iv for iv in grid.get_tier_by_name(tier).intervals if iv.text.strip() == label]
        total = float(sum(iv.end_time - iv.start_time for iv in found))
        rows.append({"sample_id": sid, f"has_{label}": int(bool(found)), f"{label}_duration": total,
                     f"n_{label}": len(found)})
    return pd.DataFrame(rows)


def discover(latents, prop, kind: str = "logistic", column: str | None = None,
             l1_alpha: float | None = None) -> pd.DataFrame:
    """Rank latent variables by how strongly they predict a property of the outputs (GAP).

    The property is regressed on all latent dimensions at once, standardised
    (Logit for a 0/1 property, OLS for a continuous one).  When the logistic
    MLE does not exist (perfect or quasi-perfect separation, or more
    variables than samples) an L1-regularised fit is used instead and recorded
    in the ``method`` column; its se, z and p are then NaN and the ranking is
    by |coef|.

    Parameters
    ----------
    latents : pandas.DataFrame or path-like
        ``latents.csv`` (sample_id, c1…, z1…) or its folder.
    prop : pandas.Series or pandas.DataFrame
        The property: a Series indexed by sample_id, or a table with a
        ``sample_id`` column (e.g. from :func:`frication_property`).
    kind : {"logistic", "linear"}
    column : str, optional
        Property column of a table (default: ``has_fric`` for logistic,
        ``fric_duration`` for linear).
    l1_alpha : float, optional
        Weight of the L1 penalty of the fallback: statsmodels' ``alpha`` on the
        summed log-likelihood for Logit (default 1.0), on half the mean squared
        error of the standardised property for OLS (default 0.05; coefficients
        are reported in the property's units).

    Returns
    -------
    pandas.DataFrame
        Columns var, coef, se, z, p, rank, method, n — sorted by rank (1 = strongest);
        ``z`` is the Wald z (Logit) or t (OLS).
    """
    import statsmodels.api as sm

    if kind not in ("logistic", "linear"):
        raise GanphonError(f"kind must be 'logistic' or 'linear', got {kind!r}")
    if not isinstance(latents, pd.DataFrame):
        latents = read_latents(latents)
    if "sample_id" not in latents.columns:
        raise GanphonError("latents need a sample_id column")
    names = [c for c in latents.columns if _LATENT_NAME.match(str(c))]
    if not names:
        raise GanphonError("latents have no columns named like c1 … or z1 …")
    if isinstance(prop, pd.Series):
        column = column or prop.name or "property"
        y = prop.rename(column).rename_axis("sample_id").reset_index()
    else:
        column = column or ("has_fric" if kind == "logistic" else "fric_duration")
        if column not in prop.columns or "sample_id" not in prop.columns:
            raise GanphonError(f"the property table needs columns sample_id and {column}")
        y = prop[["sample_id", column]]
    y = y.assign(sample_id=y["sample_id"].astype(str))
    data = latents.assign(sample_id=latents["sample_id"].astype(str)).merge(y, on="sample_id", how="inner")
    data = data[np.isfinite(pd.to_numeric(data[column], errors="coerce"))]
    if len(data) < 3:
        raise GanphonError(f"only {len(data)} samples have both latents and '{column}'")
    target = data[column].astype(float).to_numpy()
    X = data[names].astype(float)
    sd = X.std(ddof=0)
    constant = [n for n in names if not sd[n] > 0]
    used = [n for n in names if sd[n] > 0]
    if not used:
        raise GanphonError("every latent dimension is constant over these samples")
    Xs = (X[used] - X[used].mean()) / sd[used]
    exog = sm.add_constant(Xs.to_numpy(), has_constant="add")
    if kind == "logistic":
        if not set(np.unique(target)) <= {0.0, 1.0}:
            raise GanphonError(f"'{column}' is not 0/1; use kind='linear' for a continuous property")
        if np.unique(target).size < 2:
            raise GanphonError(f"all {len(target)} samples have {column} = {int(target[0])}; "
                               "nothing to discover (draw more samples)")
        model = sm.Logit(target, exog)
    else:
        model = sm.OLS(target, exog)
    kind_name = "logit" if kind == "logistic" else "ols"
    if l1_alpha is None:
        l1_alpha = 1.0 if kind == "logistic" else 0.05
    method, result, messages, reason = kind_name, None, [], None
    if exog.shape[1] >= len(target):
        reason = f"{len(used)} variables for {len(target)} samples"
    else:
        from statsmodels.tools.sm_exceptions import PerfectSeparationError

        def fit():
            try:
                return model.fit(disp=0, maxiter=200) if kind == "logistic" else model.fit()
            except PerfectSeparationError as exc:  # raised rather than warned by some versions
                raise ValueError(f"PerfectSeparation: {exc}") from None

        result, messages, error = _capture(fit)
        separated = any("PerfectSeparation" in m for m in messages) or "PerfectSeparation" in str(error or "")
        converged = result is not None and (kind == "linear" or result.mle_retvals.get("converged", False))
        if separated:
            reason = "perfect separation"
        elif error is not None or result is None:
            reason = f"{type(error).__name__}: {_first_line(error)}"
        elif not converged or not np.all(np.isfinite(result.bse)):
            reason = "the maximum-likelihood fit did not converge"
        elif kind == "logistic" and np.max(np.abs(result.params[1:])) > 20:
            # standardised coefficients this large mean the MLE is running off to infinity
            reason = "quasi-complete separation"
    if reason is None:
        coef, se = np.asarray(result.params[1:], float), np.asarray(result.bse[1:], float)
        z = coef / se
        p = np.asarray(result.pvalues[1:], float)
        order_key = -np.abs(z)
    else:
        method = f"{kind_name}-l1 ({reason}; alpha={l1_alpha:g})"
        if kind == "logistic":
            fit = lambda: model.fit_regularized(method="l1", alpha=l1_alpha * np.r_[0.0, np.ones(len(used))],
                                                disp=0)
        else:
            # the lasso runs on the standardised property so that alpha does not depend on its units
            sd_y = float(target.std()) or 1.0
            lasso = sm.OLS((target - target.mean()) / sd_y, exog)
            fit = lambda: lasso.fit_regularized(method="elastic_net", L1_wt=1.0,
                                                alpha=l1_alpha * np.r_[0.0, np.ones(len(used))])
        result, more, error = _capture(fit)
        messages += more
        if error is not None:
            raise GanphonError(f"the L1-regularised fit failed ({_first_line(error)})")
        coef = np.asarray(result.params[1:], float) * (sd_y if kind == "linear" else 1.0)
        se = z = p = np.full(len(used), np.nan)
        order_key = -np.abs(coef)
    ranks = np.empty(len(used), int)
    ranks[np.argsort(order_key, kind="stable")] = np.arange(1, len(used) + 1)
    out = pd.DataFrame({"var": used, "coef": coef, "se": se, "z": z, "p": p, "rank": ranks,
                        "method": method, "n": len(target)})
    out = out.sort_values("rank", kind="stable").reset_index(drop=True)
    out.attrs.update(property=column, kind=kind, method=method, constant=constant, warnings=messages)
    return out


# --------------------------------------------------------------------------
# Individual feature maps (paper §IV-E)


def activation_profiles(maps) -> np.ndarray:
    """Average each feature map across outputs: [N, C, n] → [C, n].

    Parameters
    ----------
    maps : array-like
        Feature maps of one layer for N outputs (``featuremaps_<layer>.npy``).

    Returns
    -------
    numpy.ndarray
        Activation profiles, float64 [C, n].
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise GanphonError(f"feature maps must be [N, channels, samples], got shape {maps.shape}")
    if maps.shape[0] == 0:
        raise GanphonError("feature maps hold no outputs")
    return maps.mean(axis=0, dtype=np.float64)


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator, n_init: int = 10, iters: int = 100):
    """Lloyd's k-means with k-means++ starts; the best of ``n_init`` by inertia."""
    best_labels, best_inertia = None, math.inf
    n = len(points)
    for _ in range(n_init):
        centres = [points[rng.integers(n)]]
        for _ in range(1, k):
            d2 = np.min([np.sum((points - c) ** 2, axis=1) for c in centres], axis=0)
            total = d2.sum()
            pick = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
            centres.append(points[pick])
        centres = np.array(centres)
        labels = None
        for _ in range(iters):
            d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
            new = d2.argmin(axis=1)
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                if np.any(labels == j):
                    centres[j] = points[labels == j].mean(axis=0)
        inertia = float(((points - centres[labels]) ** 2).sum())
        if inertia < best_inertia - 1e-12:
            best_labels, best_inertia = labels, inertia
    return best_labels


def cluster_feature_maps(profiles, gamma: float = 1e-10, k: int = 2, seed: int = 0) -> np.ndarray:
    """Spectral clustering of activation profiles with an RBF affinity (paper: γ = 1e-10, k = 2).

    Affinity ``A_ij = exp(−γ‖p_i − p_j‖²)`` (zero diagonal), the ``k``
    leading eigenvectors of ``D^{-1/2} A D^{-1/2}`` (the normalised
    Laplacian's smallest), rows scaled to unit length, then k-means with the
    given seed.

    Parameters
    ----------
    profiles : array-like
        [C, n] activation profiles (:func:`activation_profiles`).
    gamma : float
        RBF width.
    k : int
        Number of clusters.
    seed : int
        Seed of the k-means starts.

    Returns
    -------
    numpy.ndarray
        Cluster of each map (int, 0 … k−1), numbered in order of first appearance.
    """
    from scipy.spatial.distance import cdist

    P = np.asarray(profiles, dtype=np.float64)
    if P.ndim != 2:
        raise GanphonError(f"profiles must be [maps, samples], got shape {P.shape}")
    if not 2 <= k <= len(P):
        raise GanphonError(f"k = {k} clusters need 2 ≤ k ≤ the number of maps ({len(P)})")
    if not np.all(np.isfinite(P)):
        raise GanphonError("profiles contain NaN or infinite values")
    if not gamma > 0:
        raise GanphonError(f"gamma must be positive, got {gamma}")
    scaled = gamma * cdist(P, P, "sqeuclidean")
    if scaled.max() < 1e-9:
        # every affinity would be 1 to within rounding: the partition would be noise
        median = float(np.median(scaled[np.triu_indices(len(P), 1)]) / gamma)
        raise GanphonError(f"gamma = {gamma:g} is too small for these profiles (squared distances up to "
                           f"{scaled.max() / gamma:.3g}); use a larger gamma, e.g. {1 / max(median, 1e-300):.3g}")
    A = np.exp(-scaled)
    np.fill_diagonal(A, 0.0)
    degree = A.sum(axis=1)
    if np.any(degree <= 0):
        raise GanphonError(f"gamma = {gamma:g} leaves some maps unconnected; use a smaller gamma")
    inv_sqrt = 1.0 / np.sqrt(degree)
    S = inv_sqrt[:, None] * A * inv_sqrt[None, :]
    _, vectors = np.linalg.eigh((S + S.T) / 2.0)
    U = vectors[:, -k:]
    U = U / np.maximum(np.linalg.norm(U, axis=1, keepdims=True), 1e-300)
    labels = _kmeans(U, k, np.random.default_rng(seed))
    _, first = np.unique(labels, return_index=True)
    renumber = {old: new for new, old in enumerate(labels[np.sort(first)])}
    return np.array([renumber[x] for x in labels], dtype=int)


def rank_maps_by_cosine(maps_a, maps_b) -> pd.DataFrame:
    """Rank feature maps by the cosine distance between two conditions' profiles.

    Parameters
    ----------
    maps_a, maps_b : array-like
        Feature maps [N, C, n] (or profiles [C, n]) of the same layer under
        two conditions (e.g. z11 = −15 and z11 = 15).

    Returns
    -------
    pandas.DataFrame
        Columns map, cosine_distance, rank (1 = most different); maps silent
        in a condition have NaN distance and come last.
    """
    a, b = (np.asarray(m, dtype=np.float64) for m in (maps_a, maps_b))
    a = activation_profiles(a) if a.ndim == 3 else a
    b = activation_profiles(b) if b.ndim == 3 else b
    if a.shape != b.shape or a.ndim != 2:
        raise GanphonError(f"the two conditions' maps differ in shape: {a.shape} vs {b.shape}")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = np.where(norms > 0, 1.0 - np.sum(a * b, axis=1) / norms, np.nan)
    out = pd.DataFrame({"map": np.arange(len(a)), "cosine_distance": distance})
    out = out.sort_values("cosine_distance", ascending=False, na_position="last", kind="stable")
    out["rank"] = np.arange(1, len(out) + 1)
    return out.reset_index(drop=True)


def read_feature_maps(folder) -> dict:
    """Feature maps saved by ``ganphon probe --feature-maps``: layer → array [N, C, n]."""
    found = {}
    for path in sorted(Path(folder).glob(FEATURE_MAPS_GLOB)):
        layer = path.stem[len(layout.FEATURE_MAPS_PREFIX):]
        try:
            found[layer] = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise GanphonError(f"{path}: cannot read feature maps ({exc})") from None
    return {layer: found[layer] for layer in sort_layers(found)}


# --------------------------------------------------------------------------
# A folder


@dataclass
class StatsResult:
    """What :func:`run_stats` computed: its tables, summaries and notes, and the files written."""

    tables: dict
    summaries: str
    notes: list
    paths: list
    first_layers: dict


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    with layout.atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def _manifest_seeds(folder: Path) -> list:
    path = folder / layout.MANIFEST
    if not path.is_file():
        return []
    try:
        manifest = pd.read_csv(path, usecols=lambda c: c == "seed")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, UnicodeDecodeError):
        return []
    if "seed" not in manifest.columns:
        return []
    return sorted({int(s) for s in manifest["seed"].dropna()})


def run_stats(folder, measures=PAPER_MEASURES, outcome_layers=None, labels=None, point_agg: str = "mean",
              random_slope: bool = True, discover_latents: bool = False, gam: bool = False, gam_df: int = 5,
              cluster_seed: int = 0, command: str | None = None, workers: int | None = None,
              progress: bool = False) -> StatsResult:
    """All statistics of an exported, measured folder, written into ``DIR/stats/``.

    Writes ``mixed_models.csv``, ``lrt.csv``, ``effects.csv`` and
    ``summaries.txt`` (sweeps only), ``correlations.csv``, optionally
    ``discovery.csv`` (latent discovery of frication) and ``gam_curves.csv``,
    ``feature_map_clusters.csv`` when the folder holds feature maps, and
    ``stats.json`` (ganphon version, seeds, notes).  Tables of an earlier run
    that this run does not write are removed.

    Parameters
    ----------
    folder : path-like
        Folder with ``acoustics.csv`` (and ``manifest.csv``, ``latents.csv``).
    measures : sequence of str
        Outcomes (absent ones are skipped and noted).
    outcome_layers : sequence of str, optional
        Layers to fit models for (default: all).
    labels : sequence of str, optional
        Interval labels to keep (e.g. ``["voi"]``).
    point_agg : {"mean", "median"}
        Summary of point measures per interval.
    random_slope : bool
    discover_latents : bool
        Rank latent variables by how they predict frication in the outputs'
        ``auto`` tier (logistic on presence, linear on total duration).
    gam : bool
        Also fit B-spline GAMs of each outcome on value (``gam_curves.csv``).
    gam_df : int
    cluster_seed : int
        Seed of the k-means in the feature-map clustering.
    command : str, optional
        Command line recorded in ``stats.json``.
    workers : int, optional
        Processes fitting the mixed models (None: one per CPU); the results
        do not depend on the number.
    progress : bool
        Show a progress bar over the models.

    Returns
    -------
    StatsResult
    """
    from . import __version__

    folder = Path(folder)
    if not folder.is_dir():
        raise GanphonError(f"{folder}: no such folder")
    table = read_acoustics(folder)
    if isinstance(measures, str):
        measures = [m.strip() for m in measures.split(",") if m.strip()]
    present = set(table["measure"].dropna())
    used = [m for m in measures if m in present]
    notes = [f"measure '{m}' is not in {ACOUSTICS}; skipped" for m in measures if m not in present]
    out_dir = folder / STATS_DIR
    out_dir.mkdir(exist_ok=True)
    tables, summaries, paths, firsts = {}, [], [], {}
    sweep = has_sweep(table)
    if sweep and "layer" in table.columns:
        fits, effects, gams, prepared, all_tasks = [], [], [], [], []
        for measure in used:
            frame = model_frame(table, measure, point_agg=point_agg, labels=labels, layers=outcome_layers)
            try:
                tasks = mixed_tasks(frame, measure, random_slope=random_slope, single_base="ols")
            except GanphonError as exc:
                notes.append(str(exc))
                continue
            prepared.append((measure, frame, len(tasks)))
            all_tasks += tasks
        fitted_all = fit_tasks(all_tasks, workers=workers, progress=progress)
        for measure, frame, n_tasks in prepared:
            measure_fits, fitted_all = fitted_all[:n_tasks], fitted_all[n_tasks:]
            skipped = [layer for layer in frame["layer"].cat.categories
                       if layer not in {f.layer for f in measure_fits}]
            if skipped:
                notes.append(f"{measure}: too few complete rows (or one value) for a model in "
                             f"{', '.join(skipped)}")
            if not measure_fits:
                continue
            fits += measure_fits
            eff = effect_by_layer(frame, measure, random_slope=random_slope, fits=measure_fits)
            effects.append(eff)
            firsts[measure] = first_layer(eff)
            if gam:
                try:
                    fitted = fit_gam(frame, measure, df=gam_df)
                except GanphonError as exc:
                    notes.append(f"GAM: {exc}")
                    continue
                left_out = [f.layer for f in measure_fits if f.layer not in fitted]
                if left_out:
                    notes.append(f"GAM of {measure} left out {', '.join(left_out)} "
                                 f"(at most {gam_df} distinct values)")
                gams.append(gam_curves(fitted, outcome=measure))
        tables["mixed_models"] = coefficient_table(fits)
        tables["lrt"] = lrt_table(fits)
        tables["effects"] = (pd.concat(effects, ignore_index=True) if effects
                             else pd.DataFrame(columns=EFFECT_COLUMNS))
        if gam:
            tables["gam_curves"] = pd.concat(gams, ignore_index=True) if gams else pd.DataFrame()
        summaries = [fit.summary() for fit in fits]
        for what, test in (("random slope dropped (did not converge)", lambda m: "dropped" in m),
                           ("OLS instead of a mixed model (did not converge)", lambda m: "did not converge" in m),
                           ("no model could be fitted", lambda m: m.startswith("not fitted"))):
            hit = [f"{f.outcome}/{f.layer}" for f in fits if test(f.method)]
            if hit:
                notes.append(f"{what} for {', '.join(hit)}")
    else:
        notes.append("no sweep columns (sweep_value, base) in the table: only the correlation table"
                     + (" and the latent discovery are" if discover_latents else " is") + " computed")
    if "layer" in table.columns and "sample_id" in table.columns \
            and layout.OUTPUT_LAYER in set(table["layer"].dropna()):
        tables["correlations"] = correlation_table(table, used, labels=labels)
    else:
        notes.append(f"no '{layout.OUTPUT_LAYER}' rows with sample_id/layer: no correlation table")
    if discover_latents:
        latents = read_latents(folder)
        prop = frication_property(folder)
        found = []
        if prop["has_fric"].nunique() == 2:
            found.append(discover(latents, prop, "logistic").assign(property="has_fric"))
        else:
            notes.append(f"discovery: has_fric is {int(prop['has_fric'].iloc[0])} in all "
                         f"{len(prop)} outputs; logistic ranking skipped")
        if prop["fric_duration"].std() > 0:
            found.append(discover(latents, prop, "linear").assign(property="fric_duration"))
        else:
            notes.append("discovery: fric_duration does not vary; linear ranking skipped")
        if found:
            tables["discovery"] = pd.concat(found, ignore_index=True)
    clusters = []
    for layer, maps in read_feature_maps(folder).items():
        profiles = activation_profiles(maps)
        try:
            labels_ = cluster_feature_maps(profiles, seed=cluster_seed)
        except GanphonError as exc:
            notes.append(f"feature maps of {layer}: {exc}")
            continue
        clusters.append(pd.DataFrame({"layer": layer, "map": np.arange(len(labels_)), "cluster": labels_}))
    if clusters:
        tables["feature_map_clusters"] = pd.concat(clusters, ignore_index=True)
    for name, frame in tables.items():
        paths.append(_write_csv(frame, out_dir / f"{name}.csv"))
    if summaries:
        path = out_dir / "summaries.txt"
        layout.atomic_write_text(path, "\n".join(summaries))
        paths.append(path)
    # results of an earlier run with other options must not pass for this run's
    for stale in [out_dir / f"{name}.csv" for name in STATS_TABLES] + [out_dir / "summaries.txt"]:
        if stale not in paths and stale.exists():
            stale.unlink()
    record = {"ganphon_version": __version__, "command": command, "source": str(folder / ACOUSTICS),
              "measures": used, "labels": list(labels) if labels else None, "point_agg": point_agg,
              "random_slope": random_slope, "seeds": {"manifest": _manifest_seeds(folder),
                                                       "feature_map_kmeans": cluster_seed},
              "first_layer": firsts, "tables": sorted(tables), "notes": notes}
    path = out_dir / "stats.json"
    layout.atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    paths.append(path)
    return StatsResult(tables, "\n".join(summaries), notes, paths, firsts)
