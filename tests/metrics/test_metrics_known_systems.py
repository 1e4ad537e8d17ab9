"""Φ values of small published systems against independent derivations (not the library's code path)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from metrics_helpers import random_var, simulate_var

from omnimind.metrics import MEASURE_NAMES, LaggedCovariance, measures


def test_barrett_seth_two_node_closed_form() -> None:
    """Barrett & Seth 2011 two-node system A = [[a, a], [a, a]], unit independent noise.

    Derivation (by hand): A^k = a^k 2^(k-1) 11ᵀ, so Σ = Σ_k A^k A^kᵀ = I + s 11ᵀ with s = 2a²/(1−4a²).
    Each node: variance v = (1−2a²)/(1−4a²), lag-1 autocovariance γ = a/(1−4a²), so ρ = γ/v = a/(1−2a²).
    TDMI = ½ log det Σ / det Σ_ε = ½ log(1+2s) = −½ log(1−4a²); node MI = −½ log(1−ρ²).
    Φ_WMS = −½ log(1−4a²) + log(1−ρ²); Φ̃ = log(v(1−ρ²)) (sum of node conditional entropies − noise entropy).
    """
    for a in (0.05, 0.2, 0.35, 0.45):
        A = np.array([[a, a], [a, a]])
        m = measures(LaggedCovariance.from_var(A, np.eye(2)), [[0], [1]])
        rho = a / (1 - 2 * a**2)
        v = (1 - 2 * a**2) / (1 - 4 * a**2)
        assert m["tdmi"] == pytest.approx(-0.5 * np.log(1 - 4 * a**2), abs=1e-12)
        assert m["phi_wms"] == pytest.approx(-0.5 * np.log(1 - 4 * a**2) + np.log(1 - rho**2), abs=1e-12)
        assert m["phi_tilde"] == pytest.approx(np.log(v * (1 - rho**2)), abs=1e-12)


def _two_node_reference(A: np.ndarray, N: np.ndarray) -> dict[str, float]:
    """Scalar-formula reference for 2 nodes: vec-Lyapunov, 2x2 determinants written out."""
    S = np.linalg.solve(np.eye(4) - np.kron(A, A), N.reshape(-1)).reshape(2, 2)  # Σ = AΣAᵀ + N
    G = S @ A.T  # E[X_{t-1} X_tᵀ]
    det = lambda M: M[0, 0] * M[1, 1] - M[0, 1] * M[1, 0]  # noqa: E731
    v = np.diag(S)
    i_self = [-0.5 * np.log(1 - G[i, i] ** 2 / v[i] ** 2) for i in range(2)]
    i_cross = {(i, j): -0.5 * np.log(1 - G[i, j] ** 2 / (v[i] * v[j])) for i in range(2) for j in range(2)}
    tdmi = 0.5 * np.log(det(S) / det(N))
    wms = tdmi - sum(i_self)
    tilde = 0.5 * sum(np.log(v[i] - G[i, i] ** 2 / v[i]) for i in range(2)) - 0.5 * np.log(det(N))
    # TE i->j given j's own past: var(x_j|x_j past) vs var(x_j|both pasts) = N_jj
    te = [0.5 * np.log((v[j] - G[j, j] ** 2 / v[j]) / N[j, j]) for j in (1, 0)]
    # I(x_i past; X_t) = ½ log det Σ / det(Σ − g gᵀ / v_i) with g = row i of Γ
    i_px = [0.5 * np.log(det(S) / det(S - np.outer(G[i], G[i]) / v[i])) for i in range(2)]
    return {
        "tdmi": tdmi,
        "phi_wms": wms,
        "phi_tilde": tilde,
        "causal_density": 0.5 * sum(te),
        "psi": tdmi - max(i_px),
        "phi_r": wms + min(i_cross.values()),
        "_S": S,  # type: ignore[dict-item]
    }


def _phi_g_bruteforce(A: np.ndarray, N: np.ndarray, S: np.ndarray) -> float:
    """Φ_G by Nelder–Mead over the diagonal A' (the cut model), Σ'_E profiled out in closed form."""

    def f(d: np.ndarray) -> float:
        R = A - np.diag(d)
        M = N + R @ S @ R.T
        return 0.5 * np.log((M[0, 0] * M[1, 1] - M[0, 1] ** 2) / (N[0, 0] * N[1, 1] - N[0, 1] ** 2))

    res = scipy.optimize.minimize(
        f, np.diag(A), method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-15, "maxiter": 20000}
    )
    return float(res.fun)


def _phi_star_quadrature(A: np.ndarray, N: np.ndarray, S: np.ndarray, n: int = 36) -> float:
    """Φ* = I − max_β Ĩ(β) with Ĩ evaluated from the densities by 4-D Gauss–Hermite quadrature.

    Ĩ(β) = β E_{p(x,y)}[log q(y|x)] − E_{p(y)} log E_{p(x)}[q(y|x)^β], q(y|x) = Π_i p(y_i | x_i).
    """
    G = S @ A.T
    v = np.diag(S)
    a_d = np.diag(G) / v  # own-past regression per node
    s_d = v - np.diag(G) ** 2 / v  # own-past residual variance per node
    z, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    Zi, Zj = np.meshgrid(z, z, indexing="ij")
    W2 = np.outer(w, w).reshape(-1)
    Z2 = np.stack([Zi.reshape(-1), Zj.reshape(-1)], axis=1)  # standard normal nodes in 2-D
    Lx = np.linalg.cholesky(S)
    xs = Z2 @ Lx.T  # nodes for p(x) = p(y) = N(0, S)

    def log_q(y: np.ndarray, x: np.ndarray) -> np.ndarray:  # y: (ny,2), x: (nx,2) -> (ny,nx)
        r = y[:, None, :] - a_d[None, None, :] * x[None, :, :]
        return np.sum(-0.5 * r**2 / s_d - 0.5 * np.log(2 * np.pi * s_d), axis=-1)

    lq = log_q(xs, xs)  # y nodes x x nodes (y and x share the marginal N(0, S))
    # E_{p(x,y)} log q(y|x) is a Gaussian second moment: E(y_i − a_i x_i)² = S_ii − 2 a_i G_ii + a_i² S_ii
    msq = v - 2 * a_d * np.diag(G) + a_d**2 * v
    joint_term = float(np.sum(-0.5 * msq / s_d - 0.5 * np.log(2 * np.pi * s_d)))

    def itilde(beta: float) -> float:
        inner = scipy.special.logsumexp(beta * lq, b=W2[None, :], axis=1)
        return beta * joint_term - float(W2 @ inner)

    res = scipy.optimize.minimize_scalar(
        lambda b: -itilde(b), bounds=(0.0, 20.0), method="bounded", options={"xatol": 1e-10}
    )
    tdmi = 0.5 * np.log(np.linalg.det(S) / np.linalg.det(N))
    return float(tdmi + res.fun)


@pytest.mark.parametrize(
    ("A", "c"),
    [
        (np.array([[0.4, 0.4], [0.4, 0.4]]), 0.0),  # Barrett & Seth 2011 / Mediano et al. 2019 example
        (np.array([[0.4, 0.4], [0.4, 0.4]]), 0.3),  # same with correlated noise (Mediano et al. 2019 Fig. 3)
        (np.array([[0.5, -0.3], [0.2, 0.1]]), -0.2),
    ],
)
def test_two_node_systems_against_independent_derivation(A: np.ndarray, c: float) -> None:
    N = np.array([[1.0, c], [c, 1.0]])
    m = measures(LaggedCovariance.from_var(A, N), [[0], [1]])
    ref = _two_node_reference(A, N)
    S = ref.pop("_S")
    for key, val in ref.items():
        assert m[key] == pytest.approx(val, abs=1e-10), key
    assert m["phi_g"] == pytest.approx(_phi_g_bruteforce(A, N, S), abs=1e-8)
    assert m["phi_star"] == pytest.approx(_phi_star_quadrature(A, N, S), abs=1e-6)


def test_sample_estimates_converge_to_exact_values() -> None:
    rng = np.random.default_rng(2024)
    A, N, parts = random_var(rng, [2, 2], radius=0.7)
    exact = measures(LaggedCovariance.from_var(A, N), parts)
    X = simulate_var(A, N, 200_000, rng)
    err_short = {k: abs(measures(LaggedCovariance.from_samples(X[:2000]), parts)[k] - exact[k]) for k in MEASURE_NAMES}
    err_long = {k: abs(measures(LaggedCovariance.from_samples(X), parts)[k] - exact[k]) for k in MEASURE_NAMES}
    for k in MEASURE_NAMES:
        assert err_short[k] < 0.1, (k, err_short[k])  # bias ~ d1 d2 / T plus O(1/sqrt(T)) noise
        assert err_long[k] < 0.01, (k, err_long[k])
    assert sum(err_long.values()) < sum(err_short.values())
