"""Holm and Benjamini–Hochberg adjustments against statsmodels' multipletests (an independent implementation)."""

import numpy as np
from statsmodels.stats.multitest import multipletests

from ganphon.stats.adjust import benjamini_hochberg, holm


def test_adjustments_equal_statsmodels_and_leave_nan_out():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.random(rng.integers(1, 30)) ** 3
        np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)
        np.testing.assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1], rtol=1e-12)
    p = np.array([0.01, np.nan, 0.04, 0.03])  # NaN is not counted: m = 3
    np.testing.assert_allclose(holm(p), [0.03, np.nan, 0.06, 0.06])
    np.testing.assert_allclose(benjamini_hochberg(p), [0.03, np.nan, 0.04, 0.04])
