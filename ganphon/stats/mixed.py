"""Mixed models of an outcome on the sweep value (statsmodels), likelihood-ratio tests, GAMs."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..errors import GanphonError, first_line
from .tables import _complete, sort_layers

# Warnings that say nothing about a fit; they are passed on, not recorded.
_NOT_ABOUT_THE_FIT = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)

# --------------------------------------------------------------------------
# Fitting with warnings kept


_first_line = first_line  # the one first-line helper, in errors.py


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
    from ..parallel import map_jobs

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

