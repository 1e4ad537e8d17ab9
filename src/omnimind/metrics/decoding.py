"""Φ*: integrated information from mismatched decoding (Oizumi et al. 2016, PLoS Comput Biol 12:e1004654)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.optimize import brentq, minimize_scalar

from omnimind.errors import MetricError
from omnimind.metrics._linalg import PCA_HINT, Partition, validate_partition
from omnimind.metrics.covariance import LaggedCovariance

#: Required accuracy (nats) of the maximised I*; certified by concavity (see `_certify`).
TOL = 1e-6


@dataclass(frozen=True)
class PhiStarResult:
    """Φ* = I − I*, with the maximiser β*, the certified optimality gap and a convergence flag."""

    value: float
    mi: float
    i_star: float
    beta: float
    gap_bound: float
    converged: bool


class _Itilde:
    """Ĩ(β) for Gaussians, reduced to eigen-coordinates so each evaluation costs O(D).

    X = past, Y = present; the mismatched decoder is q(Y|X) = Π_k p(M^k_t | M^k_{t−τ}) =
    N(A_d X, Σ_d) with block-diagonal A_d, Σ_d. With W = Σ_d⁻¹, M = A_dᵀ W A_d, Σ = LLᵀ,
    LᵀML = V diag(λ) Vᵀ, G = Vᵀ Lᵀ A_dᵀ W Σ W A_d L V and c = tr(W(A_dΓ + ΓᵀA_dᵀ − A_dΣA_dᵀ)):
        Ĩ(β) = ½ Σ log(1+βλ_i) + ½βc − ½β² Σ G_ii/(1+βλ_i).
    (Equivalent to Oizumi et al. 2016, eq. 26 and the PhiToolbox implementation, where the last term of
    the paper's form, −β tr(W R)/2, reduces to −βD/2 because W is block-diagonal.)
    """

    def __init__(self, cov: LaggedCovariance, parts: list[list[int]]) -> None:
        D = cov.dim
        S, Gm = cov.sigma, cov.cross
        Ad = np.zeros((D, D))
        Sd = np.zeros((D, D))
        for p in parts:
            ip = np.ix_(p, p)
            s_pp, g_pp = S[ip], Gm[ip]
            a = np.linalg.solve(s_pp, g_pp).T  # Γ_ppᵀ Σ_pp⁻¹
            Ad[ip] = a
            Sd[ip] = s_pp - a @ g_pp
        try:
            W = np.linalg.inv(Sd)
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError as exc:
            raise MetricError("a part's conditional covariance is singular", PCA_HINT) from exc
        W = 0.5 * (W + W.T)
        B = W @ Ad @ L  # W A_d L
        Mt = (Ad @ L).T @ B  # Lᵀ A_dᵀ W A_d L
        lam, V = scipy.linalg.eigh(0.5 * (Mt + Mt.T))
        self.lam = np.clip(lam, 0.0, None)
        BV = B @ V
        self.g = np.einsum("ij,ij->j", BV, S @ BV)
        self.c = float(np.trace(W @ (Ad @ Gm + Gm.T @ Ad.T - Ad @ S @ Ad.T)))

    def value(self, beta: float) -> float:
        d = 1.0 + beta * self.lam
        return float(0.5 * np.sum(np.log(d)) + 0.5 * beta * self.c - 0.5 * beta**2 * np.sum(self.g / d))

    def deriv(self, beta: float) -> float:
        d = 1.0 + beta * self.lam
        quad = np.sum(self.g * beta * (2.0 + beta * self.lam) / (2 * d**2))
        return float(0.5 * np.sum(self.lam / d) + 0.5 * self.c - quad)


def _certify(f: _Itilde, beta: float, upper: float) -> float:
    """Upper bound on max Ĩ − Ĩ(β) for concave Ĩ on [0, upper]: f'(β)·(β_opt − β) bounded on the interval."""
    g = f.deriv(beta)
    return max(g * (upper - beta), -g * beta, 0.0)


def phi_star_details(cov: LaggedCovariance, partition: Partition, tol: float = TOL) -> PhiStarResult:
    """Φ* with optimisation diagnostics: I* = max_{β≥0} Ĩ(β) found by bounded Brent search, then certified."""
    from omnimind.metrics.integration import tdmi

    parts = validate_partition(partition, cov.dim)
    mi = tdmi(cov)
    f = _Itilde(cov, parts)
    if f.deriv(0.0) <= 0.0:  # concave and non-increasing from β=0: I* = Ĩ(0) = 0
        return PhiStarResult(mi, mi, 0.0, 0.0, 0.0, True)
    upper = 1.0
    while f.deriv(upper) > 0.0:
        upper *= 2.0
        if upper > 1e12:
            raise MetricError(
                "Φ*: Ĩ(β) keeps increasing for β up to 1e12 (degenerate decoder)",
                "the parts' conditional covariances are near-singular; " + PCA_HINT,
            )
    res = minimize_scalar(
        lambda b: -f.value(float(b)),
        bounds=(0.0, upper),
        method="bounded",
        options={"xatol": 1e-12 * upper, "maxiter": 500},
    )
    beta = float(res.x)
    gap = _certify(f, beta, upper)
    if gap > tol:  # polish: root of the (monotone) derivative
        beta = float(brentq(f.deriv, 0.0, upper, xtol=1e-15, rtol=1e-15, maxiter=500))
        gap = _certify(f, beta, upper)
    i_star = f.value(beta)
    return PhiStarResult(mi - i_star, mi, i_star, beta, gap, gap <= tol)


def phi_star(cov: LaggedCovariance, partition: Partition) -> float:
    """Φ* = I(X_{t−τ};X_t) − I*, I* = max_β Ĩ(β) under the disconnected decoder Π_k p(M^k_t|M^k_{t−τ}) (nats).

    Oizumi, Amari, Yanagawa, Fujii, Tsuchiya 2016, PLoS Comput Biol 12:e1004654; Gaussian form as in
    Mediano et al. 2019. 0 ≤ Φ* ≤ I. Raises MetricError if the 1-D maximisation is not certified to 1e-6.
    """
    r = phi_star_details(cov, partition)
    if not r.converged:
        raise MetricError(
            f"Φ* maximisation over β did not converge (optimality gap bound {r.gap_bound:.3g} > {TOL})",
            "the decoder is ill-conditioned; reduce dimensions (pca_k) or use phi_star_details to inspect",
        )
    return r.value


__all__ = ["PhiStarResult", "phi_star", "phi_star_details"]
