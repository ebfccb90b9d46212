"""Logistic mixed models of a 0/1 outcome (Laplace) against real glmer (Rscript), and their ground truth."""

import numpy as np
import pandas as pd
import pytest

from conftest import require_rscript
from ganphon import stats
from ganphon.errors import GanphonError
from ganphon.stats import lme4 as engine
from ganphon.stats.glmm import LaplaceGLMM

VALUES = np.arange(-15.0, 6.0, 2.0)


def binary_sweep(seed, n_bases=10, reps=5, slope=0.15, sd_base=1.0, sd_slope=0.1, layer="output"):
    """Outputs with an [s] (1) or not (0): logit P = 0.5 + u_b + (slope + s_b)·value, ``reps`` per value."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(n_bases):
        u, s = rng.normal(0, sd_base), rng.normal(0, sd_slope)
        for v in VALUES:
            for _ in range(reps):
                p = 1 / (1 + np.exp(-(0.5 + u + (slope + s) * v)))
                rows.append({"layer": layer, "label": "fric", "base": b, "value": v, "has_s": int(rng.random() < p)})
    return pd.DataFrame(rows)


def test_laplace_deviance_of_one_base_equals_the_integral():
    """With one random intercept the Laplace value is a closed-form approximation of a 1-d integral:
    at a large group (many rows) it approaches the integral, computed here by quadrature."""
    from scipy import integrate

    rng = np.random.default_rng(3)
    n = 400
    y = (rng.random(n) < 0.3).astype(float)
    X = np.ones((n, 1))
    model = LaplaceGLMM(X, y, X, np.zeros(n))
    theta, beta = 0.8, -0.7
    _, _, laplace = model.modes(np.array([theta]), np.array([beta]))
    k = y.sum()

    def integrand(u):
        eta = beta + theta * u
        return np.exp(k * eta - n * np.logaddexp(0, eta) - 0.5 * u * u - 0.5 * np.log(2 * np.pi) + 300.0)

    exact = np.log(integrate.quad(integrand, -10, 10, points=[0.0], limit=200)[0]) - 300.0
    assert laplace == pytest.approx(exact, abs=2e-3)
    # the mode satisfies the score equation Λᵀ Zᵀ(y − μ) = u
    u, eta, _ = model.modes(np.array([theta]), np.array([beta]))
    mu = 1 / (1 + np.exp(-eta))
    assert theta * np.sum(y - mu) == pytest.approx(u[0, 0], abs=1e-9)


def test_glmm_matches_glmer_on_planted_binary_sweeps(tmp_path):
    require_rscript()
    frames = [binary_sweep(seed, layer=f"s{seed}") for seed in range(3)]
    frames.append(binary_sweep(10, slope=0.0, layer="s10"))  # no effect planted
    tasks = [stats.mixed_tasks(f, "has_s", label="fric", family="binomial")[0] for f in frames]
    sm = stats.fit_tasks(tasks)
    r = engine.fit_tasks_lme4(tasks, tmp_path)
    parity = engine.parity_table(sm, r)
    assert [f.structure for f in sm] == [f.structure for f in r]
    assert parity["agree"].all()
    assert parity["rel_diff"].max() <= 1e-4
    # glmer's standard errors come from a finite-difference Hessian of its own Laplace deviance, which
    # away from the maximum lies up to ≈ 3e-6 above the exact one (its inner PIRLS stops a little short
    # of the modes): its SEs differ from the exact Laplace ones by up to ≈ 1.5e-3
    assert parity["se_rel_diff"].median() <= 1e-4 and parity["se_rel_diff"].max() <= 2e-3
    assert parity["llf_diff"].abs().max() <= 1e-5 and parity["llf_null_diff"].abs().max() <= 1e-5
    assert np.allclose(parity["lrt_p_sm"], parity["lrt_p_lme4"], rtol=1e-3)
    for fit in sm:
        assert fit.method.startswith("glmer-Laplace ML (logit)") and fit.df_method == "z (Laplace)"
    # the planted slope (0.15 on the logit scale) is found where planted, within 3 standard errors
    # (the coverage of its 95 % interval over 100 sweeps: benchmarks/coverage_glmm.py)
    coef = stats.coefficient_table(sm).set_index(["layer", "term"])
    for layer in ("s0", "s1", "s2"):
        row = coef.loc[(layer, "value")]
        assert abs(row["estimate"] - 0.15) < 3 * row["se"] and row["p"] < 0.05


def test_binomial_needs_a_zero_one_outcome():
    frame = binary_sweep(0).assign(has_s=lambda d: d["has_s"] * 2.0)
    with pytest.raises(GanphonError, match="has_s: a binomial .* needs a 0/1 outcome, got 2"):
        stats.fit_mixed(frame, "has_s", family="binomial")
    with pytest.raises(GanphonError, match="family must be one of gaussian, binomial"):
        stats.fit_mixed(frame, "has_s", family="poisson")
