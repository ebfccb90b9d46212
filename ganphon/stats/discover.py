"""Latent discovery (GAP): rank latent variables by how they predict a property of the outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import GanphonError
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

