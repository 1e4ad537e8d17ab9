"""Shared helpers for the metrics tests: random stable VAR(1) systems and simulation."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F = NDArray[np.float64]


def random_var(
    rng: np.random.Generator, sizes: list[int], coupled: bool = True, radius: float = 0.8, noise_corr: float = 0.3
) -> tuple[F, F, list[list[int]]]:
    """A random stable VAR(1) (A, noise_cov, partition). coupled=False makes both block-diagonal."""
    D = sum(sizes)
    parts: list[list[int]] = []
    start = 0
    for s in sizes:
        parts.append(list(range(start, start + s)))
        start += s
    A = rng.normal(size=(D, D))
    B = rng.normal(size=(D, D))
    N = B @ B.T / D + np.eye(D) * 0.5
    N = (1 - noise_corr) * np.diag(np.diag(N)) + noise_corr * N
    if not coupled:
        mask = np.zeros((D, D), dtype=bool)
        for p in parts:
            mask[np.ix_(p, p)] = True
        A = np.where(mask, A, 0.0)
        N = np.where(mask, N, 0.0)
    rho = float(np.max(np.abs(np.linalg.eigvals(A))))
    A = A * (radius / rho)
    return A, N, parts


def simulate_var(A: F, N: F, T: int, rng: np.random.Generator, burn: int = 500) -> F:
    """Simulate X_t = A X_{t-1} + eps_t, eps ~ N(0, N)."""
    D = A.shape[0]
    L = np.linalg.cholesky(N)
    eps = rng.standard_normal((T + burn, D)) @ L.T
    X = np.empty((T + burn, D))
    x = np.zeros(D)
    At = A.T
    for t in range(T + burn):
        x = x @ At + eps[t]
        X[t] = x
    return X[burn:]
