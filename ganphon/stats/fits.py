"""What a mixed-model fit returns, whichever engine fits it: the types and constants every engine shares.

The linear mixed models (:mod:`.mixed`), the logistic ones (:mod:`.glmm`) and
lme4 (:mod:`.lme4`) all report an :class:`Estimate` in raw units per
maximisation (:class:`Attempt`) and one :class:`MixedFit` per model, try the
random structures of :data:`STRUCTURES` in order, fit on the scaled data of
:func:`_scaled` and test the value effect by :func:`lrt`.  Nothing here fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import GanphonError

#: Random structures of the fit chain, in the order they are tried.
STRUCTURES = ("slope", "uncorrelated", "intercept")
#: What each structure is called in ``method`` and its lme4 random-effects term.
STRUCTURE_TEXT = {
    "slope": ("random intercept and slope by base", "(value | base)"),
    "uncorrelated": ("random intercept and uncorrelated slope by base", "(1 | base) + (0 + value_c | base)"),
    "intercept": ("random intercept by base", "(1 | base)"),
}


@dataclass
class Estimate:
    """One fitted mixed model in raw units (attribute names as statsmodels' results).

    Attributes
    ----------
    fe_params : pandas.Series
        Fixed effects per raw unit.
    cov_fe : pandas.DataFrame
        Their covariance (lme4's ``vcov``: conditional on the variance estimates).
    llf : float
        Log-likelihood of the raw data (ML; NaN for a REML fit).
    method : {"ML", "REML"}
    structure : str
        ``slope``, ``uncorrelated`` or ``intercept``.
    re_sd : dict
        ``base`` (intercept sd), ``value`` (slope sd per raw unit; absent for
        ``intercept``), ``corr`` (NaN unless ``slope``), ``resid``.
    n_obs, k_params : int
        Rows, and parameters (fixed + variance + residual).
    converged, singular : bool
        A maximum was found; it lies on the boundary (variance 0 or |corr| = 1).
    gradient : float
        Largest |gradient| of the scaled model's profile likelihood at the estimates.
    optimizer : str
        The optimiser (and start) whose maximum was kept.
    notes : list of str
    sm : object
        Unused (None): kept for callers of older versions.
    psi : numpy.ndarray or None
        The relative covariance Ψ of the random effects (scaled model) at the maximum.
    df : pandas.Series or None
        Satterthwaite df of each fixed effect, when asked (:func:`fit_ml`).
    theta : numpy.ndarray or None
        The Laplace fit's θ (:mod:`.glmm`).
    """

    fe_params: pd.Series
    cov_fe: pd.DataFrame
    llf: float
    method: str
    structure: str
    re_sd: dict
    n_obs: int
    k_params: int
    converged: bool
    singular: bool
    gradient: float
    optimizer: str
    notes: list
    sm: object = None
    psi: object = None
    df: object = None
    theta: object = None

    @property
    def bse_fe(self) -> pd.Series:
        return pd.Series(np.sqrt(np.clip(np.diag(self.cov_fe.to_numpy(float)), 0, None)),
                         index=self.fe_params.index)

    @property
    def aic(self) -> float:
        return -2.0 * self.llf + 2.0 * self.k_params

    @property
    def bic(self) -> float:
        return -2.0 * self.llf + math.log(self.n_obs) * self.k_params


def _scaled(data: pd.DataFrame, outcome: str):
    """(scaled copy, centre and sd of value, mean and sd of the outcome)."""
    centre, sd_v = float(data["value"].mean()), float(data["value"].std(ddof=0))
    mean_y, sd_y = float(data[outcome].mean()), float(data[outcome].std(ddof=0))
    sd_v = sd_v if sd_v > 0 else 1.0
    sd_y = sd_y if sd_y > 0 else 1.0
    std = data.assign(**{"value": (data["value"] - centre) / sd_v, outcome: (data[outcome] - mean_y) / sd_y})
    return std, (centre, sd_v), (mean_y, sd_y)


@dataclass
class Attempt:
    """One likelihood maximisation (:func:`fit_ml`, :func:`~.glmm.fit_binomial`).

    Attributes
    ----------
    estimate : Estimate or None
        None when nothing could be fitted.
    messages : list of str
        What the optimisers and the boundary search reported.
    failure : str or None
        Why the maximum cannot be used (None when it can).
    """

    estimate: Estimate | None
    messages: list
    failure: str | None = None


def lrt(full, null) -> dict:
    """Likelihood-ratio test of two nested fits (both by maximum likelihood).

    Parameters
    ----------
    full, null : Estimate or statsmodels results
        ML fits (:class:`Estimate`, MixedLM with ``reml=False``, or OLS);
        ``null`` is ``full`` without the tested fixed-effect terms.

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
    from .distributions import chi2_sf

    p = float(chi2_sf(max(stat, 0.0), df)) if np.isfinite(stat) else math.nan
    return {"stat": stat, "df": int(df), "p": p, "llf_full": float(full.llf), "llf_null": float(null.llf)}


def _n_fixed(result) -> int:
    if hasattr(result, "fe_params"):
        return int(len(result.fe_params))
    return int(len(result.params))


def model_name(outcome: str, label: str | None = None) -> str:
    """``f1/voi``: an outcome in the intervals of one label (just ``f1`` when no label is chosen)."""
    return f"{outcome}/{label}" if label else str(outcome)


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
        The random effects by base in lme4 notation (``(value | base)``;
        None: OLS).
    null_formula : str
        The model without the value terms (``f0 ~ 1``), for the likelihood-ratio test.
    method : str
        What was fitted and how (``mixedlm ML, random intercept and slope by
        base``; ``… random intercept and uncorrelated slope by base (slope
        correlation dropped: …)``; ``… random intercept by base (random slope
        dropped)``; ``ols (one base latent)``; ``ols (the mixed models did not
        converge)``; ``not fitted (…)``); boundary fits end in ``, singular``.
    result : Estimate, statsmodels OLS results or None
        The reported fit (REML when asked, else ML); None when nothing could be fitted.
    ml_result, null_result : Estimate or statsmodels OLS results
        ML fits of the full model and of the model without the value terms
        (the likelihood-ratio test, AIC and BIC use these).
    n_obs, n_groups : int
        Complete rows and base latents.
    warnings : list of str
        Every warning the engine gave, why a structure was left, and boundary notes.
    label : str
        Interval label(s) the frame was restricted to ("" when none).
    engine : str
        ``statsmodels`` or ``lme4``.
    structure : str or None
        ``slope``, ``uncorrelated``, ``intercept``; None for OLS.
    df : pandas.Series
        Small-sample df of each term (:func:`between_within_df`, or Satterthwaite for lme4).
    df_method : str
    seconds : float
        Wall time of the fit chain.
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
    label: str = ""
    engine: str = "statsmodels"
    structure: str | None = None
    df: object = None
    df_method: str = "between-within"
    seconds: float = math.nan

    @property
    def fitted(self) -> bool:
        """False when no model could be fitted at all (see ``method`` and ``warnings``)."""
        return self.result is not None

    @property
    def name(self) -> str:
        """``outcome/label`` (see :func:`model_name`)."""
        return model_name(self.outcome, self.label)

    def lrt(self) -> dict:
        """Likelihood-ratio test of the value effect (see :func:`lrt`); NaN when not fitted."""
        if not self.fitted:
            return {"stat": math.nan, "df": 0, "p": math.nan, "llf_full": math.nan, "llf_null": math.nan}
        return lrt(self.ml_result, self.null_result)

    def summary(self) -> str:
        """A readable summary: model, fixed effects (raw units, t with small-sample df), variances, LRT."""
        re_text = f" + {self.re_formula}" if self.re_formula else ""
        head = (f"== {self.name} · layer {self.layer} · {self.formula}{re_text} · {self.method} · "
                f"{self.engine} ==")
        if not self.fitted:
            return head + "\n" + ("warnings: " + "; ".join(self.warnings) + "\n" if self.warnings else "")
        coef = self.coefficients()
        lines = [head, f"n = {self.n_obs} rows, {self.n_groups} bases",
                 coef[["term", "estimate", "se", "df", "t", "p", "ci_low", "ci_high"]].to_string(
                     index=False, float_format=lambda x: f"{x:.6g}")]
        sd = getattr(self.ml_result, "re_sd", None)
        if sd:
            lines.append("random effects (sd, raw units): " + ", ".join(
                f"{k} {v:.6g}" for k, v in sd.items() if np.isfinite(v)))
        test = self.lrt()
        lines.append(f"LRT value effect ({self.formula} vs {self.null_formula}): chi2({test['df']}) = "
                     f"{test['stat']:.4g}, p = {test['p']:.4g}; llf {test['llf_full']:.6g}, "
                     f"AIC {self.ml_result.aic:.6g}, BIC {self.ml_result.bic:.6g}")
        optimiser = getattr(self.ml_result, "optimizer", None)
        if optimiser:
            lines.append(f"maximum found by: {optimiser} (model without value: "
                         f"{getattr(self.null_result, 'optimizer', '')})")
        if self.warnings:
            lines.append("warnings: " + "; ".join(self.warnings))
        return "\n".join(lines) + "\n"

    def coefficients(self) -> pd.DataFrame:
        """The fixed effects as a tidy table (one row per term), per raw unit, t-based intervals."""
        res = self.result
        sd = getattr(self.ml_result, "re_sd", None) or {}
        common = {"outcome": self.outcome, "label": self.label, "layer": self.layer, "formula": self.formula,
                  "re_formula": self.re_formula or "", "n_obs": self.n_obs, "n_groups": self.n_groups,
                  "sd_base": sd.get("base", math.nan), "sd_value": sd.get("value", math.nan),
                  "corr_base_value": sd.get("corr", math.nan), "sd_resid": sd.get("resid", math.nan),
                  "singular": bool(getattr(self.ml_result, "singular", False)), "engine": self.engine,
                  "df_method": self.df_method, "method": self.method,
                  "warnings": "; ".join(self.warnings)}
        if res is None:
            nan = [math.nan]
            return pd.DataFrame({**common, "term": ["value"], "estimate": nan, "se": nan, "df": nan, "t": nan,
                                 "p": nan, "ci_low": nan, "ci_high": nan, "llf": nan, "aic": nan,
                                 "bic": nan})[MIXED_COLUMNS]
        from .distributions import t_ppf, t_sf

        with np.errstate(invalid="ignore", divide="ignore"):
            if isinstance(res, Estimate) or hasattr(res, "cov_fe"):
                params, bse = res.fe_params, res.bse_fe
            else:  # OLS
                params, bse = res.params, res.bse
            terms = list(params.index)
            df = (self.df.reindex(terms).to_numpy(float) if self.df is not None
                  else np.full(len(terms), float(getattr(res, "df_resid", math.nan))))
            est, se = np.asarray(params, float), np.asarray(bse, float)
            t = est / se
            p = 2.0 * t_sf(np.abs(t), df)
            half = t_ppf(0.975, df) * se
        ml = self.ml_result
        return pd.DataFrame({**common, "term": terms, "estimate": est, "se": se, "df": df, "t": t, "p": p,
                             "ci_low": est - half, "ci_high": est + half, "llf": float(ml.llf),
                             "aic": float(ml.aic), "bic": float(ml.bic)})[MIXED_COLUMNS]


MIXED_COLUMNS = ["outcome", "label", "layer", "formula", "re_formula", "term", "estimate", "se", "df", "t", "p",
                 "ci_low", "ci_high", "llf", "aic", "bic", "n_obs", "n_groups", "sd_base", "sd_value",
                 "corr_base_value", "sd_resid", "singular", "engine", "df_method", "method", "warnings"]
LRT_COLUMNS = ["outcome", "label", "layer", "stat", "df", "p", "llf_full", "llf_null", "n_groups", "engine",
               "method"]
