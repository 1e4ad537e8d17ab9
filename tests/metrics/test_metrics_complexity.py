"""LZ76 complexity, metastability and O-information on known examples."""

from __future__ import annotations

import numpy as np
import pytest

from omnimind.errors import MetricError
from omnimind.metrics import LaggedCovariance, lempel_ziv_complexity, lz76, metastability, o_information


def _lz_reference(s: bytes) -> int:
    """Textbook LZ76: grow each phrase while it occurs starting earlier (quadratic, independent)."""
    n, i, c = len(s), 0, 0
    while i < n:
        length = 1
        while i + length <= n and s.find(s[i : i + length], 0, i + length - 1) != -1:
            length += 1
        c += 1
        i += length
    return c


def test_lz76_textbook_example() -> None:
    # Kaspar & Schuster 1987: 0·001·10·100·1000·101
    assert lz76(bytes([0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1])) == 6
    assert lz76(b"") == 0
    assert lz76(bytes([1])) == 1
    assert lz76(bytes([0] * 1000)) == 2


def test_lz76_matches_reference_on_random_and_regular_strings() -> None:
    rng = np.random.default_rng(0)
    for k in range(150):
        s = rng.integers(0, 2, size=int(rng.integers(1, 300))).astype(np.uint8)
        if k % 3 == 0:
            s = np.repeat(s, int(rng.integers(2, 60)))
        if k % 5 == 0:
            s = np.tile(s[:7], 40)
        assert lz76(s.tobytes()) == _lz_reference(s.tobytes())


def test_lz_constant_low_random_near_one() -> None:
    rng = np.random.default_rng(1)
    noise = lempel_ziv_complexity(rng.normal(size=(4000, 8)))
    assert noise == pytest.approx(1.0, abs=0.1)
    assert lempel_ziv_complexity(np.zeros((4000, 8)) + np.arange(8)) < 0.01
    t = np.arange(4000)
    assert lempel_ziv_complexity(np.sin(0.05 * t)[:, None] * np.ones((1, 4))) < 0.05
    shuf = lempel_ziv_complexity(rng.normal(size=(2000, 4)), normalise="shuffle", rng=rng)
    assert shuf == pytest.approx(1.0, abs=0.1)
    with pytest.raises(MetricError):
        lempel_ziv_complexity(rng.normal(size=(100, 2)), normalise="shuffle")


def test_metastability_known_examples() -> None:
    t = np.arange(8000) * 0.01
    locked = np.stack([np.sin(2 * np.pi * 1.0 * t + p) for p in (0.0, 0.7, 2.0, 3.0)], axis=1)
    assert metastability(locked, [[0], [1], [2], [3]]) < 1e-6
    # two oscillators drifting: R(t) = |cos(Δω t / 2)|, var = 1/2 − 4/π²
    drift = np.stack([np.sin(2 * np.pi * 1.0 * t), np.sin(2 * np.pi * 1.25 * t)], axis=1)
    assert metastability(drift, [[0], [1]], trim=0.05) == pytest.approx(0.5 - 4 / np.pi**2, abs=2e-3)
    # modules of several columns use their first principal component
    wide = np.hstack([locked[:, :1], 2 * locked[:, :1], locked[:, 1:2], -locked[:, 1:2]])
    assert metastability(wide, [[0, 1], [2, 3]]) < 1e-6
    with pytest.raises(MetricError):
        metastability(locked, [[0, 1, 2, 3]])


def test_o_information_signs() -> None:
    rng = np.random.default_rng(2)
    # independent variables: Ω = 0 exactly from the covariance
    assert o_information(LaggedCovariance(np.diag([1.0, 2.0, 3.0]), np.zeros((3, 3)))) == pytest.approx(0.0)
    # redundancy: three noisy copies of one source -> Ω > 0
    z = rng.normal(size=(20000, 1))
    red = z + 0.3 * rng.normal(size=(20000, 3))
    assert o_information(red) > 0.1
    # synergy: x3 = x1 + x2 + small noise -> Ω < 0
    x = rng.normal(size=(20000, 2))
    syn = np.hstack([x, x.sum(axis=1, keepdims=True) + 0.3 * rng.normal(size=(20000, 1))])
    assert o_information(syn) < -0.1
    # closed form for a Gaussian with equal correlation r between 3 unit variables
    r = 0.5
    S = (1 - r) * np.eye(3) + r * np.ones((3, 3))
    H = lambda M: 0.5 * np.log(np.linalg.det(M))  # noqa: E731  (constants cancel)
    expected = 1 * H(S) + 3 * (H(S[:1, :1]) - H(S[1:, 1:]))
    assert o_information(LaggedCovariance(S, np.zeros((3, 3)))) == pytest.approx(expected)
    with pytest.raises(MetricError):
        o_information(red, [[0, 1], [2]])


def test_pc_signs_do_not_depend_on_lapack(monkeypatch: pytest.MonkeyPatch) -> None:
    """SVD signs are arbitrary (and flip under 1e-15 perturbations); metastability and PCA scores must not
    follow them. A LAPACK that returned every singular vector negated must give identical results."""
    from omnimind.metrics import reduce_modules
    from omnimind.metrics.complexity import metastability

    rng = np.random.default_rng(11)
    t = np.arange(3000)
    X = np.column_stack([np.sin(0.05 * t + k) + 0.3 * rng.standard_normal(3000) for k in range(6)])
    groups = [[0, 1], [2, 3], [4, 5]]
    want_meta = metastability(X, groups)
    want_scores = reduce_modules(X, groups, 1).X
    real_svd = np.linalg.svd

    def flipped(a: np.ndarray, full_matrices: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u, s, vt = real_svd(a, full_matrices=full_matrices)
        return -u, s, -vt

    monkeypatch.setattr(np.linalg, "svd", flipped)
    assert metastability(X, groups) == want_meta
    np.testing.assert_array_equal(reduce_modules(X, groups, 1).X, want_scores)
