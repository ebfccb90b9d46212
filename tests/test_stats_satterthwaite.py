"""Satterthwaite df and REML estimates of the statsmodels engine against real lmerTest (Rscript)."""

import numpy as np
import pandas as pd
import pytest

from conftest import require_rscript
from ganphon import stats
from ganphon.stats import lme4 as engine
from ganphon.stats.satterthwaite import GroupedLMM, hessian, lower_from_theta, theta_from_psi

VALUES = np.arange(-15.0, 6.0, 2.0)
FIXTURE = __import__("pathlib").Path(__file__).parent / "fixtures" / "stats" / "cog_conv2_fric.csv"


def simulated(seed, n_bases, sd_slope=0.3, keep=0.8, reps=2):
    """outcome = 120 + u_b + (0.5 + s_b)·value + noise; about ``keep`` of the rows kept (unbalanced)."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(n_bases):
        u, s = rng.normal(0, 3.0), rng.normal(0, sd_slope)
        for v in VALUES:
            for _ in range(reps):
                if rng.random() < keep:
                    rows.append({"layer": "conv3", "label": "voi", "base": b, "value": v,
                                 "f0": 120 + u + (0.5 + s) * v + rng.normal(0, 2.0)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """20 models (10 unbalanced simulated sweeps of 6–15 bases, ML and REML) fitted by both engines."""
    require_rscript()
    tasks = []
    for i in range(10):
        frame = simulated(1000 + i, n_bases=6 + i, keep=0.6 + 0.03 * i, reps=1 + i % 2).assign(layer=f"s{i}")
        for reml in (False, True):
            (task,) = stats.mixed_tasks(frame, "f0", label="voi", reml=reml)
            tasks.append(task)
    sm = stats.fit_tasks(tasks)
    r = engine.fit_tasks_lme4(tasks, tmp_path_factory.mktemp("frames"))
    return tasks, sm, r


def test_satterthwaite_df_match_lmertest_on_20_models(compared):
    tasks, sm, r = compared
    assert len(tasks) >= 20
    rel = []
    for a, b in zip(sm, r):
        assert a.df_method == b.df_method == "Satterthwaite"
        assert a.structure == b.structure
        if a.ml_result.singular or b.ml_result.singular:
            continue
        da, db = a.df.to_numpy(float), b.df.reindex(a.df.index).to_numpy(float)
        rel.append(np.max(np.abs(da - db) / db))
    assert len(rel) >= 20
    assert max(rel) <= 1e-3, max(rel)


def test_reml_estimates_and_ses_match_lmer(compared):
    tasks, sm, r = compared
    n = 0
    for task, a, b in zip(tasks, sm, r):
        if not task.reml:
            continue
        assert a.result.method == "REML"
        ca, cb = a.coefficients().set_index("term"), b.coefficients().set_index("term")
        assert np.allclose(ca["estimate"], cb.loc[ca.index, "estimate"], rtol=1e-6, atol=1e-6 * cb["se"].max())
        assert np.allclose(ca["se"], cb.loc[ca.index, "se"], rtol=1e-3)
        # the t interval uses the Satterthwaite df of the REML fit; the LRT stays ML
        assert ca["ci_high"].iloc[1] - ca["estimate"].iloc[1] == pytest.approx(
            __import__("scipy").stats.t.ppf(0.975, ca["df"].iloc[1]) * ca["se"].iloc[1], rel=1e-9)
        assert a.lrt()["llf_full"] == pytest.approx(b.lrt()["llf_full"], abs=1e-4)
        n += 1
    assert n == 10


def test_satterthwaite_df_on_the_demo_frame(tmp_path):
    """The demo's cog/fric/conv2 frame (a boundary fit) and an intercept-only fit of it."""
    require_rscript()
    frame = pd.read_csv(FIXTURE).assign(layer="conv2", label="fric")
    tasks = [stats.mixed_tasks(frame, "cog", label="fric", random_slope=slope)[0] for slope in (True, False)]
    sm = stats.fit_tasks(tasks)
    r = engine.fit_tasks_lme4(tasks, tmp_path)
    for a, b in zip(sm, r):
        assert a.structure == b.structure
        assert np.allclose(a.df.to_numpy(float), b.df.reindex(a.df.index).to_numpy(float), rtol=1e-3)


def test_deviance_of_sufficient_statistics_equals_the_dense_formula():
    """−2 log L written out with the full n × n covariance (no Woodbury, no per-base statistics)."""
    frame = simulated(5, n_bases=7)
    X = np.column_stack([np.ones(len(frame)), frame["value"]])
    Z = X.copy()
    y = frame["f0"].to_numpy()
    model = GroupedLMM(X, y, Z, frame["base"].to_numpy())
    lam_of = lower_from_theta(2, diagonal=False)
    theta, sigma = np.array([0.9, 0.05, 0.12]), 2.1
    lam = lam_of(theta)
    blocks = [Z[frame["base"].to_numpy() == g] for g in sorted(frame["base"].unique())]
    V = sigma ** 2 * (np.eye(len(y)) + __import__("scipy").linalg.block_diag(*[b @ lam @ lam.T @ b.T for b in blocks]))
    Vi = np.linalg.inv(V)
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    r = y - X @ beta
    dense = np.linalg.slogdet(2 * np.pi * V)[1] + r @ Vi @ r
    assert model.deviance(np.append(theta, sigma), lam_of) == pytest.approx(dense, rel=1e-12)
    reml = dense + np.linalg.slogdet(X.T @ Vi @ X / (2 * np.pi))[1]
    assert model.deviance(np.append(theta, sigma), lam_of, reml=True) == pytest.approx(reml, rel=1e-12)
    assert np.allclose(model.vcov(np.append(theta, sigma), lam_of), np.linalg.inv(X.T @ Vi @ X), rtol=1e-10)
    # θ ↔ Ψ, and the Richardson Hessian of a known function
    assert np.allclose(theta_from_psi(lam @ lam.T, diagonal=False), theta)
    H = hessian(lambda x: x[0] ** 3 * x[1] + np.exp(x[1]), np.array([1.5, 0.3]))
    assert np.allclose(H, [[6 * 1.5 * 0.3, 3 * 1.5 ** 2], [3 * 1.5 ** 2, np.exp(0.3)]], rtol=1e-8)


def _dense_profiled(X, y, blocks, lam, reml):
    """The profiled (RE)ML log-likelihood with the full n × n covariance (σ² profiled out by hand)."""
    W = np.eye(len(y)) + __import__("scipy").linalg.block_diag(*[b @ lam @ lam.T @ b.T for b in blocks])
    Wi = np.linalg.inv(W)
    A = X.T @ Wi @ X
    beta = np.linalg.solve(A, X.T @ Wi @ y)
    r = y - X @ beta
    dof = len(y) - X.shape[1] if reml else len(y)
    scale = r @ Wi @ r / dof
    llf = -0.5 * (dof * np.log(2 * np.pi * scale) + dof + np.linalg.slogdet(W)[1])
    return llf - 0.5 * np.linalg.slogdet(A)[1] if reml else llf


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize("diagonal", [False, True])
def test_the_exact_gradient_of_the_likelihood_equals_differences_of_the_dense_formula(reml, diagonal):
    """The optimisers' gradient in θ (per-base statistics) against central differences of the likelihood
    written out with the full covariance: every θ entry, a correlated and an uncorrelated Λ, ML and REML."""
    from ganphon.stats.satterthwaite import theta_entries

    frame = simulated(11, n_bases=6)
    X = np.column_stack([np.ones(len(frame)), frame["value"]])
    Z, y, groups = X.copy(), frame["f0"].to_numpy(), frame["base"].to_numpy()
    blocks = [Z[groups == g] for g in sorted(set(groups))]
    model = GroupedLMM(X, y, Z, groups)
    lam_of = lower_from_theta(2, diagonal)
    entries = theta_entries(2, diagonal)
    for theta in ([0.9, 0.05], [0.2, 1.3]) if diagonal else ([0.9, 0.05, 0.12], [0.3, -0.4, 0.02]):
        theta = np.asarray(theta)
        llf, grad = model.profiled_gradient(lam_of(theta), reml)
        assert llf == pytest.approx(_dense_profiled(X, y, blocks, lam_of(theta), reml), rel=1e-11)
        for i in range(len(theta)):
            step = np.zeros(len(theta))
            step[i] = 1e-5
            difference = (_dense_profiled(X, y, blocks, lam_of(theta + step), reml)
                          - _dense_profiled(X, y, blocks, lam_of(theta - step), reml)) / 2e-5
            assert grad[entries][i] == pytest.approx(difference, rel=1e-6, abs=1e-6)
