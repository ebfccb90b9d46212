"""Latent discovery one variable at a time (Holm-adjusted), against numpy and scipy."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from ganphon import stats


def _latents(n, dim, seed):
    rng = np.random.default_rng(seed)
    lat = pd.DataFrame(rng.uniform(-1, 1, (n, dim)), columns=[f"z{i}" for i in range(1, dim + 1)])
    lat.insert(0, "sample_id", [f"s{i:04d}" for i in range(n)])
    return lat, rng


def _logit_lr_p(x, y):
    """Likelihood-ratio p of a one-variable logit fitted by Newton's method (numpy only)."""
    x = (x - x.mean()) / x.std()
    X = np.column_stack([np.ones_like(x), x])
    share = y.mean()
    null = len(y) * (share * np.log(share) + (1 - share) * np.log(1 - share))
    beta = np.array([np.log(share / (1 - share)), 0.0])
    for _ in range(100):
        prob = 1 / (1 + np.exp(-(X @ beta)))
        step = np.linalg.solve(X.T @ (X * (prob * (1 - prob))[:, None]), X.T @ (y - prob))
        beta += step
        if np.abs(step).max() < 1e-12:
            break
    eta = X @ beta
    return sps.chi2.sf(2 * (np.sum(y * eta - np.logaddexp(0, eta)) - null), 1), beta[1]


def _holm(p: dict) -> dict:
    order = sorted(p, key=p.get)
    out, running = {}, 0.0
    for k, name in enumerate(order):
        running = max(running, min(1.0, (len(order) - k) * p[name]))
        out[name] = running
    return out


def test_each_variable_logit_finds_the_planted_variable_and_holm_keeps_the_others_out():
    lat, rng = _latents(300, 40, seed=4)
    y = (rng.random(300) < 1 / (1 + np.exp(-3.0 * lat["z7"]))).astype(int)
    prop = pd.DataFrame({"sample_id": lat["sample_id"], "has_fric": y})
    ranked = stats.discover(lat, prop, kind="logistic", method="each")
    assert list(ranked.columns) == ["var", "coef", "se", "z", "p", "p_holm", "rank", "method", "n"]
    assert ranked.notna().all().all()  # no empty cells
    assert ranked["method"].eq("logit, one variable at a time").all() and ranked["rank"].tolist() == list(range(1, 41))
    # the p and coefficients of numpy's own fits, Holm's adjustment by hand
    expected = {z: _logit_lr_p(lat[z].to_numpy(float), y.astype(float)) for z in lat.columns[1:]}
    p = {z: v[0] for z, v in expected.items()}
    holm = _holm(p)
    by_var = ranked.set_index("var")
    for z in p:
        assert by_var.loc[z, "p"] == pytest.approx(p[z], rel=1e-5, abs=1e-300)
        assert by_var.loc[z, "p_holm"] == pytest.approx(holm[z], rel=1e-5, abs=1e-300)
        assert by_var.loc[z, "coef"] == pytest.approx(expected[z][1], rel=1e-5, abs=1e-8)
    assert ranked["var"].iloc[0] == "z7" and ranked["p_holm"].iloc[0] < 1e-10
    assert (ranked["p_holm"].iloc[1:] >= 0.05).all()  # none of the 39 null variables survives


def test_each_variable_logit_under_separation_keeps_a_finite_likelihood_ratio_p():
    lat, _ = _latents(60, 10, seed=5)
    y = (lat["z3"] > 0.1).astype(int)
    ranked = stats.discover(lat, pd.DataFrame({"sample_id": lat["sample_id"], "has_fric": y}), method="each")
    top = ranked.iloc[0]
    assert top["var"] == "z3" and "separates the outcomes" in top["method"] and np.isnan(top["coef"])
    share = y.mean()
    # the separated fit reaches log-likelihood 0: the statistic is -2 × the intercept-only log-likelihood
    assert top["p"] == pytest.approx(sps.chi2.sf(-2 * 60 * (share * np.log(share) + (1 - share) * np.log(1 - share)),
                                                 1), rel=1e-9)


def test_each_variable_ols_is_scipys_linear_regression():
    lat, rng = _latents(80, 12, seed=6)
    duration = 0.1 + 0.03 * lat["z5"] + rng.normal(0, 0.01, 80)
    ranked = stats.discover(lat, pd.DataFrame({"sample_id": lat["sample_id"], "fric_duration": duration}),
                            kind="linear", method="each").set_index("var")
    p = {}
    for z in lat.columns[1:]:
        x = lat[z].to_numpy(float)
        fit = sps.linregress((x - x.mean()) / x.std(), duration)
        p[z] = fit.pvalue
        assert ranked.loc[z, "coef"] == pytest.approx(fit.slope, rel=1e-9)
        assert ranked.loc[z, "p"] == pytest.approx(fit.pvalue, rel=1e-6)
    holm = _holm(p)
    for z in p:
        assert ranked.loc[z, "p_holm"] == pytest.approx(holm[z], rel=1e-6)
    assert ranked["rank"].idxmin() == "z5"


def test_discovery_method_is_checked():
    from ganphon.errors import GanphonError

    lat, _ = _latents(20, 3, seed=1)
    with pytest.raises(GanphonError, match="method must be 'joint' or 'each'"):
        stats.discover(lat, pd.DataFrame({"sample_id": lat["sample_id"], "has_fric": [0, 1] * 10}), method="lasso")
