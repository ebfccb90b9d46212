"""lme4's deviance vectorised over bases, and Satterthwaite degrees of freedom as lmerTest computes them.

The linear mixed model ``y = Xβ + Zb + ε``, ``b_g ~ N(0, σ² ΛΛᵀ)`` per base
``g``, ``ε ~ N(0, σ² I)``, is evaluated from per-base sufficient statistics
(``ZᵀZ``, ``ZᵀX``, ``Zᵀy`` of each base, ``XᵀX``, ``Xᵀy``, ``yᵀy`` over all
rows): with ``M_g = I + ΛᵀZ_gᵀZ_gΛ`` (k × k, k ≤ 2 random effects),

* ``log|V| = Σ_g log|M_g|`` (``V_g = I + Z_gΛΛᵀZ_gᵀ``, the determinant lemma),
* ``A = XᵀV⁻¹X = XᵀX − Σ_g B_gᵀ M_g⁻¹ B_g`` with ``B_g = ΛᵀZ_gᵀX_g``,
* ``XᵀV⁻¹y`` and ``yᵀV⁻¹y`` likewise (Woodbury),
* ``β̂ = A⁻¹XᵀV⁻¹y``, the penalised residual sum of squares ``q = yᵀV⁻¹y − β̂ᵀXᵀV⁻¹y``,

all as stacked numpy operations over the bases (no loop in Python).  The
deviance at variance parameters ``(θ, σ)`` (θ = the entries of the lower
triangular Λ, column by column, as lme4's ``theta``) is lme4's:
``−2 log L = log|V| + q/σ² + n log 2πσ²``; REML adds ``log|A| − p log 2πσ²``.

**Satterthwaite df** of a contrast ``c`` (lmerTest 3's method): the
variance of ``cᵀβ̂`` is ``g(θ, σ) = σ² cᵀA(θ)⁻¹c``; with ``H`` the Hessian of
the deviance in ``(θ, σ)`` at the estimates and ``Σ = 2 H⁺`` (the
Moore–Penrose inverse over the eigenvalues above 1e-8) the asymptotic
covariance of ``(θ, σ)``, ``df = 2 g² / (∇gᵀ Σ ∇g)``.  Derivatives are
central differences with Richardson extrapolation over four halvings of a
step of 1e-2 relative (1e-4 absolute near 0).  numDeriv, which lmerTest
uses, starts from 1e-4 on lme4's sparse-Cholesky deviance; this deviance
(sums over bases) rounds ≈ 10× more, and the larger first step keeps the
extrapolated derivatives as accurate: at lme4's own θ the df agree with
lmerTest's to ≈ 1e-6.  At a boundary (singular) fit the df depend on
exactly where on the boundary each engine's optimiser stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Eigenvalues of the deviance Hessian at or below this are left out of its inverse (lmerTest's tol).
EIGEN_TOL = 1e-8
#: Relative step, absolute step near 0, the |x| below which a parameter counts as 0, halvings.
_D, _EPS, _ZERO_TOL, _R = 1e-2, 1e-4, math.sqrt(np.finfo(float).eps / 7e-7), 4


class GroupedLMM:
    """Sufficient statistics of one linear mixed model, per base; profiled and full deviance.

    Parameters
    ----------
    X : (n, p) array
        Fixed-effects design.
    y : (n,) array
    Z : (n, k) array
        Random-effects design of one base (the same columns for every base).
    groups : (n,) array
        Base of each row.
    """

    def __init__(self, X, y, Z, groups):
        X, y, Z = (np.asarray(a, float) for a in (X, y, Z))
        self.n, self.p = X.shape
        self.k = Z.shape[1]
        _, inverse = np.unique(np.asarray(groups), return_inverse=True)
        self.n_groups = int(inverse.max()) + 1

        def per_group(a):  # Σ over the rows of each base of a (n, ...) array
            out = np.zeros((self.n_groups,) + a.shape[1:])
            np.add.at(out, inverse, a)
            return out

        self.ZtZ = per_group(Z[:, :, None] * Z[:, None, :])
        self.ZtX = per_group(Z[:, :, None] * X[:, None, :])
        self.Zty = per_group(Z * y[:, None])
        self.XtX, self.Xty, self.yty = X.T @ X, X.T @ y, float(y @ y)

    def _solved(self, lam):
        """Λ (k × k), M_g, M_g⁻¹B_g, M_g⁻¹c_g and :meth:`solve`'s (log|V|, A, β̂, q); None where A is singular."""
        lam = np.asarray(lam, float).reshape(self.k, self.k)
        M = np.eye(self.k) + lam.T @ self.ZtZ @ lam
        B = lam.T @ self.ZtX                      # (G, k, p)
        c = np.einsum("ij,gi->gj", lam, self.Zty)  # (G, k): Λᵀ Z_gᵀ y
        sign, logdets = np.linalg.slogdet(M)
        if np.any(sign <= 0):
            return None
        rhs = np.concatenate([B, c[:, :, None]], axis=2)
        sol = np.linalg.solve(M, rhs)              # M⁻¹ [B, c]
        MiB, Mic = sol[:, :, :-1], sol[:, :, -1]
        A = self.XtX - np.einsum("gki,gkj->ij", B, MiB)
        b = self.Xty - np.einsum("gki,gk->i", B, Mic)
        yVy = self.yty - float(np.einsum("gk,gk->", c, Mic))
        try:
            beta = np.linalg.solve(A, b)
        except np.linalg.LinAlgError:
            return None
        q = yVy - float(b @ beta)
        return lam, M, MiB, Mic, (float(np.sum(logdets)), A, beta, q)

    def solve(self, lam):
        """At a relative Cholesky factor Λ (k × k): (log|V|, A, XᵀV⁻¹y, q); None where A is singular."""
        solved = self._solved(lam)
        return None if solved is None else solved[-1]

    def _llf(self, solved, reml: bool):
        """(log-likelihood, σ̂²) of :meth:`solve`'s answer with σ² profiled out; None where undefined."""
        if solved is None:
            return None
        logdet, A, _, q = solved
        dof = self.n - self.p if reml else self.n
        if not q > 0:
            return None
        scale = q / dof
        llf = -0.5 * (dof * math.log(2 * math.pi * scale) + dof + logdet)
        if reml:
            llf -= 0.5 * np.linalg.slogdet(A)[1]
        return llf, scale

    def profiled(self, lam, reml: bool = False):
        """(log-likelihood, β̂, σ̂², A) with σ² profiled out; log-likelihood −inf where undefined."""
        solved = self.solve(lam)
        found = self._llf(solved, reml)
        if found is None:
            return -math.inf, None, math.nan, None
        return found[0], solved[2], found[1], solved[1]

    def profiled_gradient(self, lam, reml: bool = False):
        """(log-likelihood, its gradient in the entries of Λ (k × k)) with σ² profiled out; (−inf, None) where
        undefined.

        The log-likelihood is :meth:`profiled`'s.  Its derivatives, per base, with
        ``S_g = Z_gᵀZ_g``, ``C_g = Z_gᵀX_g``, ``w_g = Z_gᵀ(y_g − X_g β̂)``,
        ``v_g = M_g⁻¹Λᵀw_g``, ``P_g = M_g⁻¹ΛᵀC_g`` (β̂ stays put: q is minimal in β):

        * ``∂q/∂Λ = −2 Σ_g (w_g − S_gΛv_g) v_gᵀ``,
        * ``∂ log|V|/∂Λ = 2 Σ_g S_gΛM_g⁻¹``,
        * ``∂ log|A|/∂Λ = −2 Σ_g (C_g − S_gΛP_g) A⁻¹ P_gᵀ`` (REML),

        so ``∂llf = −½ (dof/q ∂q + ∂ log|V|)`` (REML: ``− ½ ∂ log|A|``); the
        optimisers are given the exact gradient rather than differences of
        the likelihood.
        """
        solved = self._solved(lam)
        found = self._llf(None if solved is None else solved[-1], reml)
        if found is None:
            return -math.inf, None
        lam, M, P, Mic, (_, A, beta, q) = solved
        dof = self.n - self.p if reml else self.n
        w = self.Zty - self.ZtX @ beta             # (G, k): Z_gᵀ r_g
        v = Mic - P @ beta                         # M_g⁻¹ Λᵀ w_g
        e = w - np.einsum("gij,gj->gi", self.ZtZ, v @ lam.T)
        grad_q = -2.0 * (e.T @ v)
        grad_logdet = 2.0 * np.einsum("gac,cd,gdb->ab", self.ZtZ, lam, np.linalg.inv(M))
        grad = -0.5 * (dof / q * grad_q + grad_logdet)
        if reml:
            resid = self.ZtX - np.einsum("gij,jk,gkl->gil", self.ZtZ, lam, P)   # C_g − S_gΛP_g
            grad += np.einsum("gap,pq,gbq->ab", resid, np.linalg.inv(A), P)   # −½ ∂ log|A|
        return found[0], grad

    def deviance(self, varpar, lam_of, reml: bool = False) -> float:
        """lme4's deviance (−2 log L, REML criterion when ``reml``) at ``(θ…, σ)``."""
        theta, sigma = varpar[:-1], varpar[-1]
        solved = self.solve(lam_of(theta))
        if solved is None:
            return math.inf
        logdet, A, _, q = solved
        s2 = sigma * sigma
        dev = logdet + q / s2 + self.n * math.log(2 * math.pi * s2)
        if reml:
            dev += np.linalg.slogdet(A)[1] - self.p * math.log(2 * math.pi * s2)
        return dev

    def vcov(self, varpar, lam_of) -> np.ndarray:
        """Covariance of β̂ at ``(θ…, σ)``: ``σ² A(θ)⁻¹``."""
        solved = self.solve(lam_of(varpar[:-1]))
        if solved is None:
            return np.full((self.p, self.p), np.nan)
        return varpar[-1] ** 2 * np.linalg.inv(solved[1])


def _steps(x):
    x = np.asarray(x, float)
    return np.where(np.abs(x) < _ZERO_TOL, _EPS, _D * np.abs(x))


def _richardson(estimates):
    """Richardson extrapolation of central differences at steps h, h/2, h/4, … (error ∝ h²)."""
    a = list(estimates)
    for m in range(1, len(a)):
        a = [(4 ** m * a[i + 1] - a[i]) / (4 ** m - 1) for i in range(len(a) - 1)]
    return a[0]


def hessian(f, x, steps=None) -> np.ndarray:
    """Hessian of a scalar function by central differences with Richardson extrapolation.

    ``steps``: the first step of each parameter (default: numDeriv's rule, relative to |x|).
    """
    x = np.asarray(x, float)
    k, h0 = len(x), (_steps(x) if steps is None else np.asarray(steps, float))
    f0 = f(x)
    levels = []
    for r in range(_R):
        h = h0 / 2 ** r
        H = np.zeros((k, k))
        for i in range(k):
            e_i = np.zeros(k)
            e_i[i] = h[i]
            H[i, i] = (f(x + e_i) - 2 * f0 + f(x - e_i)) / h[i] ** 2
            for j in range(i):
                e_j = np.zeros(k)
                e_j[j] = h[j]
                H[i, j] = H[j, i] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j)
                                     + f(x - e_i - e_j)) / (4 * h[i] * h[j])
        levels.append(H)
    return _richardson(levels)


def jacobian(f, x, steps=None) -> np.ndarray:
    """Derivatives of an array-valued function (one per parameter, stacked last)."""
    x = np.asarray(x, float)
    h0 = _steps(x) if steps is None else np.asarray(steps, float)
    out = []
    for i in range(len(x)):
        levels = []
        for r in range(_R):
            e = np.zeros(len(x))
            e[i] = h0[i] / 2 ** r
            levels.append((f(x + e) - f(x - e)) / (2 * e[i]))
        out.append(_richardson(levels))
    return np.stack(out, axis=-1)


def theta_entries(k: int, diagonal: bool) -> tuple:
    """(rows, columns) of Λ holding θ: lme4's order (the lower triangle column by column), or the diagonal."""
    if diagonal:
        return np.arange(k), np.arange(k)
    rows, cols = np.tril_indices(k)
    order = np.lexsort((rows, cols))  # column by column
    return rows[order], cols[order]


def lower_from_theta(k: int, diagonal: bool):
    """θ → Λ: lme4's order (the lower triangle column by column), or a diagonal Λ (independent terms)."""
    if diagonal:
        return lambda theta: np.diag(np.asarray(theta, float))
    entries = theta_entries(k, diagonal)

    def make(theta):
        lam = np.zeros((k, k))
        lam[entries] = theta
        return lam
    return make


def theta_from_psi(psi, diagonal: bool) -> np.ndarray:
    """θ of a relative covariance Ψ = ΛΛᵀ (the Cholesky factor, zero columns where Ψ is singular)."""
    psi = np.atleast_2d(np.asarray(psi, float))
    k = len(psi)
    if diagonal:
        return np.sqrt(np.clip(np.diag(psi), 0, None))
    lam = np.zeros((k, k))
    for j in range(k):
        d = psi[j, j] - lam[j, :j] @ lam[j, :j]
        lam[j, j] = math.sqrt(max(d, 0.0))
        for i in range(j + 1, k):
            lam[i, j] = (psi[i, j] - lam[i, :j] @ lam[j, :j]) / lam[j, j] if lam[j, j] > 0 else 0.0
    return lam[theta_entries(k, diagonal=False)]


@dataclass
class Satterthwaite:
    """Satterthwaite df of each fixed effect, and what they rest on.

    Attributes
    ----------
    df : numpy.ndarray
        One per fixed effect (NaN where the variance's gradient is 0).
    varpar : numpy.ndarray
        ``(θ…, σ)`` at which they were computed (σ in the units of ``y``).
    vcov_varpar : numpy.ndarray
        ``2 H⁺``, the asymptotic covariance of ``varpar``.
    eigenvalues : numpy.ndarray
        Of the deviance Hessian ``H`` (those ≤ 1e-8 are left out of ``H⁺``).
    """

    df: np.ndarray
    varpar: np.ndarray
    vcov_varpar: np.ndarray
    eigenvalues: np.ndarray


def satterthwaite(model: GroupedLMM, psi, reml: bool, diagonal: bool, contrasts=None) -> Satterthwaite:
    """Satterthwaite df of each contrast of the fixed effects of ``model`` at its estimate ``Ψ``.

    ``Ψ`` is the (RE)ML estimate of ``cov(b_g)/σ²`` in the columns of
    ``model``'s Z (which must be lme4's, since at a boundary the df depend
    on the parameterisation); σ is profiled from it.  ``contrasts``: one
    row per contrast (default: each fixed effect).  The df do not depend on
    a linear reparameterisation of X or a scaling of y: a centred, scaled
    model gives them with the least rounding (its deviance is not the
    difference of two large sums).
    """
    lam_of = lower_from_theta(model.k, diagonal)
    theta = theta_from_psi(psi, diagonal)
    _, _, scale, _ = model.profiled(lam_of(theta), reml)
    varpar = np.append(theta, math.sqrt(scale))
    H = hessian(lambda v: model.deviance(v, lam_of, reml), varpar)
    w, U = np.linalg.eigh((H + H.T) / 2)
    pos = w > EIGEN_TOL
    vcov_varpar = 2 * (U[:, pos] / w[pos]) @ U[:, pos].T
    V = model.vcov(varpar, lam_of)
    J = jacobian(lambda v: model.vcov(v, lam_of), varpar)  # (p, p, n_varpar)
    L = np.eye(model.p) if contrasts is None else np.atleast_2d(np.asarray(contrasts, float))
    df = np.full(len(L), math.nan)
    for i, c in enumerate(L):
        g = np.einsum("i,ijk,j->k", c, J, c)
        denom = float(g @ vcov_varpar @ g)
        df[i] = 2 * float(c @ V @ c) ** 2 / denom if denom > 0 else math.nan
    return Satterthwaite(df, varpar, vcov_varpar, w)
