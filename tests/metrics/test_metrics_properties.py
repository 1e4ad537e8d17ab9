"""Properties of the Gaussian measures on exact VAR(1) covariances (hypothesis-generated systems)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_helpers import random_var

from omnimind.metrics import (
    MEASURE_NAMES,
    LaggedCovariance,
    causal_density,
    measures,
    phi_g_details,
    phi_star_details,
    phi_tilde,
    phi_wms,
    tdmi,
)

SETTINGS = settings(max_examples=25, deadline=None)
sizes_st = st.lists(st.integers(min_value=1, max_value=3), min_size=2, max_size=3)
seed_st = st.integers(min_value=0, max_value=2**32 - 1)
radius_st = st.floats(min_value=0.2, max_value=0.9)


@SETTINGS
@given(sizes=sizes_st, seed=seed_st, radius=radius_st)
def test_block_diagonal_system_has_zero_integration(sizes: list[int], seed: int, radius: float) -> None:
    A, N, parts = random_var(np.random.default_rng(seed), sizes, coupled=False, radius=radius)
    cov = LaggedCovariance.from_var(A, N)
    m = measures(cov, parts)
    for key in ("phi_wms", "phi_tilde", "phi_star", "phi_g", "phi_r", "causal_density"):
        assert abs(m[key]) < 1e-9, (key, m[key])
    assert m["tdmi"] > 0
    # psi's documented flaw: positive for disconnected autocorrelated parts
    assert m["psi"] > 1e-6


def test_block_diagonal_detects_any_cross_coupling() -> None:
    """The zero test above can fail: one small cross-part coupling makes every Φ strictly positive."""
    A, N, parts = random_var(np.random.default_rng(3), [2, 2], coupled=False)
    A[0, 3] = 0.2
    m = measures(LaggedCovariance.from_var(A, N), parts)
    for key in ("phi_tilde", "phi_star", "phi_g", "causal_density"):
        assert m[key] > 1e-4, key


@SETTINGS
@given(s1=sizes_st, s2=sizes_st, seed=seed_st)
def test_values_add_over_independent_subsystems(s1: list[int], s2: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    A1, N1, p1 = random_var(rng, s1)
    A2, N2, p2 = random_var(rng, s2)
    d1 = A1.shape[0]
    A = scipy.linalg.block_diag(A1, A2)
    N = scipy.linalg.block_diag(N1, N2)
    parts = p1 + [[i + d1 for i in p] for p in p2]
    c1, c2 = LaggedCovariance.from_var(A1, N1), LaggedCovariance.from_var(A2, N2)
    c = LaggedCovariance.from_var(A, N)
    m, m1, m2 = measures(c, parts), measures(c1, p1), measures(c2, p2)
    for key in ("tdmi", "phi_wms", "phi_tilde", "phi_g"):
        assert m[key] == pytest.approx(m1[key] + m2[key], abs=1e-7), key
    # Φ* uses one β for the whole system, so it is only super-additive.
    assert m["phi_star"] >= m1["phi_star"] + m2["phi_star"] - 1e-9


@SETTINGS
@given(sizes=sizes_st, seed=seed_st, radius=radius_st)
def test_bounds(sizes: list[int], seed: int, radius: float) -> None:
    A, N, parts = random_var(np.random.default_rng(seed), sizes, radius=radius)
    m = measures(LaggedCovariance.from_var(A, N), parts)
    assert -1e-10 <= m["phi_star"] <= m["tdmi"] + 1e-10
    assert -1e-10 <= m["phi_g"] <= min(m["tdmi"], m["phi_tilde"]) + 1e-9
    assert m["phi_tilde"] >= -1e-10
    assert m["causal_density"] >= -1e-10


@SETTINGS
@given(s1=st.integers(1, 3), s2=st.integers(1, 3), seed=seed_st)
def test_phi_tilde_minus_wms_is_instantaneous_mi(s1: int, s2: int, seed: int) -> None:
    A, N, parts = random_var(np.random.default_rng(seed), [s1, s2])
    cov = LaggedCovariance.from_var(A, N)
    S = cov.sigma
    a, b = parts
    # independent route: MI between the parts at time t from determinant ratios, via eigenvalues
    ev = np.linalg.eigvalsh
    inst = 0.5 * (np.sum(np.log(ev(S[np.ix_(a, a)]))) + np.sum(np.log(ev(S[np.ix_(b, b)]))) - np.sum(np.log(ev(S))))
    assert phi_tilde(cov, parts) - phi_wms(cov, parts) == pytest.approx(inst, abs=1e-9)


def _block_transform(rng: np.random.Generator, parts: list[list[int]]) -> np.ndarray:
    D = sum(len(p) for p in parts)
    T = np.zeros((D, D))
    for p in parts:
        while True:
            M = rng.normal(size=(len(p), len(p)))
            if abs(np.linalg.det(M)) > 0.2:
                break
        T[np.ix_(p, p)] = M
    return T


@SETTINGS
@given(sizes=sizes_st, seed=seed_st)
def test_invariance_to_invertible_maps_within_parts(sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    A, N, parts = random_var(rng, sizes)
    L = _block_transform(rng, parts)
    # Y = L X is again a VAR(1): Y_t = (L A L^-1) Y_{t-1} + L eps
    A2 = L @ A @ np.linalg.inv(L)
    N2 = L @ N @ L.T
    m1 = measures(LaggedCovariance.from_var(A, N), parts)
    m2 = measures(LaggedCovariance.from_var(A2, 0.5 * (N2 + N2.T)), parts)
    for key in MEASURE_NAMES:
        assert m2[key] == pytest.approx(m1[key], abs=1e-6, rel=1e-6), key


@SETTINGS
@given(sizes=sizes_st, seed=seed_st)
def test_phi_star_single_part_recovers_mi_at_beta_one(sizes: list[int], seed: int) -> None:
    A, N, _ = random_var(np.random.default_rng(seed), sizes)
    cov = LaggedCovariance.from_var(A, N)
    r = phi_star_details(cov, [list(range(cov.dim))])
    assert r.converged
    assert r.i_star == pytest.approx(tdmi(cov), abs=1e-9)
    assert r.beta == pytest.approx(1.0, abs=1e-4)


def test_phi_g_reports_convergence_and_iterations() -> None:
    A, N, parts = random_var(np.random.default_rng(7), [3, 3], radius=0.95, noise_corr=0.8)
    r = phi_g_details(LaggedCovariance.from_var(A, N), parts)
    assert r.converged and r.iterations >= 1
    short = phi_g_details(LaggedCovariance.from_var(A, N), parts, max_iter=1)
    assert not short.converged


def test_causal_density_counts_only_cross_part_influence() -> None:
    """Noise correlation alone (no lagged coupling) gives CD = 0 but Φ̃ > 0."""
    A, N, parts = random_var(np.random.default_rng(11), [2, 2], coupled=False)
    N = N + 0.3 * np.ones_like(N) - np.diag(np.full(4, 0.3)) + np.eye(4)
    cov = LaggedCovariance.from_var(A, N)
    assert causal_density(cov, parts) == pytest.approx(0.0, abs=1e-9)
    assert phi_tilde(cov, parts) > 1e-3
