"""The t, chi-squared and normal distributions the statistics report, from :mod:`scipy.special`.

``scipy.stats`` computes ``t.sf``, ``t.ppf``, ``chi2.sf`` and ``norm.ppf`` with
exactly these :mod:`scipy.special` functions, behind argument checks; importing it
takes most of a second, which ``ganphon stats`` would pay in its main process for
four functions.  The same numbers, the same NaN outside each distribution's
parameters (tests/test_stats.py compares them with ``scipy.stats`` on a grid).
"""

from __future__ import annotations

import numpy as np
from scipy import special


def _result(out):
    return out[()] if isinstance(out, np.ndarray) and out.ndim == 0 else out


def t_sf(x, df):
    """``scipy.stats.t.sf(x, df)``: P(T > x) for Student's t with ``df`` degrees of freedom."""
    x, df = np.broadcast_arrays(np.asarray(x, float), np.asarray(df, float))
    with np.errstate(invalid="ignore"):
        return _result(np.where(df > 0, special.stdtr(df, -x), np.nan))


def t_ppf(q, df):
    """``scipy.stats.t.ppf(q, df)``: the ``q`` quantile of Student's t with ``df`` degrees of freedom."""
    q, df = np.broadcast_arrays(np.asarray(q, float), np.asarray(df, float))
    with np.errstate(invalid="ignore"):
        out = np.where(q == 0, -np.inf, np.where(q == 1, np.inf, special.stdtrit(df, q)))
        return _result(np.where((df > 0) & (q >= 0) & (q <= 1), out, np.nan))


def chi2_sf(x, df):
    """``scipy.stats.chi2.sf(x, df)``: P(X > x) for chi-squared with ``df`` degrees of freedom."""
    x, df = np.broadcast_arrays(np.asarray(x, float), np.asarray(df, float))
    with np.errstate(invalid="ignore"):
        inside = special.chdtrc(df, np.where(np.isposinf(x), 0.0, x))
        out = np.where(x < 0, 1.0, np.where(np.isposinf(x), 0.0, inside))
        return _result(np.where(df > 0, np.where(np.isnan(x), np.nan, out), np.nan))


def norm_ppf(q):
    """``scipy.stats.norm.ppf(q)``: the ``q`` quantile of the standard normal distribution."""
    return _result(special.ndtri(np.asarray(q, float)))
