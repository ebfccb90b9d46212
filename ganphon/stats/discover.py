"""Latent discovery (GAP): rank latent variables by how they predict a property of the outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import GanphonError
from .adjust import holm
from .mixed import _capture, _first_line
from .tables import _LATENT_NAME, read_latents

def frication_property(dir_or_textgrids, tier: str = "auto", label: str = "fric") -> pd.DataFrame:
    """Whether each output has a ``fric`` interval in its ``auto`` tier, and how long they last.

    Parameters
    ----------
    dir_or_textgrids : path-like or sequence of path-like
        An exported folder (each sample's ``ID.TextGrid``), an annotated store
        (its ``auto`` intervals), or TextGrid paths (the sample id is the file stem).
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
    from ..annotate import find_samples
    from ..io import read_textgrid
    from ..store import auto_intervals, is_store

    if isinstance(dir_or_textgrids, (str, Path)) and Path(dir_or_textgrids).is_dir() and is_store(dir_or_textgrids):
        if tier != "auto":
            raise GanphonError(f"{dir_or_textgrids}: a store carries only the 'auto' tier, not {tier!r}")
        return _property_rows(auto_intervals(dir_or_textgrids), label)
    if isinstance(dir_or_textgrids, (str, Path)) and Path(dir_or_textgrids).is_dir():
        _, samples = find_samples(dir_or_textgrids)
        grids = [(sid, Path(grid)) for sid, _, grid in samples]
    elif isinstance(dir_or_textgrids, (str, Path)):
        raise GanphonError(f"{dir_or_textgrids}: not a folder")
    else:
        grids = [(Path(p).stem, Path(p)) for p in dir_or_textgrids]
    if not grids:
        raise GanphonError("no TextGrids given")
    intervals = []
    for sid, path in grids:
        if not path.is_file():
            raise GanphonError(f"{path}: no such TextGrid")
        grid = read_textgrid(path)
        if not grid.has_tier(tier):
            raise GanphonError(f"{path}: no tier '{tier}' (run 'ganphon annotate' on the folder first)")
        intervals.append((sid, [(iv.start_time, iv.end_time, iv.text) for iv in grid.get_tier_by_name(tier).intervals]))
    return _property_rows(intervals, label)


def _property_rows(intervals, label: str) -> pd.DataFrame:
    rows = []
    for sid, found in intervals:
        found = [(s, e) for s, e, text in found if str(text).strip() == label]
        total = float(sum(e - s for s, e in found))
        rows.append({"sample_id": sid, f"has_{label}": int(bool(found)), f"{label}_duration": total,
                     f"n_{label}": len(found)})
    return pd.DataFrame(rows)


def discover(latents, prop, kind: str = "logistic", column: str | None = None,
             l1_alpha: float | None = None, method: str = "joint") -> pd.DataFrame:
    """Rank latent variables by how strongly they predict a property of the outputs (GAP).

    ``method="joint"``: the property is regressed on all latent dimensions at once, standardised
    (Logit for a 0/1 property, OLS for a continuous one).  When the logistic
    MLE does not exist (perfect or quasi-perfect separation, or more
    variables than samples) an L1-regularised fit is used instead and recorded
    in the ``method`` column; its se, z and p are then NaN and the ranking is
    by |coef|.

    ``method="each"``: one regression per variable (the latents are drawn
    independently, so each one's own test is valid), ranked by its p —
    the likelihood-ratio test for Logit (defined under separation too),
    the t-test for OLS — with ``p_holm``, Holm's adjustment over all the
    variables tested (:func:`discover_each`).

    Parameters
    ----------
    latents : pandas.DataFrame or path-like
        ``latents.csv`` (sample_id, c1…, z1…) or its folder.
    prop : pandas.Series or pandas.DataFrame
        The property: a Series indexed by sample_id, or a table with a
        ``sample_id`` column (e.g. from :func:`frication_property`).
    kind : {"logistic", "linear"}
    method : {"joint", "each"}
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
        ``z`` is the Wald z (Logit) or t (OLS); ``method="each"`` adds ``p_holm``.
        An L1 fit has no se, z or p: those columns are left out rather than empty.
    """
    if kind not in ("logistic", "linear"):
        raise GanphonError(f"kind must be 'logistic' or 'linear', got {kind!r}")
    if method not in ("joint", "each"):
        raise GanphonError(f"method must be 'joint' or 'each', got {method!r}")
    design = _design(latents, prop, kind, column)
    column, target, used = design.column, design.target, design.used
    if method == "each":
        out = discover_each(design.Xs, target, kind)
        out.attrs.update(property=column, kind=kind, method=out["method"].iloc[0], constant=design.constant,
                         warnings=out.attrs.get("warnings", []))
        return out
    fit = _joint_fit(design, kind, l1_alpha)
    ranks = np.empty(len(used), int)
    ranks[np.argsort(fit.order_key, kind="stable")] = np.arange(1, len(used) + 1)
    out = pd.DataFrame({"var": used, "coef": fit.coef, "se": fit.se, "z": fit.z, "p": fit.p, "rank": ranks,
                        "method": fit.method, "n": len(target)})
    if fit.penalised:  # a penalised fit has no standard errors: no columns that are always empty
        out = out.drop(columns=["se", "z", "p"])
    out = out.sort_values("rank", kind="stable").reset_index(drop=True)
    out.attrs.update(property=column, kind=kind, method=fit.method, constant=design.constant,
                     warnings=fit.messages)
    return out


@dataclass
class Design:
    """The rows :func:`discover` regresses: the property ``column`` (``target``), the latent variables
    that vary (``used``), standardised (``Xs``), and those left out as constant."""

    column: str
    target: np.ndarray
    Xs: pd.DataFrame
    used: list
    constant: list


def _design(latents, prop, kind: str, column: str | None) -> Design:
    """Latents joined with the property on sample_id, checked; the variables standardised."""
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
    if kind == "logistic":
        if not set(np.unique(target)) <= {0.0, 1.0}:
            raise GanphonError(f"'{column}' is not 0/1; use kind='linear' for a continuous property")
        if np.unique(target).size < 2:
            raise GanphonError(f"all {len(target)} samples have {column} = {int(target[0])}; "
                               "nothing to discover (draw more samples)")
    return Design(column, target, Xs, used, constant)


@dataclass
class JointFit:
    """The joint regression of :func:`discover`: coefficients (se, z, p NaN when ``penalised``), the key
    ranking them (ascending), the ``method`` text and the fit's messages."""

    method: str
    coef: np.ndarray
    se: np.ndarray
    z: np.ndarray
    p: np.ndarray
    order_key: np.ndarray
    messages: list
    penalised: bool


def _joint_fit(design: Design, kind: str, l1_alpha: float | None) -> JointFit:
    """The MLE (Logit or OLS) on every variable at once, or the L1 fit where it does not exist."""
    import statsmodels.api as sm

    target, used = design.target, design.used
    exog = sm.add_constant(design.Xs.to_numpy(), has_constant="add")
    model = sm.Logit(target, exog) if kind == "logistic" else sm.OLS(target, exog)
    kind_name = "logit" if kind == "logistic" else "ols"
    if l1_alpha is None:
        l1_alpha = 1.0 if kind == "logistic" else 0.05
    result, messages, reason = None, [], None
    if exog.shape[1] >= len(target):
        reason = f"{len(used)} variables for {len(target)} samples"
    else:
        result, messages, reason = _mle(model, kind)
    if reason is None:
        coef, se = np.asarray(result.params[1:], float), np.asarray(result.bse[1:], float)
        z = coef / se
        return JointFit(kind_name, coef, se, z, np.asarray(result.pvalues[1:], float), -np.abs(z), messages, False)
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
    nan = np.full(len(used), np.nan)
    return JointFit(method, coef, nan, nan, nan, -np.abs(coef), messages, True)


def _mle(model, kind: str) -> tuple:
    """The maximum-likelihood fit; (result, messages, why it cannot be used or None)."""
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    def fit():
        try:
            return model.fit(disp=0, maxiter=200) if kind == "logistic" else model.fit()
        except PerfectSeparationError as exc:  # raised rather than warned by some versions
            raise ValueError(f"PerfectSeparation: {exc}") from None

    result, messages, error = _capture(fit)
    separated = any("PerfectSeparation" in m for m in messages) or "PerfectSeparation" in str(error or "")
    converged = result is not None and (kind == "linear" or result.mle_retvals.get("converged", False))
    reason = None
    if separated:
        reason = "perfect separation"
    elif error is not None or result is None:
        reason = f"{type(error).__name__}: {_first_line(error)}"
    elif not converged or not np.all(np.isfinite(result.bse)):
        reason = "the maximum-likelihood fit did not converge"
    elif kind == "logistic" and np.max(np.abs(result.params[1:])) > 20:
        # standardised coefficients this large mean the MLE is running off to infinity
        reason = "quasi-complete separation"
    return result, messages, reason


def discover_each(Xs: pd.DataFrame, target, kind: str = "logistic") -> pd.DataFrame:
    """One regression of the property on each standardised latent variable, Holm-adjusted.

    Logit (``kind="logistic"``): the coefficient is the log-odds change per
    SD of the variable with its Wald se and z; ``p`` is the likelihood-ratio
    test against the intercept-only model (chi² with 1 df), which stays
    defined when the variable separates the outcomes (then coef, se and z are
    NaN and ``method`` says so).  OLS: the slope per SD in the property's
    units with its t-test.  Ranked by p, ties by |z|; ``p_holm`` adjusts p
    for the number of variables tested.
    """
    import statsmodels.api as sm

    from .distributions import chi2_sf

    target = np.asarray(target, float)
    n = len(target)
    rows, warnings = [], []
    if kind == "logistic":
        share = target.mean()
        llf_null = float(n * (share * np.log(share) + (1 - share) * np.log(1 - share)))
    for name in Xs.columns:
        exog = sm.add_constant(Xs[name].to_numpy(float), has_constant="add")
        row = {"var": name, "coef": np.nan, "se": np.nan, "z": np.nan, "p": np.nan,
               "method": "logit, one variable at a time" if kind == "logistic" else "ols, one variable at a time"}
        if kind == "linear":
            fit = sm.OLS(target, exog).fit()
            row.update(coef=float(fit.params[1]), se=float(fit.bse[1]), z=float(fit.tvalues[1]),
                       p=float(fit.pvalues[1]))
        else:
            fit, messages, error = _capture(lambda exog=exog: sm.Logit(target, exog).fit(disp=0, maxiter=100))
            separated = (error is not None or fit is None or any("Separation" in m for m in messages)
                         or not fit.mle_retvals.get("converged", False) or abs(fit.params[1]) > 20)
            if separated:
                # the maximum is at infinity: the log-likelihood reaches 0, the LR statistic -2 llf_null
                row.update(p=float(chi2_sf(-2.0 * llf_null, 1)),
                           method="logit, one variable at a time (separates the outcomes: no finite coefficient)")
                warnings.append(f"{name}: {_first_line(error) if error is not None else 'separation'}")
            else:
                row.update(coef=float(fit.params[1]), se=float(fit.bse[1]), z=float(fit.tvalues[1]),
                           p=float(chi2_sf(max(0.0, 2.0 * (fit.llf - llf_null)), 1)))
        rows.append(row)
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"])
    key = pd.DataFrame({"p": out["p"].fillna(np.inf), "z": -out["z"].abs().fillna(np.inf)})
    order = np.lexsort((key["z"].to_numpy(), key["p"].to_numpy()))
    ranks = np.empty(len(out), int)
    ranks[order] = np.arange(1, len(out) + 1)
    out["rank"] = ranks
    out["n"] = n
    out = out[["var", "coef", "se", "z", "p", "p_holm", "rank", "method", "n"]]
    out = out.sort_values("rank", kind="stable").reset_index(drop=True)
    out.attrs["warnings"] = warnings
    return out
