"""Multiple-comparison adjustments of p-values: one implementation for discovery and the atlas."""

from __future__ import annotations

import numpy as np


def _adjusted(p, step) -> np.ndarray:
    """``step(sorted finite p, m)`` → their adjusted values, put back in place (NaN stays NaN, not counted)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m:
        order = ok[np.argsort(p[ok], kind="stable")]
        out[order] = np.minimum(step(p[order], m), 1.0)
    return out


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted)."""
    return _adjusted(p, lambda s, m: np.maximum.accumulate((m - np.arange(m)) * s))


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values of the step-up procedure); NaN stays NaN."""
    return _adjusted(p, lambda s, m: np.minimum.accumulate((s * m / np.arange(1, m + 1))[::-1])[::-1])


def check_alpha(alpha) -> float:
    """A significance threshold strictly between 0 and 1 (else a ParameterError naming ``alpha``)."""
    from ..errors import ParameterError

    if not 0 < alpha < 1:
        raise ParameterError("alpha", f"must be between 0 and 1, got {alpha:g}")
    return float(alpha)
