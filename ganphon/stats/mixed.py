"""Mixed models of an outcome on the sweep value (statsmodels engine), likelihood-ratio tests, GAMs.

How a model is fitted (the "fit chain", once per model):

1. The outcome and ``value`` are centred and scaled (``y_s = (y − ȳ)/sd(y)``,
   ``value_s = (value − mean)/sd``); the ML fit of the scaled model is the
   ML fit of the raw model mapped back exactly (fixed effects and their
   covariance by the linear map between the two design matrices, variances
   by ``sd(y)²``, the log-likelihood by ``− n·log sd(y)``), and it is far
   better conditioned.  Estimates are reported per raw unit.
2. Random structures are tried in order: intercept and slope by base
   (lme4 ``(value | base)``); intercept and *uncorrelated* slope
   (``(1 | base) + (0 + value_c | base)``, ``value_c`` = centred value,
   statsmodels variance components); intercept only (``(1 | base)``); OLS.
   A structure is left only when its fit fails (error, non-finite
   likelihood, or no maximum found); a boundary (singular) fit — a variance
   at 0 or a correlation at ±1 — is accepted with a note, as lme4 does.
3. Each fit maximises the profiled likelihood over lme4's variance
   parameters θ (own code: per-base sufficient statistics, vectorised over
   bases, :class:`~.satterthwaite.GroupedLMM`, and its exact gradient in θ)
   with L-BFGS-B from two starts
   (lme4's Λ = I, and 0.1·I) and, when they disagree or the gradient is not
   ≈ 0, Nelder–Mead and Powell from the best and L-BFGS-B again; the
   highest likelihood is kept.  A fit whose
   gradient is not ≈ 0 is not a maximum; the full model's likelihood must
   reach the null model's (it nests it) — if it does not, it is refitted
   from the null model's variances.  Nothing below the maximum is reported
   as converged.
4. Fixed-effect covariance as lme4 computes it:
   ``σ² (Σ_g X_gᵀ (I + Z_g Ψ Z_gᵀ)⁻¹ X_g)⁻¹`` at the estimates.
5. Inference for few groups: p-values of the value effect from the ML
   likelihood-ratio test (:func:`~.fits.lrt`); confidence intervals and the Wald p
   of each term from t with small-sample df: by default lmerTest's
   Satterthwaite df (:mod:`.satterthwaite`, on the reported ML or REML
   fit), or (``df="bases"``) a between–within df: terms constant within a
   base, and terms with a random slope by base, get ``bases − 1``; other
   terms varying within bases ``n − bases − (within terms)``.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import GanphonError, ParameterError, first_line
from .fits import (  # noqa: F401 (the shared fit types, importable from here)
    LRT_COLUMNS,
    MIXED_COLUMNS,
    STRUCTURE_TEXT,
    STRUCTURES,
    Attempt,
    Estimate,
    MixedFit,
    _scaled,
    lrt,
    model_name,
)
from .tables import _complete, sort_layers

# Warnings that say nothing about a fit; they are passed on, not recorded.
_NOT_ABOUT_THE_FIT = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)

#: Below this many bases the report warns that random-slope variances and t intervals are weak.
MIN_BASES = 20
#: Largest |gradient| (scaled model, packed parameters) accepted at a maximum.
GRADIENT_TOL = 2e-2
#: Log-likelihood difference above which two optimisers are said to disagree.
LLF_TOL = 1e-4
#: A relative variance (or Cholesky diagonal) below this is a boundary (singular) fit, as in lme4.
SINGULAR_TOL = 1e-4


_first_line = first_line  # the one first-line helper, in errors.py


def _capture(fit):
    """Run ``fit()`` recording its warnings; returns (result or None, messages, error or None)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, error = fit(), None
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError, OverflowError) as exc:
            result, error = None, exc
    messages = []
    for w in caught:
        if issubclass(w.category, _NOT_ABOUT_THE_FIT):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        text = f"{w.category.__name__}: {_first_line(w.message)}"
        if text not in messages:
            messages.append(text)
    return result, messages, error


# --------------------------------------------------------------------------
# One likelihood maximisation


class _Profile:
    """The profiled (RE)ML log-likelihood of a scaled model at a relative covariance Ψ (own code).

    For Ψ = cov(random effects) / σ² = ΛΛᵀ: ``W_g = I + Z_g Ψ Z_gᵀ``, β̂ by
    GLS, σ̂² = Σ r_gᵀ W_g⁻¹ r_g / n (ML; n − p for REML) and
    ``llf = −½ (n log 2πσ̂² + n + Σ log|W_g|)`` (REML: n − p and + log|Σ X_gᵀW_g⁻¹X_g|),
    from per-base sufficient statistics, vectorised over bases
    (:class:`~.satterthwaite.GroupedLMM`).  The optimisers maximise it over
    θ (lme4's parameters of Λ: its lower triangle for a correlated slope,
    else its diagonal); it evaluates every candidate maximum (each
    optimiser's, and points on the boundary) on one scale, and gives lme4's
    fixed-effect covariance ``σ̂² (Σ X_gᵀ W_g⁻¹ X_g)⁻¹``.
    """

    def __init__(self, std, formula, structure, reml):
        import patsy

        from .satterthwaite import GroupedLMM, lower_from_theta, theta_entries

        outcome, rhs = (x.strip() for x in formula.split("~", 1))
        X = np.asarray(patsy.dmatrix(rhs, std, return_type="dataframe"), float)
        v = std["value"].to_numpy(float)
        Z = np.ones((len(v), 1)) if structure == "intercept" else np.column_stack([np.ones(len(v)), v])
        self.model = GroupedLMM(X, std[outcome].to_numpy(float), Z, std["base"].to_numpy())
        self.reml, self.structure, self.k = reml, structure, Z.shape[1]
        self.n, self.p = X.shape
        diagonal = structure != "slope"
        self._lam = lower_from_theta(self.k, diagonal=diagonal)  # θ → Λ, made once per model
        self._theta_entries = theta_entries(self.k, diagonal)     # where each θ sits in Λ

    def __call__(self, psi):
        """(llf, β̂, σ̂², vcov(β̂)) at Ψ; llf is −inf where Ψ is not positive semi-definite."""
        from .satterthwaite import lower_from_theta, theta_from_psi

        psi = np.atleast_2d(np.asarray(psi, float))
        if not np.all(np.isfinite(psi)) or np.min(np.linalg.eigvalsh((psi + psi.T) / 2)) < -1e-10:
            return -math.inf, None, math.nan, None
        lam = lower_from_theta(self.k, diagonal=False)(theta_from_psi((psi + psi.T) / 2, diagonal=False))
        llf, beta, scale, A = self.model.profiled(lam, self.reml)
        if not np.isfinite(llf):
            return -math.inf, None, math.nan, None
        try:
            return llf, beta, scale, scale * np.linalg.inv(A)
        except np.linalg.LinAlgError:
            return -math.inf, None, math.nan, None

    def lam(self, theta):
        return self._lam(theta)

    def theta_of(self, psi):
        from .satterthwaite import theta_from_psi

        psi = np.atleast_2d(np.asarray(psi, float))[:self.k, :self.k]
        return theta_from_psi(psi, diagonal=self.structure != "slope")

    def bounds(self):
        if self.structure == "slope":
            return [(0.0, None), (None, None), (0.0, None)]
        return [(0.0, None)] * self.k

    def objective(self, theta) -> float:
        llf = self.model.profiled(self.lam(theta), self.reml)[0]
        return -llf if np.isfinite(llf) else 1e12

    def objective_and_gradient(self, theta) -> tuple:
        """:meth:`objective` and its exact gradient in θ (zero where the likelihood is undefined)."""
        llf, grad = self.model.profiled_gradient(self.lam(theta), self.reml)
        if not np.isfinite(llf):
            return 1e12, np.zeros(len(theta))
        return -llf, -grad[self._theta_entries]

    def gradient(self, theta) -> float:
        """Largest |∂ llf/∂θ| over the parameters not on their bound (central differences)."""
        theta = np.asarray(theta, float)
        out = 0.0
        for i, (lo, _) in enumerate(self.bounds()):
            if lo is not None and theta[i] <= lo + 1e-6:
                continue
            h = 1e-6 * max(1.0, abs(theta[i]))
            e = np.zeros(len(theta))
            e[i] = h
            out = max(out, abs(self.objective(theta + e) - self.objective(theta - e)) / (2 * h))
        return out


@dataclass
class Trial:
    """One optimiser run: the objective it reached (−log-likelihood), its θ and its name."""

    fun: float
    theta: np.ndarray
    name: str


@dataclass
class Maximum:
    """The θ kept by :func:`_maximise`, the optimiser that found it, its messages and |gradient|."""

    theta: np.ndarray
    optimiser: str
    messages: list
    gradient: float


def _maximise(profile: _Profile, start=None) -> Maximum:
    """Best of several optimisers/starts of θ (a :class:`Maximum`).

    L-BFGS-B from lme4's start (Λ = I), from a small one (0.1·I) and from
    ``start`` (a relative covariance Ψ, e.g. the null model's); when they
    disagree, or the best has no zero gradient, Nelder–Mead and Powell from
    the best and L-BFGS-B again; a best point with a variance at its bound
    (a stationary point of θ whatever the likelihood does off the bound) is
    restarted off the bound; and every fit is restarted from 3 × and ⅓ × the
    best θ (a second local maximum).  The highest likelihood is kept.
    """
    from scipy.optimize import minimize

    eye = np.array([1.0, 0.0, 1.0]) if profile.structure == "slope" else np.ones(profile.k)
    starts = [("L-BFGS-B", eye), ("L-BFGS-B (small start)", 0.1 * eye)]
    if start is not None:
        starts.insert(0, ("L-BFGS-B (from the null model)", profile.theta_of(start)))
    done = []
    lbfgs = {"ftol": 1e-13, "gtol": 1e-8, "maxiter": 1000}

    def run(x0, name, method="L-BFGS-B", options=None):
        exact = method == "L-BFGS-B"  # given the likelihood's gradient; the others use values only
        res = minimize(profile.objective_and_gradient if exact else profile.objective, x0, method=method,
                       bounds=profile.bounds(), jac=exact or None, options=options or lbfgs)
        done.append(Trial(float(res.fun), res.x, name))

    def lowest() -> Trial:
        return min(done, key=lambda trial: trial.fun)

    for name, x0 in starts:
        run(x0, name)
    funs = [trial.fun for trial in done]
    best = lowest()
    if max(funs) - min(funs) > LLF_TOL or profile.gradient(best.theta) > GRADIENT_TOL * 0.1:
        run(best.theta, "Nelder-Mead", "Nelder-Mead", {"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
        run(best.theta, "Powell", "Powell", {"xtol": 1e-10, "ftol": 1e-13, "maxiter": 20000})
        run(lowest().theta, "L-BFGS-B (restart)")
    # a variance at its bound is a stationary point whatever the likelihood does off it (the likelihood is
    # even in each diagonal entry of Λ): restart with those entries moved off the bound
    best = lowest()
    diagonal = [0, 2] if profile.structure == "slope" else list(range(profile.k))
    at_bound = [i for i in diagonal if best.theta[i] <= 1e-6]
    restarts = [(3.0 * best.theta, "L-BFGS-B (from 3 θ)"), (best.theta / 3.0, "L-BFGS-B (from θ/3)")]
    for lift in (0.1, 1.0) if at_bound else ():
        x0 = best.theta.copy()
        x0[at_bound] = lift * max(1.0, float(np.max(np.abs(best.theta))))
        restarts.append((x0, "L-BFGS-B (off the boundary)"))
    for x0, name in restarts:  # and another local maximum is looked for from 3 × and ⅓ × the best θ
        run(x0, name)
    top = lowest().fun
    chosen = min((trial for trial in done if trial.fun <= top + 1e-9), key=lambda trial: profile.gradient(trial.theta))
    messages = []
    funs = sorted({round(trial.fun, 4) for trial in done if trial.fun < 1e11})
    if len(funs) > 1 and funs[-1] - funs[0] > LLF_TOL:
        messages.append(f"optimisers reached different log-likelihoods ({-funs[-1]:.4f} … {-funs[0]:.4f} on the "
                        f"scaled outcome); the highest ({chosen.name}) kept")
    return Maximum(chosen.theta, chosen.name, messages, profile.gradient(chosen.theta))


def _boundary_candidates(psi, structure) -> list:
    """Points on the boundary near Ψ: a variance set to 0, or (correlated slope) Ψ of rank 1."""
    k = len(psi)
    out = [np.zeros((k, k))]
    if k == 2:
        out += [np.diag([psi[0, 0], 0.0]), np.diag([0.0, psi[1, 1]])]
        if structure == "slope":
            w, V = np.linalg.eigh((psi + psi.T) / 2)
            out.append(max(w[-1], 0.0) * np.outer(V[:, -1], V[:, -1]))
    return out


def _polish_boundary(profile, psi, structure):
    """Maximise over the boundary face Ψ lies on (rank-1 Ψ = λλᵀ, or one variance); (llf, Ψ)."""
    from scipy.optimize import minimize

    k = len(psi)
    if k == 1:
        return profile(psi)[0], psi
    if structure == "slope":
        w, V = np.linalg.eigh((psi + psi.T) / 2)
        lam0 = math.sqrt(max(w[-1], 0.0)) * V[:, -1]
        make = lambda lam: np.outer(lam, lam)  # noqa: E731
        x0 = lam0
    else:
        keep = int(np.argmax(np.diag(psi)))
        def make(x, keep=keep):
            m = np.zeros((2, 2))
            m[keep, keep] = x[0] ** 2
            return m
        x0 = np.array([math.sqrt(max(psi[keep, keep], 0.0))])
    res = minimize(lambda x: -profile(make(x))[0], x0, method="Nelder-Mead",
                   options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 2000})
    return -float(res.fun), make(res.x)


def _singular_psi(psi, structure) -> bool:
    if structure == "uncorrelated" or len(psi) == 1:
        return float(np.min(np.diag(psi))) < SINGULAR_TOL ** 2
    try:
        chol = np.linalg.cholesky(psi + 1e-300 * np.eye(len(psi)))
    except np.linalg.LinAlgError:
        return True
    return float(np.min(np.abs(np.diag(chol)))) < SINGULAR_TOL


def fit_ml(formula: str, data: pd.DataFrame, structure: str = "slope", reml: bool = False, start=None,
           satterthwaite: bool = False) -> Attempt:
    """Fit one linear mixed model by (RE)ML on the scaled data and map it back to raw units.

    Three named steps: :func:`_maximise` (θ by several optimisers),
    :func:`_best_on_boundary` (the boundary points near it on the same
    likelihood), :func:`_raw_estimate` (β, its covariance and the random-effect
    sds back in raw units).

    Parameters
    ----------
    formula : str
        ``outcome ~ rhs`` in the columns of ``data`` (``value`` and factors).
    data : pandas.DataFrame
        Complete rows with ``value``, ``base`` and the outcome.
    structure : {"slope", "uncorrelated", "intercept"}
        Random effects by base (see the module docstring).
    reml : bool
    start : numpy.ndarray, optional
        An extra start: a relative covariance Ψ (e.g. the null model's).
    satterthwaite : bool
        Also compute the Satterthwaite df of each fixed effect (``estimate.df``,
        see :mod:`.satterthwaite`; lmerTest's, in lme4's parameterisation).

    Returns
    -------
    Attempt
        The estimate, the messages, and why no maximum could be used (None when it can).
    """
    import patsy

    outcome = formula.split("~", 1)[0].strip()
    std, (centre, sd_v), (mean_y, sd_y) = _scaled(data, outcome)
    try:
        profile = _Profile(std, formula, structure, reml)
    except (np.linalg.LinAlgError, ValueError, patsy.PatsyError) as exc:
        return Attempt(None, [], f"{type(exc).__name__}: {_first_line(exc)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow of a trial point is its −inf likelihood
        found = _maximise(profile, start)
    messages = found.messages
    if not np.isfinite(profile.objective(found.theta)) or profile.objective(found.theta) >= 1e12:
        return Attempt(None, messages, "non-finite log-likelihood")
    best_psi, source, singular = _best_on_boundary(profile, found, structure, start, messages)
    # a maximum: zero gradient inside, or the best point of the boundary face it lies on
    gradient = found.gradient
    converged = bool(singular or (np.isfinite(gradient) and gradient <= GRADIENT_TOL))
    notes = []
    if singular:
        notes.append("boundary (singular) fit (a random-effect variance ≈ 0 or the correlation ≈ ±1)")
    est, M = _raw_estimate(profile, formula, data, std, best_psi, (centre, sd_v), (mean_y, sd_y),
                           converged=converged, singular=singular, gradient=gradient, optimizer=source,
                           notes=notes)
    if satterthwaite:
        est.df = pd.Series(satterthwaite_df(std, formula, structure, best_psi, reml, centre, sd_v,
                                            data["value"], M), index=est.fe_params.index)
    failure = None
    if not converged:
        failure = f"no maximum found (|gradient| = {gradient:.3g} after every optimiser)"
    elif not (np.all(np.isfinite(est.fe_params.to_numpy())) and np.all(np.isfinite(np.diag(est.cov_fe.to_numpy())))):
        failure = "non-finite estimates or standard errors"
    return Attempt(est, list(dict.fromkeys(messages + notes)), failure)


def _best_on_boundary(profile: _Profile, found: Maximum, structure: str, start, messages: list) -> tuple:
    """The highest of the optimisers' maximum and the boundary points near it (and ``start``), on one
    likelihood; (Ψ, where it came from, singular).  A note joins ``messages`` when the boundary wins
    by more than 1e-6."""
    lam = profile.lam(found.theta)
    psi = lam @ lam.T
    best_llf, best_psi, source = profile(psi)[0], psi, found.optimiser
    extra = [np.atleast_2d(start)] if start is not None and np.shape(start) == psi.shape else []
    for candidate in _boundary_candidates(psi, structure) + extra:
        llf = profile(candidate)[0]
        if llf > best_llf + 1e-9:
            best_llf, best_psi, source = llf, candidate, "boundary"
    singular = _singular_psi(best_psi, structure)
    if singular:
        llf, polished = _polish_boundary(profile, best_psi, structure)
        if llf > best_llf + 1e-9:
            best_llf, best_psi, source = llf, polished, "boundary"
    if source == "boundary" and best_llf > profile(psi)[0] + 1e-6:
        messages.append(f"the optimisers stopped {best_llf - profile(psi)[0]:.3g} log-likelihood units below "
                        "the boundary maximum; the boundary maximum is used")
    return best_psi, source, singular


def _raw_estimate(profile: _Profile, formula, data, std, psi, value_scale, outcome_scale, **fit) -> tuple:
    """The scaled model's maximum at Ψ = ``psi`` in raw units: an :class:`Estimate` (``fit``: its
    convergence fields) and M, the map from the scaled design's columns to the raw one's."""
    import patsy

    (centre, sd_v), (mean_y, sd_y) = value_scale, outcome_scale
    llf_std, beta, scale, cov_std = profile(psi)
    rhs = formula.split("~", 1)[1]
    X_raw = patsy.dmatrix(rhs, data, return_type="dataframe")
    X_std = patsy.dmatrix(rhs, std, return_type="dataframe")
    names = list(X_std.columns)
    M = np.linalg.lstsq(X_raw.to_numpy(float), X_std.to_numpy(float), rcond=None)[0]
    shift = np.zeros(len(names))
    if "Intercept" in names:
        shift[names.index("Intercept")] = mean_y
    fe = pd.Series(sd_y * M @ beta + shift, index=names)
    cov = pd.DataFrame(sd_y ** 2 * M @ cov_std @ M.T, index=names, columns=names)
    re_sd, k_re = _raw_random_sds(scale * psi, profile.structure, centre, sd_v, sd_y)
    re_sd["resid"] = sd_y * math.sqrt(scale)
    n = len(data)
    llf = llf_std - n * math.log(sd_y) if not profile.reml else math.nan
    est = Estimate(fe_params=fe, cov_fe=cov, llf=llf, method="REML" if profile.reml else "ML",
                   structure=profile.structure, re_sd=re_sd, n_obs=n, k_params=len(names) + k_re + 1, psi=psi,
                   **fit)
    return est, M


def _raw_random_sds(cov_re, structure, centre, sd_v, sd_y) -> tuple:
    """The random-effect sds (and slope correlation) of a scaled-model covariance in raw units; (re_sd,
    number of variance parameters)."""
    if structure == "slope":
        R = np.array([[1.0, -centre / sd_v], [0.0, 1.0 / sd_v]])
        raw = sd_y ** 2 * R @ cov_re @ R.T
        sds = np.sqrt(np.clip(np.diag(raw), 0, None))
        corr = raw[0, 1] / (sds[0] * sds[1]) if sds[0] > 0 and sds[1] > 0 else math.nan
        return {"base": float(sds[0]), "value": float(sds[1]), "corr": float(corr)}, 3
    if structure == "uncorrelated":
        return {"base": sd_y * math.sqrt(max(cov_re[0, 0], 0)), "value": sd_y / sd_v * math.sqrt(max(cov_re[1, 1], 0)),
                "corr": math.nan}, 2
    return {"base": sd_y * math.sqrt(max(cov_re[0, 0], 0)), "value": math.nan, "corr": math.nan}, 1


def lme4_design(std: pd.DataFrame, formula: str, structure: str, value):
    """The model in lme4's random-effects columns (``[1, value]``, ``[1] + [value_c]`` or ``[1]``, from
    the raw ``value``) as a :class:`~.satterthwaite.GroupedLMM` of the (scaled) frame ``std``."""
    import patsy

    from .satterthwaite import GroupedLMM

    outcome, rhs = (x.strip() for x in formula.split("~", 1))
    X = np.asarray(patsy.dmatrix(rhs, std, return_type="dataframe"), float)
    v = np.asarray(value, float)
    if structure == "intercept":
        Z = np.ones((len(v), 1))
    else:
        Z = np.column_stack([np.ones(len(v)), v if structure == "slope" else v - v.mean()])
    return GroupedLMM(X, std[outcome].to_numpy(float), Z, std["base"].to_numpy())


def satterthwaite_df(std, formula, structure, psi, reml, centre, sd_v, value, contrasts) -> np.ndarray:
    """Satterthwaite df of each raw fixed effect (rows of ``contrasts`` over the scaled model's) at a fit's Ψ.

    Ψ is mapped from the scaled random-effects columns ``[1, value_s]`` to
    lme4's (``[1, value]``: ``T Ψ Tᵀ``; ``[1] + [value_c]``: the slope
    variance ÷ sd²), whose Cholesky factor is lme4's θ.
    """
    from .satterthwaite import satterthwaite

    psi = np.atleast_2d(np.asarray(psi, float))
    if structure == "slope":
        T = np.array([[1.0, -centre / sd_v], [0.0, 1.0 / sd_v]])
        psi_raw = T @ psi @ T.T
    elif structure == "uncorrelated":
        psi_raw = np.diag([psi[0, 0], psi[1, 1] / sd_v ** 2])
    else:
        psi_raw = psi
    model = lme4_design(std, formula, structure, value)
    return satterthwaite(model, psi_raw, reml, diagonal=structure != "slope", contrasts=contrasts).df


def _fit_ols(formula: str, data: pd.DataFrame):
    import statsmodels.formula.api as smf

    return smf.ols(formula, data).fit()


def between_within_df(data: pd.DataFrame, formula: str, structure: str | None) -> pd.Series:
    """Small-sample df of each fixed effect (between–within rule).

    A term constant within every base (the intercept, a base-level
    covariate), and a term involving ``value`` when the model has a random
    slope of value by base, is tested against the variation between bases:
    ``bases − 1``.  Other terms vary within bases: ``n − bases − k_within``
    (``k_within`` = number of such terms).  OLS (``structure`` None):
    ``n − p`` for every term.
    """
    import patsy

    X = patsy.dmatrix(formula.split("~", 1)[1], data, return_type="dataframe")
    n, g = len(data), int(data["base"].nunique())
    if structure is None:
        return pd.Series(float(n - X.shape[1]), index=X.columns)
    groups = data["base"].to_numpy()
    within = []
    for name in X.columns:
        col = X[name].to_numpy(float)
        varies = pd.Series(col).groupby(groups).nunique().max() > 1
        slope = structure in ("slope", "uncorrelated") and re.search(r"(^|:)value($|:)", name) is not None
        within.append(bool(varies) and not slope)
    k_within = sum(within)
    df = [float(max(n - g - k_within, 1)) if w else float(max(g - 1, 1)) for w in within]
    return pd.Series(df, index=X.columns)


@dataclass
class PairFit:
    """The fits of one structure (or OLS): the reported fit, the ML fits of the full and the null model,
    the messages, and why they cannot be used (None when they can)."""

    reported: object
    full: object
    null: object
    messages: list
    failure: str | None = None


def _ols_pair(formula, null_formula, data) -> PairFit:
    fits, messages, failure = [], [], None
    for f in (formula, null_formula):
        result, msgs, error = _capture(lambda f=f: _fit_ols(f, data))
        fits.append(result)
        messages += msgs
        if failure is None:
            if error is not None:
                failure = f"{type(error).__name__}: {_first_line(error)}"
            elif result is None or not np.isfinite(result.llf):
                failure = "non-finite log-likelihood"
    full, null = fits
    return PairFit(full, full, null, list(dict.fromkeys(messages)), failure)


def _fit_structure(formula, null_formula, data, structure, reml, satterthwaite=False) -> PairFit:
    """Full and null ML fits (and the REML fit when asked) with one random structure; the reported
    fit carries its Satterthwaite df when asked."""
    first = fit_ml(formula, data, structure, satterthwaite=satterthwaite and not reml)
    null = fit_ml(null_formula, data, structure)
    full, f1, f2 = first.estimate, first.failure, null.failure
    messages = first.messages + [f"model without value: {m}" for m in null.messages]
    if f1 is None and f2 is None and full.llf < null.estimate.llf - 1e-6:
        # the full model nests the null: from the null's variances it reaches at least its likelihood
        again = fit_ml(formula, data, structure, start=null.estimate.psi, satterthwaite=satterthwaite and not reml)
        if again.estimate is not None and again.failure is None and again.estimate.llf > full.llf:
            full = again.estimate
            messages.append("the first maximum of the full model was below the null model's; refitted from "
                            "the null model's variances")
        if full.llf < null.estimate.llf - 1e-6:
            f1 = (f"the full model's log-likelihood ({full.llf:.6g}) is below the null model's "
                  f"({null.estimate.llf:.6g}): not a maximum")
    failure = f1 or (f"model without value: {f2}" if f2 else None)
    reported = full
    if reml and failure is None:
        fit = fit_ml(formula, data, structure, reml=True, satterthwaite=satterthwaite)
        reported = fit.estimate
        messages += [f"REML fit: {m}" for m in fit.messages]
        failure = f"REML fit: {fit.failure}" if fit.failure else None
    return PairFit(reported, full, null.estimate, list(dict.fromkeys(messages)), failure)


#: Outcome families: linear mixed models, or logistic mixed models of a 0/1 outcome (:mod:`.glmm`).
FAMILIES = ("gaussian", "binomial")
#: Small-sample df of the t intervals: lmerTest's Satterthwaite, or the between–within rule.
DF_METHODS = ("satterthwaite", "bases")
DF_METHOD_TEXT = {"satterthwaite": "Satterthwaite", "bases": "between-within"}


@dataclass
class MixedTask:
    """One model of :func:`mixed_tasks`, checked and not yet fitted (:func:`fit_tasks`,
    :func:`~.lme4.fit_tasks_lme4`).

    Attributes
    ----------
    data : pandas.DataFrame
        The complete rows the model uses.
    outcome, layer : str
    rhs, null_rhs : str
        Right-hand sides of the full model and of the model without the value terms.
    random_slope, reml : bool
    label : str
        The interval label(s) the frame holds.
    df_method : str
        ``satterthwaite`` or ``bases`` (see :data:`DF_METHODS`).
    left_out : tuple of str
        Notes on the rows and bases the model leaves out.
    family : str
        ``gaussian`` or ``binomial`` (see :data:`FAMILIES`).
    """

    data: pd.DataFrame
    outcome: str
    layer: str
    rhs: str
    null_rhs: str
    random_slope: bool = True
    reml: bool = False
    label: str = ""
    df_method: str = "satterthwaite"
    left_out: tuple = ()
    family: str = "gaussian"

    @property
    def formula(self) -> str:
        return f"{self.outcome} ~ {self.rhs}"

    @property
    def null_formula(self) -> str:
        return f"{self.outcome} ~ {self.null_rhs}"


def _mixed_fit(task: MixedTask, fits: PairFit, method: str, notes: list, seconds: float, re_formula=None,
               structure=None, df=None, df_method: str = "") -> MixedFit:
    """The :class:`MixedFit` of ``task`` from the fits of its chain's last step."""
    data = task.data
    return MixedFit(outcome=task.outcome, layer=task.layer, formula=task.formula, re_formula=re_formula,
                    null_formula=task.null_formula, method=method, result=fits.reported, ml_result=fits.full,
                    null_result=fits.null, n_obs=len(data), n_groups=int(data["base"].nunique()),
                    warnings=list(dict.fromkeys(notes + fits.messages)), label=task.label, engine="statsmodels",
                    structure=structure, df=df, df_method=df_method, seconds=seconds)


def _satterthwaite_or_rule(task: MixedTask, fits: PairFit, structure: str) -> tuple:
    """The df of a mixed fit: Satterthwaite's when asked (the between–within rule where it is undefined,
    with a note in ``fits.messages``), else the between–within rule; (df, its method's name)."""
    if task.df_method == "satterthwaite" and getattr(fits.reported, "df", None) is not None:
        df = fits.reported.df.copy()
        undefined = [t for t in df.index if not np.isfinite(df[t]) or df[t] <= 0]
        if undefined:  # a variance-parameter Hessian with no curvature in that direction
            rule = between_within_df(task.data, task.formula, structure)
            df[undefined] = rule[undefined]
            fits.messages.append(f"Satterthwaite df undefined for {', '.join(undefined)}; the "
                                 "between-within df used there")
        return df, DF_METHOD_TEXT["satterthwaite"]
    return between_within_df(task.data, task.formula, structure), DF_METHOD_TEXT["bases"]


def _one_model(task: MixedTask) -> MixedFit:
    """Fit one model through the fit chain (see the module docstring); every step is recorded."""
    import time

    t0 = time.perf_counter()
    data, formula, null_formula = task.data, task.formula, task.null_formula
    n_obs, n_groups = len(data), int(data["base"].nunique())
    kind = "REML" if task.reml else "ML"
    notes = list(task.left_out)
    if n_groups >= 2:
        chain = STRUCTURES if task.random_slope else ("intercept",)
        for structure in chain:
            n_re = n_groups * (1 if structure == "intercept" else 2)
            if n_obs <= n_re:  # as lme4 requires: more observations than random effects
                notes.append(f"{STRUCTURE_TEXT[structure][0]} not tried: {n_obs} observations for "
                             f"{n_re} random effects")
                continue
            fits = _fit_structure(formula, null_formula, data, structure, task.reml,
                                  task.df_method == "satterthwaite")
            if fits.failure is None:
                text, re_formula = STRUCTURE_TEXT[structure]
                method = f"mixedlm {kind}, {text}"
                if structure != chain[0]:
                    method += " (random slope dropped)" if structure == "intercept" else \
                        " (correlated slope dropped)"
                if fits.full.singular:
                    method += ", singular"
                df, df_text = _satterthwaite_or_rule(task, fits, structure)
                return _mixed_fit(task, fits, method, notes, time.perf_counter() - t0, re_formula=re_formula,
                                  structure=structure, df=df, df_method=df_text)
            notes += [f"{structure} model: {m}" for m in fits.messages]
            notes.append(f"{structure} model dropped: {fits.failure}")
    fits = _ols_pair(formula, null_formula, data)
    seconds = time.perf_counter() - t0
    if fits.failure is None:
        method = "ols (one base latent)" if n_groups < 2 else "ols (the mixed models dropped)"
        return _mixed_fit(task, fits, method, notes, seconds, df=between_within_df(data, formula, None),
                          df_method="ols")
    return _mixed_fit(task, PairFit(None, None, None, fits.messages), f"not fitted ({fits.failure})", notes, seconds)


def fit_mixed(frame: pd.DataFrame, outcome: str, by: str = "layer", random_slope: bool = True,
              reml: bool = False, min_obs: int = 10, single_base: str = "error", workers=None,
              progress: bool = False, label: str = "", df: str = "satterthwaite",
              family: str = "gaussian", scheduler=None) -> list:
    """Regress an outcome on the sweep value with random effects by base latent.

    Per layer ``{outcome} ~ value`` by ML with random effects by base, or
    with ``by="interaction"`` one model ``{outcome} ~ value * C(layer)``
    over all layers, through the fit chain of this module (scaled fit,
    several optimisers, correlated → uncorrelated slope → intercept → OLS,
    boundary fits accepted with a note; see the module docstring).  A frame
    with a single base latent has no random effect to estimate: an error, or
    OLS with ``single_base="ols"``.  A constant outcome is an error.
    Warnings are kept in each fit's ``warnings``.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`model_frame`.
    outcome : str
        Outcome column (the measure name).
    by : {"layer", "interaction"}
    random_slope : bool
        Start from random intercept and slope of value by base.
    reml : bool
        Report REML fits; the likelihood-ratio test, AIC and BIC always use ML fits.
    min_obs : int
        Layers with fewer complete rows (or a single value) are skipped.
    df : {"satterthwaite", "bases"}
        Small-sample df of the t intervals and Wald p: lmerTest's
        Satterthwaite df (:mod:`.satterthwaite`) or the between–within rule
        (:func:`between_within_df`: bases − 1 for the value slope).
    single_base : {"error", "ols"}
        What a frame with one base latent gets.
    family : {"gaussian", "binomial"}
        ``binomial``: a 0/1 outcome (an [s] present or not), logistic mixed
        models by the Laplace approximation (glmer's ``nAGQ = 1``,
        :mod:`.glmm`), z intervals; ``reml`` and ``df`` do not apply.
    workers : int or None
        Processes fitting layers in parallel (None: one per CPU); the fits
        do not depend on the number.
    scheduler : DaskScheduler, optional
        Fit them as Dask tasks instead (:func:`ganphon.parallel_dask.use_scheduler`).
    progress : bool
        Show a progress bar over the models.
    label : str
        The interval label(s) the frame holds, carried into the fits' tables.

    Returns
    -------
    list of MixedFit
        One per modelled layer in network order (one in all for ``interaction``);
        rows left out are noted in each fit's ``warnings``.  No layer that can
        be modelled is an error naming why for each.
    """
    notes = []
    tasks = mixed_tasks(frame, outcome, by=by, random_slope=random_slope, reml=reml, min_obs=min_obs,
                        single_base=single_base, label=label, df=df, notes=notes, family=family)
    if not tasks:
        raise GanphonError(f"{outcome}: no layer can be modelled ({'; '.join(notes)})")
    return fit_tasks(tasks, workers=workers, progress=progress, scheduler=scheduler)


#: What the workers of :func:`fit_tasks` preload (``ganphon stats`` starts them with it early).
WORKER_MODULES = (__name__,)


def fit_tasks(tasks, workers=None, progress: bool = False, scheduler=None, meanwhile=None) -> list:
    """Fit the models of :func:`mixed_tasks` (in ``workers`` processes); MixedFits in task order.
    ``meanwhile``: other work done in this process while they are fitted (:func:`ganphon.parallel.map_jobs`)."""
    from ..parallel import map_jobs

    return map_jobs(_fit_task, tasks, workers=workers, progress=progress, desc="models", unit="model",
                    preload=WORKER_MODULES, weights=[len(task.data) for task in tasks], scheduler=scheduler,
                    meanwhile=meanwhile)


def _one_blas_thread():
    """A context with BLAS on one thread: a model's matrices are k × k and p × p (k, p ≤ a few), and
    idle BLAS threads spinning between such calls cost more than the work (2.7× on 2 busy cores).
    Needs ``threadpoolctl`` (``pip install 'ganphon[stats]'``); without it, nothing changes."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _fit_task(task: MixedTask) -> MixedFit:
    with _one_blas_thread():
        if task.family == "binomial":
            from .glmm import one_binomial_model

            return one_binomial_model(task.data, task.outcome, task.layer, task.rhs, task.null_rhs,
                                      task.random_slope, task.label, task.left_out)
        return _one_model(task)


def mixed_tasks(frame: pd.DataFrame, outcome: str, by: str = "layer", random_slope: bool = True,
                reml: bool = False, min_obs: int = 10, single_base: str = "error", label: str = "",
                rhs=("value", "1"), df: str = "satterthwaite", notes: list | None = None,
                family: str = "gaussian") -> list:
    """The models :func:`fit_mixed` fits, checked and not yet fitted.

    Same arguments and errors as :func:`fit_mixed`; returns one
    :class:`MixedTask` per model, for :func:`fit_tasks`; ``label`` (the
    interval label(s) of the frame) is carried into the fits; ``rhs`` = (full,
    null) right-hand sides of the per-layer models (``("value * C(label)",
    "C(label)")`` for a label interaction); each task's ``left_out`` notes the
    rows and bases the model leaves out.
    A layer that cannot be modelled (no complete row, a constant value or
    outcome, fewer than ``min_obs`` rows) gets no task and a note in ``notes``.
    """
    if by not in ("layer", "interaction"):
        raise GanphonError(f"by must be 'layer' or 'interaction', got {by!r}")
    if single_base not in ("error", "ols"):
        raise GanphonError(f"single_base must be 'error' or 'ols', got {single_base!r}")
    if df not in DF_METHODS:
        raise ParameterError("df", f"must be one of {', '.join(DF_METHODS)}, got {df!r}")
    if family not in FAMILIES:
        raise GanphonError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    data = _complete(frame, outcome)
    if family == "binomial" and not data[outcome].isin([0, 1]).all():
        bad = data.loc[~data[outcome].isin([0, 1]), outcome].iloc[0]
        raise GanphonError(f"{outcome}: a binomial (logistic) model needs a 0/1 outcome, got {bad:g}")
    if data.empty:
        raise GanphonError(f"{outcome}: no rows with both a value and a defined outcome")
    n_bases = int(data["base"].nunique())
    if n_bases < 2 and single_base == "error":
        raise GanphonError(f"{outcome}: a random effect by base latent needs at least 2 bases, the sweep has "
                           f"{n_bases}; sweep more --bases (or fit OLS with single_base='ols')")
    if data[outcome].nunique() < 2:
        raise GanphonError(f"{outcome}: the outcome is constant ({data[outcome].iloc[0]:g} in every row); "
                           "there is nothing to model")
    name = model_name(outcome, label)
    if by == "interaction" and (scale := out_of_scale(data, outcome)):
        raise GanphonError(f"{outcome}: {scale}")
    if by == "interaction" and family == "gaussian" and exact_within_bases(data, outcome, "value * C(layer)"):
        raise GanphonError(f"{outcome}: {EXACT_FIT}")
    if by == "interaction":
        data["layer"] = pd.Categorical(data["layer"].astype(str),
                                       categories=sort_layers(data["layer"].astype(str).unique()))
        if data["layer"].cat.categories.size < 2:
            raise GanphonError(f"{outcome}: a layer interaction needs at least two layers with values")
        return [MixedTask(data, outcome, "all", "value * C(layer)", "C(layer)", random_slope=random_slope,
                          reml=reml, label=label, df_method=df, left_out=tuple(left_out_rows(frame, data, outcome)),
                          family=family)]
    tasks = []
    all_layers = frame["layer"].dropna().astype(str)
    for layer in sort_layers(all_layers.unique()):
        part = data[data["layer"].astype(str) == layer].copy()
        rows = frame[frame["layer"].astype(str) == layer]
        why = None
        if part.empty:
            why = f"no row with both a value and a defined {outcome} ({len(rows)} rows)"
        elif part["value"].nunique() < 2:
            why = f"the swept value is constant ({part['value'].iloc[0]:g} in all {len(part)} complete rows)"
        elif part[outcome].nunique() < 2:
            why = f"the outcome is constant ({part[outcome].iloc[0]:g} in all {len(part)} complete rows)"
        elif len(part) < min_obs:
            why = f"{len(part)} complete rows, fewer than {min_obs}"
        elif scale := out_of_scale(part, outcome):
            why = scale
        elif family == "gaussian" and exact_within_bases(part, outcome, rhs[0]):
            why = EXACT_FIT
        if why is not None:
            if notes is not None:
                notes.append(f"{name}, layer {layer}: not modelled: {why}")
            continue
        tasks.append(MixedTask(part, outcome, layer, rhs[0], rhs[1], random_slope=random_slope, reml=reml,
                               label=label, df_method=df, left_out=tuple(left_out_rows(rows, part, outcome)),
                               family=family))
    return tasks


#: The largest magnitude and the least spread (max − min) of a modelled outcome or value: the fits square
#: them, and their squares (and the variances mapped back to raw units) must stay finite, normal doubles.
SCALE_LIMITS = (1e100, 1e-100)


def out_of_scale(data: pd.DataFrame, outcome: str) -> str | None:
    """Why the outcome or the value of a model's rows lies beyond what its fit can compute in double
    precision (magnitudes above 1e100, or a spread below 1e-100: their squares overflow or vanish); None when
    it does not.  A constant column is not this case (it is said so where it is checked)."""
    largest, least = SCALE_LIMITS
    for column, what in ((outcome, "the outcome"), ("value", "the swept value")):
        x = data[column].to_numpy(float)
        low, high = float(np.min(x)), float(np.max(x))
        if max(abs(low), abs(high)) > largest or 0 < high - low < least:
            return (f"{what} runs from {low:.3g} to {high:.3g}: beyond what a model can square in double "
                    f"precision (magnitudes up to {largest:g}, spreads from {least:g}); rescale it")
    return None


#: Why a model of an outcome without residual variation is not fitted (:func:`exact_within_bases`).
EXACT_FIT = ("the outcome is an exact function of the value within every base (no residual variation: "
             "a mixed model's likelihood has no maximum)")
#: Residual sum of squares, relative to the outcome's own, below which a fit counts as exact.
EXACT_FIT_TOL = 1e-16


def exact_within_bases(data: pd.DataFrame, outcome: str, rhs: str = "value") -> bool:
    """Whether ``outcome`` is fitted exactly by the fixed effects ``rhs`` plus an intercept and a value slope
    per base (the random structure's most flexible mean).

    Then (with a base holding more rows than its intercept and slope can fit
    by themselves) the residual variance σ² of every random structure can
    shrink to 0 and the likelihood grows without bound: an optimiser stops anywhere, with
    estimates and variances that mean nothing (a synthetic or copied outcome,
    never a measurement).  Least squares on that design, the per-base line
    taken out of the outcome and of each fixed-effect column first
    (Frisch–Waugh: the same residual); exact when the residual sum of squares
    is below :data:`EXACT_FIT_TOL` of the outcome's sum of squares about its mean.
    """
    import patsy

    y = data[outcome].to_numpy(float)
    total = float(np.sum((y - y.mean()) ** 2))
    if not total > 0:
        return False  # a constant outcome is said so where it is checked
    bases = pd.factorize(data["base"])[0]
    v = data["value"].to_numpy(float)
    count = np.bincount(bases).astype(float)
    lines = np.minimum(pd.Series(v).groupby(bases).nunique().to_numpy(), 2)  # what a base's line can fit
    if not np.any(count > lines):  # every base's rows fitted by its own effects: the covariance stays regular
        return False
    centred = v - (np.bincount(bases, v) / count)[bases]
    spread = np.bincount(bases, centred * centred) / count

    def off_the_base_lines(a):  # a column minus its least-squares line in the value within each base
        mean = np.bincount(bases, a) / count
        slope = np.divide(np.bincount(bases, centred * a) / count, spread, out=np.zeros_like(spread),
                          where=spread > 0)
        return a - mean[bases] - slope[bases] * centred

    X = np.asarray(patsy.dmatrix(rhs, data, return_type="dataframe"), float)
    residual = off_the_base_lines(y)
    columns = np.column_stack([off_the_base_lines(x) for x in X.T])
    if columns.size:
        coef, *_ = np.linalg.lstsq(columns, residual, rcond=None)
        residual = residual - columns @ coef
    return float(residual @ residual) <= EXACT_FIT_TOL * total


def left_out_rows(rows: pd.DataFrame, kept: pd.DataFrame, outcome: str) -> list:
    """Notes on the rows (and bases) of ``rows`` a model leaves out: an infinite or undefined outcome,
    no value, a base with no complete row."""
    y = pd.to_numeric(rows[outcome], errors="coerce").to_numpy(float)
    v = pd.to_numeric(rows["value"], errors="coerce").to_numpy(float)
    out = []
    n_inf, n_nan, n_value = int(np.isinf(y).sum()), int(np.isnan(y).sum()), int((~np.isfinite(v)).sum())
    if n_inf:
        out.append(f"{n_inf} row{'s' * (n_inf > 1)} with an infinite {outcome} left out")
    if n_nan:
        out.append(f"{n_nan} row{'s' * (n_nan > 1)} without a defined {outcome} left out")
    if n_value:
        out.append(f"{n_value} row{'s' * (n_value > 1)} without a finite value left out")
    gone = sorted(set(rows["base"].dropna()) - set(kept["base"].dropna()), key=str)
    if gone:
        out.append(f"base{'s' * (len(gone) > 1)} {', '.join(map(str, gone))} left out: no row with a defined "
                   f"{outcome} and value")
    return out


def coefficient_table(fits) -> pd.DataFrame:
    """Fixed effects of several :class:`MixedFit` as one tidy table."""
    frames = [fit.coefficients() for fit in fits]
    if not frames:
        return pd.DataFrame(columns=MIXED_COLUMNS)
    return pd.concat(frames, ignore_index=True)[MIXED_COLUMNS]


def lrt_table(fits) -> pd.DataFrame:
    """Likelihood-ratio tests of the value effect of several :class:`MixedFit`."""
    rows = []
    for fit in fits:
        test = fit.lrt()
        rows.append({"outcome": fit.outcome, "label": fit.label, "layer": fit.layer, "stat": test["stat"],
                     "df": test["df"], "p": test["p"], "llf_full": test["llf_full"], "llf_null": test["llf_null"],
                     "n_groups": fit.n_groups, "engine": fit.engine, "method": fit.method})
    return pd.DataFrame(rows, columns=LRT_COLUMNS)




# --------------------------------------------------------------------------
# GAM


#: Degree of the GAM's B-splines (cubic): a basis needs at least degree + 1 degrees of freedom
GAM_DEGREE = 3


def fit_gam(frame: pd.DataFrame, outcome: str, df: int = 5, degree: int = GAM_DEGREE, alpha: float = 0.0) -> dict:
    """Non-linear value curves: a B-spline GAM of the outcome on value, per layer.

    ``GLMGam.from_formula(f"{outcome} ~ 1", smoother=BSplines(value, df=[df],
    degree=[degree]), alpha=[alpha])`` — a Gaussian regression spline
    (penalised when ``alpha`` > 0).  Base latents are pooled.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`model_frame`.
    outcome : str
    df : int
        Degrees of freedom of the B-spline basis (statsmodels ``BSplines``).
    degree : int
        Spline degree.
    alpha : float
        Penalty weight.

    Returns
    -------
    dict
        Layer → statsmodels ``GLMGamResults``, in network order; layers with
        at most ``df`` distinct values of a defined outcome are left out.
    """
    from statsmodels.gam.api import BSplines, GLMGam

    data = _complete(frame, outcome)
    results = {}
    for layer in sort_layers(data["layer"].astype(str).unique()):
        part = data[data["layer"].astype(str) == layer].reset_index(drop=True)
        if part["value"].nunique() <= df:
            continue
        smoother = BSplines(part[["value"]], df=[df], degree=[degree])
        model = GLMGam.from_formula(f"{outcome} ~ 1", data=part, smoother=smoother, alpha=[alpha])
        result, messages, error = _capture(model.fit)
        if error is not None:
            raise GanphonError(f"{outcome}, layer {layer}: the GAM could not be fitted ({_first_line(error)})")
        result.ganphon_warnings = messages
        results[layer] = result
    if not results:
        raise GanphonError(f"{outcome}: no layer has more than {df} distinct values with a defined outcome; "
                           f"a spline with df={df} needs more (lower df)")
    return results


def gam_curves(gams: dict, outcome: str | None = None, values=None, n: int = 50) -> pd.DataFrame:
    """Fitted GAM curves with 95 % confidence bands, as a tidy table.

    Parameters
    ----------
    gams : dict
        From :func:`fit_gam`.
    outcome : str, optional
        Written into the ``outcome`` column.
    values : array-like, optional
        Values to predict at (default: ``n`` points over each layer's range).
    n : int

    Returns
    -------
    pandas.DataFrame
        Columns outcome, layer, value, fit, ci_low, ci_high.
    """
    frames = []
    for layer, result in gams.items():
        observed = np.asarray(result.model.smoother.x[:, 0], float)
        grid = np.asarray(values, float) if values is not None else np.linspace(observed.min(), observed.max(), n)
        # B-splines are only defined inside the observed range
        grid = np.clip(grid, observed.min(), observed.max())
        pred = result.get_prediction(exog=pd.DataFrame({"value": grid}), exog_smooth=grid[:, None],
                                     transform=True).summary_frame(alpha=0.05)
        frames.append(pd.DataFrame({"outcome": outcome or result.model.endog_names, "layer": layer,
                                    "value": grid, "fit": pred["mean"].to_numpy(),
                                    "ci_low": pred["mean_ci_lower"].to_numpy(),
                                    "ci_high": pred["mean_ci_upper"].to_numpy()}))
    if not frames:
        return pd.DataFrame(columns=["outcome", "layer", "value", "fit", "ci_low", "ci_high"])
    return pd.concat(frames, ignore_index=True)

