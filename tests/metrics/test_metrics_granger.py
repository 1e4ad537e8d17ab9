"""Conditional Granger causality between modules with F-test p-values."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from metrics_helpers import simulate_var

from omnimind.metrics import LaggedCovariance, conditional_transfer_entropy, granger_causality


def _chain_system() -> tuple[np.ndarray, np.ndarray]:
    # module 0 -> module 1 -> module 2 (2 columns each); no direct 0 -> 2 link
    A = np.zeros((6, 6))
    for m in range(3):
        A[2 * m : 2 * m + 2, 2 * m : 2 * m + 2] = [[0.5, 0.1], [-0.1, 0.4]]
    A[2:4, 0:2] = [[0.4, 0.0], [0.0, 0.3]]
    A[4:6, 2:4] = [[0.3, 0.1], [0.0, 0.4]]
    return A, np.eye(6)


def test_granger_recovers_chain_and_matches_population_te() -> None:
    A, N = _chain_system()
    X = simulate_var(A, N, 20000, np.random.default_rng(0))
    groups = [[0, 1], [2, 3], [4, 5]]
    r = granger_causality(X, groups)
    p = np.array(r.pvalues, dtype=float)
    assert p[0, 1] < 1e-10 and p[1, 2] < 1e-10
    for i, j in [(0, 2), (1, 0), (2, 1), (2, 0)]:
        assert p[i, j] > 1e-3, (i, j)
    cov = LaggedCovariance.from_var(A, N)
    te = conditional_transfer_entropy(cov, groups[0], groups[1])
    assert r.gc[0][1] / 2 == pytest.approx(te, abs=0.01)  # GC = 2 x transfer entropy (Gaussian)
    assert np.isnan(r.gc[0][0])
    assert r.to_dict()["gc"][0][0] is None  # type: ignore[index]


def test_granger_univariate_f_equals_classic_f_test() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=500)
    y = np.zeros(500)
    for t in range(1, 500):
        y[t] = 0.3 * y[t - 1] + 0.2 * x[t - 1] + rng.normal()
    X = np.stack([x, y], axis=1)
    r = granger_causality(X, [[0], [1]])
    # classic nested-regression F-test written out
    Z = np.column_stack([np.ones(499), x[:-1], y[:-1]])
    Zr = np.column_stack([np.ones(499), y[:-1]])
    rss = lambda D: float(np.sum((y[1:] - D @ np.linalg.lstsq(D, y[1:], rcond=None)[0]) ** 2))  # noqa: E731
    F = (rss(Zr) - rss(Z)) / 1 / (rss(Z) / (499 - 3))
    assert r.f_stat[0][1] == pytest.approx(F, rel=1e-9)
    assert r.pvalues[0][1] == pytest.approx(scipy.stats.f.sf(F, 1, 496), rel=1e-9)


def test_granger_null_pvalues_are_roughly_uniform() -> None:
    rng = np.random.default_rng(4)
    ps = []
    for _ in range(60):
        X = rng.normal(size=(300, 4))
        ps.append(granger_causality(X, [[0, 1], [2, 3]]).pvalues[0][1])
    assert 0.3 < float(np.mean(ps)) < 0.7
    assert float(np.mean(np.array(ps) < 0.05)) < 0.15
