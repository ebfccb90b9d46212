"""Logistic mixed models of a binary outcome by the Laplace approximation (glmer's ``nAGQ = 1``), own code.

``y_i ~ Bernoulli(μ_i)``, ``logit μ_i = x_iᵀβ + z_iᵀΛu_g``, ``u_g ~ N(0, I)``
per base ``g`` (``ΛΛᵀ`` = the covariance of the random effects).  For given
``(θ, β)`` (θ = Λ's lower triangle, column by column, as lme4's):

1. **Inner Newton** — the conditional modes ``u_g*`` maximise
   ``Σ_i [y_i η_i − log(1 + e^η_i)] − ½|u_g|²`` for every base at once
   (k ≤ 2 random effects: stacked k × k solves; step halving where a step
   does not increase a base's objective; stops at |step| < 1e-10).
2. **Laplace log-likelihood** — ``Σ_i log p(y_i | u*) − ½ Σ_g |u_g*|² −
   ½ Σ_g log|I + ΛᵀZ_gᵀW_gZ_gΛ|`` (``W = μ(1 − μ)`` at the modes): lme4's
   deviance ÷ −2 for ``nAGQ = 1``.
3. **Outer optimisation** over ``(θ, β)`` jointly (as glmer's second
   stage): L-BFGS-B from the logistic GLM's β and θ = 1, Nelder–Mead from
   the best, then Newton steps on a Richardson Hessian; the highest
   likelihood is kept; variances bounded at 0 (boundary fits kept and
   flagged, as glmer does).
4. **Fixed-effect covariance** as glmer's default ``vcov``: the β block of
   ``2 H⁻¹``, ``H`` the Hessian of the deviance in ``(θ, β)``.

The fit runs on ``value`` centred and scaled (``[1, value_s]`` in both X
and Z) and is mapped back to raw units (β and its covariance by the linear
map between the designs).  No variational or quasi-likelihood
approximation is used anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: A |gradient| of the deviance (scaled model) above this after every optimiser: no maximum found.
GRADIENT_TOL = 1e-3


def _log1pexp(eta):
    return np.logaddexp(0.0, eta)


class LaplaceGLMM:
    """A logistic mixed model of 0/1 outcomes with random effects by base; Laplace deviance.

    Parameters
    ----------
    X : (n, p) array
    y : (n,) array of 0/1
    Z : (n, k) array
    groups : (n,) array
    diagonal : bool
        Independent random effects (Λ diagonal, θ = its diagonal).
    """

    def __init__(self, X, y, Z, groups, diagonal: bool = False):
        order = np.argsort(np.asarray(groups), kind="stable")
        self.X = np.asarray(X, float)[order]
        self.y = np.asarray(y, float)[order]
        self.Z = np.asarray(Z, float)[order]
        g = np.asarray(groups)[order]
        _, self.index = np.unique(g, return_inverse=True)
        self.starts = np.flatnonzero(np.r_[True, self.index[1:] != self.index[:-1]])
        self.n, self.p = self.X.shape
        self.k = self.Z.shape[1]
        self.G = len(self.starts)
        self.diagonal = diagonal
        rows, cols = np.tril_indices(self.k)
        keep = np.lexsort((rows, cols))
        self._tril = (rows[keep], cols[keep])
        self.n_theta = self.k if diagonal else len(rows)
        self._u = np.zeros((self.G, self.k))
        self.zz = self.Z[:, :, None] * self.Z[:, None, :]

    def lam(self, theta):
        if self.diagonal:
            return np.diag(np.asarray(theta, float))
        lam = np.zeros((self.k, self.k))
        lam[self._tril] = theta
        return lam

    def theta_lower(self) -> np.ndarray:
        """Lower bounds of θ: 0 on Λ's diagonal, −∞ below it (lme4's)."""
        if self.diagonal:
            return np.zeros(self.k)
        rows, cols = self._tril
        return np.where(rows == cols, 0.0, -np.inf)

    def _sum(self, a):
        return np.add.reduceat(a, self.starts, axis=0)

    def modes(self, theta, beta, u=None):
        """(u*, η, Laplace log-likelihood) at (θ, β)."""
        lam = self.lam(theta)
        ZL = self.Z @ lam                                  # (n, k)
        offset = self.X @ beta
        u = (self._u if u is None else u).copy()

        def objective(u):
            eta = offset + np.einsum("ik,ik->i", ZL, u[self.index])
            per_row = self.y * eta - _log1pexp(eta)
            return self._sum(per_row) - 0.5 * np.einsum("gk,gk->g", u, u), eta

        obj, eta = objective(u)
        for _ in range(100):
            mu = 1.0 / (1.0 + np.exp(-eta))
            w = mu * (1.0 - mu)
            grad = self._sum(ZL * (self.y - mu)[:, None]) - u
            H = self._sum(w[:, None, None] * (ZL[:, :, None] * ZL[:, None, :])) + np.eye(self.k)
            step = np.linalg.solve(H, grad[:, :, None])[:, :, 0]
            scale = np.ones(self.G)
            for _ in range(30):
                new_u = u + scale[:, None] * step
                new_obj, new_eta = objective(new_u)
                worse = new_obj < obj - 1e-12
                if not worse.any():
                    break
                scale = np.where(worse, scale / 2, scale)
            u, obj, eta = new_u, new_obj, new_eta
            if np.max(np.abs(scale[:, None] * step)) < 1e-10:
                break
        mu = 1.0 / (1.0 + np.exp(-eta))
        w = mu * (1.0 - mu)
        M = self._sum(w[:, None, None] * (ZL[:, :, None] * ZL[:, None, :])) + np.eye(self.k)
        logdet = np.linalg.slogdet(M)[1]
        llf = float(np.sum(obj) - 0.5 * np.sum(logdet))
        return u, eta, llf

    def deviance(self, x) -> float:
        """−2 × the Laplace log-likelihood at ``x = (θ…, β…)``."""
        # ΛΛᵀ does not change when a column of Λ changes sign: θ below its bound is a valid point
        theta, beta = x[:self.n_theta], x[self.n_theta:]
        u, _, llf = self.modes(theta, beta)
        if np.all(np.isfinite(u)):
            self._u = u  # warm start of the next evaluation
        return -2.0 * llf if np.isfinite(llf) else math.inf


@dataclass
class LaplaceFit:
    """The maximum of a :class:`LaplaceGLMM`: (θ, β), the log-likelihood, β's covariance, how it was found."""

    theta: np.ndarray
    beta: np.ndarray
    llf: float
    cov_beta: np.ndarray
    gradient: float
    singular: bool
    optimizer: str
    messages: list


def _glm_start(X, y):
    """β of the logistic GLM (IRLS), the outer optimiser's start."""
    beta = np.zeros(X.shape[1])
    for _ in range(50):
        eta = X @ beta
        mu = 1 / (1 + np.exp(-eta))
        w = np.clip(mu * (1 - mu), 1e-10, None)
        step = np.linalg.lstsq(X.T @ (w[:, None] * X), X.T @ (y - mu), rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10 or np.max(np.abs(beta)) > 30:
            break
    return np.clip(beta, -30, 30)


def fit_laplace(model: LaplaceGLMM, start_theta=None) -> LaplaceFit:
    """Maximise the Laplace likelihood over (θ, β) (see the module docstring)."""
    from scipy.optimize import minimize

    from .satterthwaite import hessian

    nt = model.n_theta
    lower = model.theta_lower()
    theta0 = np.ones(nt) if model.diagonal else np.where(np.isfinite(lower), 1.0, 0.0)
    starts = [np.r_[theta0, _glm_start(model.X, model.y)]]
    if start_theta is not None:
        starts.append(np.r_[start_theta, starts[0][nt:]])
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower] + [(None, None)] * model.p
    f = model.deviance
    tried = []
    for x0 in starts:
        res = minimize(f, x0, method="L-BFGS-B", bounds=bounds, options={"maxiter": 2000, "ftol": 1e-14,
                                                                         "gtol": 1e-9})
        tried.append((float(res.fun), res.x, "L-BFGS-B"))
    best = min(tried, key=lambda t: t[0])
    res = minimize(f, best[1], method="Nelder-Mead", bounds=bounds,
                   options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "adaptive": True})
    tried.append((float(res.fun), res.x, "Nelder-Mead"))
    best = min(tried, key=lambda t: t[0])
    x, dev, how = best[1].copy(), best[0], best[2]
    newton = False
    # Newton steps on the free parameters (θ on its bound stays there)
    for _ in range(8):
        free = ~np.r_[np.isfinite(lower) & (x[:nt] <= lower + 1e-8), np.zeros(model.p, bool)]
        H = hessian(f, x, _steps(x))
        g = _gradient(f, x)
        try:
            step = np.zeros_like(x)
            step[free] = -np.linalg.solve(H[np.ix_(free, free)], g[free])
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-4:
            cand = x + t * step
            cand[:nt] = np.maximum(cand[:nt], np.where(np.isfinite(lower), lower, -np.inf))
            value = f(cand)
            if value < dev - 1e-13:
                x, dev, newton = cand, value, True
                break
            t /= 2
        else:
            break
        if np.max(np.abs(t * step)) < 1e-9:
            break
    how += " + Newton" if newton else ""
    theta, beta = x[:nt], x[nt:]
    singular = bool(np.any(np.isfinite(lower) & (theta <= lower + 1e-4)))
    H = hessian(f, x, _steps(x))
    g = _gradient(f, x)
    free = ~np.r_[np.isfinite(lower) & (theta <= lower + 1e-8), np.zeros(model.p, bool)]
    messages = []
    try:
        cov = 2 * np.linalg.inv(H)[nt:, nt:]
        if np.any(np.diag(cov) <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov = np.full((model.p, model.p), np.nan)
        messages.append("the Hessian of the Laplace deviance is not positive definite: no standard errors")
    f(x)  # leave the warm start at the maximum
    return LaplaceFit(theta, beta, -0.5 * dev, cov, float(np.max(np.abs(g[free]))) if free.any() else 0.0,
                      singular, how, messages)


def _steps(x):
    """First steps of the Richardson derivatives: 1e-2 × max(|x|, 0.1) — every parameter of the scaled
    model (θ, β on the logit scale per sd of value) is O(1), and a step relative to a β near 0 would
    divide rounding by ≈ 0."""
    return 1e-2 * np.maximum(np.abs(np.asarray(x, float)), 0.1)


def _gradient(f, x):
    from .satterthwaite import jacobian

    return jacobian(lambda v: np.array(f(v)), x, _steps(x))


# --------------------------------------------------------------------------
# The fit chain of a binary outcome (as the linear models': slope → uncorrelated → intercept → GLM)


def fit_binomial(formula: str, data, structure: str = "slope", start=None):
    """One logistic mixed model by Laplace, mapped back to raw units; an :class:`~.fits.Attempt`.

    ``structure`` as in :func:`ganphon.stats.mixed.fit_ml`; ``start``: an extra θ start (the null model's).
    """
    import pandas as pd
    import patsy

    from .fits import Attempt, Estimate, _scaled

    outcome, rhs = (x.strip() for x in formula.split("~", 1))
    std, (centre, sd_v), _ = _scaled(data.assign(**{"_y": data[outcome]}), "_y")
    try:
        X_std = patsy.dmatrix(rhs, std, return_type="dataframe")
        X_raw = patsy.dmatrix(rhs, data, return_type="dataframe")
    except patsy.PatsyError as exc:
        return Attempt(None, [], f"PatsyError: {exc}")
    v = std["value"].to_numpy(float)
    ones = np.ones(len(v))
    Z = ones[:, None] if structure == "intercept" else np.column_stack([ones, v])
    model = LaplaceGLMM(X_std.to_numpy(float), data[outcome].to_numpy(float), Z, data["base"].to_numpy(),
                        diagonal=structure != "slope")
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        try:
            fit = fit_laplace(model, start_theta=start)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            return Attempt(None, [], f"{type(exc).__name__}: {exc}")
    if not np.isfinite(fit.llf):
        return Attempt(None, fit.messages, "non-finite log-likelihood")
    names = list(X_std.columns)
    M = np.linalg.lstsq(X_raw.to_numpy(float), X_std.to_numpy(float), rcond=None)[0]
    fe = pd.Series(M @ fit.beta, index=names)
    cov = pd.DataFrame(M @ fit.cov_beta @ M.T, index=names, columns=names)
    lam = model.lam(fit.theta)
    psi = lam @ lam.T
    if structure == "slope":
        R = np.array([[1.0, -centre / sd_v], [0.0, 1.0 / sd_v]])
        raw = R @ psi @ R.T
        sds = np.sqrt(np.clip(np.diag(raw), 0, None))
        corr = raw[0, 1] / (sds[0] * sds[1]) if sds[0] > 0 and sds[1] > 0 else math.nan
        re_sd, k_re = {"base": float(sds[0]), "value": float(sds[1]), "corr": float(corr)}, 3
    elif structure == "uncorrelated":
        re_sd, k_re = {"base": math.sqrt(psi[0, 0]), "value": math.sqrt(psi[1, 1]) / sd_v, "corr": math.nan}, 2
    else:
        re_sd, k_re = {"base": math.sqrt(psi[0, 0]), "value": math.nan, "corr": math.nan}, 1
    re_sd["resid"] = math.nan
    notes = list(fit.messages)
    if fit.singular:
        notes.append("boundary (singular) fit (a random-effect variance ≈ 0 or the correlation ≈ ±1)")
    converged = fit.singular or fit.gradient <= GRADIENT_TOL
    est = Estimate(fe_params=fe, cov_fe=cov, llf=fit.llf, method="ML", structure=structure, re_sd=re_sd,
                   n_obs=len(data), k_params=len(names) + k_re, converged=bool(converged), singular=fit.singular,
                   gradient=fit.gradient, optimizer=f"Laplace, {fit.optimizer}", notes=notes, theta=fit.theta)
    failure = None
    if not converged:
        failure = f"no maximum found (|gradient| = {fit.gradient:.3g})"
    elif not np.all(np.isfinite(np.diag(cov.to_numpy()))):
        failure = "no standard errors (the Hessian of the Laplace deviance is not positive definite)"
    return Attempt(est, notes, failure)


def _glm_pair(formula, null_formula, data):
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    fits = []
    for f in (formula, null_formula):
        try:
            fits.append(smf.glm(f, data, family=sm.families.Binomial()).fit())
        except (np.linalg.LinAlgError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
    return fits, None


def one_binomial_model(data, outcome, layer, rhs, null_rhs, random_slope, label="", left_out=()):
    """The fit chain of a 0/1 outcome (see the module docstring); a :class:`~.fits.MixedFit`."""
    import time

    import pandas as pd

    from .fits import STRUCTURE_TEXT, STRUCTURES, MixedFit

    t0 = time.perf_counter()
    formula, null_formula = f"{outcome} ~ {rhs}", f"{outcome} ~ {null_rhs}"
    n_obs, n_groups = len(data), int(data["base"].nunique())
    notes = list(left_out)
    chain = STRUCTURES if random_slope else ("intercept",)

    def result(method, fits, warnings, **rest):
        full, null = fits if fits else (None, None)
        return MixedFit(outcome=outcome, layer=layer, formula=formula, null_formula=null_formula, method=method,
                        result=full, ml_result=full, null_result=null, n_obs=n_obs, n_groups=n_groups,
                        warnings=list(dict.fromkeys(warnings)), label=label, engine="statsmodels",
                        seconds=time.perf_counter() - t0, **rest)

    if n_groups >= 2:
        for structure in chain:
            first = fit_binomial(formula, data, structure)
            second = fit_binomial(null_formula, data, structure)
            full, null, f1, f2 = first.estimate, second.estimate, first.failure, second.failure
            m1 = first.messages
            if f1 is None and f2 is None and full.llf < null.llf - 1e-6:
                again = fit_binomial(formula, data, structure, start=null.theta)
                if again.estimate is not None and again.failure is None and again.estimate.llf > full.llf:
                    full, m1 = again.estimate, again.messages + ["refitted from the null model's variances"]
                if full.llf < null.llf - 1e-6:
                    f1 = "the full model's log-likelihood is below the null model's: not a maximum"
            messages = m1 + [f"model without value: {m}" for m in second.messages]
            failure = f1 or (f"model without value: {f2}" if f2 else None)
            if failure is None:
                text, re_formula = STRUCTURE_TEXT[structure]
                method = f"glmer-Laplace ML (logit), {text}"
                if structure != chain[0]:
                    method += " (random slope dropped)" if structure == "intercept" else " (correlated slope dropped)"
                if full.singular:
                    method += ", singular"
                df = pd.Series(math.inf, index=full.fe_params.index)
                return result(method, (full, null), notes + messages, re_formula=re_formula, structure=structure,
                              df=df, df_method="z (Laplace)")
            notes += [f"{structure} model: {m}" for m in messages]
            notes.append(f"{structure} model dropped: {failure}")
    fits, failure = _glm_pair(formula, null_formula, data)
    if failure is None:
        method = "logistic GLM (one base latent)" if n_groups < 2 else "logistic GLM (the mixed models dropped)"
        df = pd.Series(math.inf, index=fits[0].params.index)
        return result(method, fits, notes, re_formula=None, structure=None, df=df, df_method="z")
    return result(f"not fitted ({failure})", None, notes, re_formula=None, structure=None, df=None, df_method="")
