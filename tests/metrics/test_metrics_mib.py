"""Minimum information bipartition: enumeration, vectorised values, exhaustive vs heuristic search."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_helpers import random_var

from omnimind.metrics import (
    FAST_MEASURES,
    LaggedCovariance,
    bipartition_values,
    mib,
    module_bipartitions,
    phi_wms,
)
from omnimind.metrics import integration as integ


def test_bipartition_count_and_uniqueness() -> None:
    for n in range(2, 9):
        masks = module_bipartitions(n)
        assert masks.shape == (2 ** (n - 1) - 1, n)
        assert not masks[:, -1].any()  # canonical: last module always in the complement
        assert masks.any(axis=1).all()
        assert len({m.tobytes() for m in masks}) == masks.shape[0]


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
def test_vectorised_values_equal_single_partition_functions(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in rng.integers(1, 3, size=n)]
    A, N, groups = random_var(rng, sizes)
    cov = LaggedCovariance.from_var(A, N)
    masks = module_bipartitions(n)
    vals, K = bipartition_values(cov, groups, masks)
    for r, mask in enumerate(masks):
        S = [c for m in range(n) if mask[m] for c in groups[m]]
        C = [c for m in range(n) if not mask[m] for c in groups[m]]
        for name in FAST_MEASURES:
            assert vals[name][r] == pytest.approx(getattr(integ, name)(cov, [S, C]), abs=1e-9), name
        h = [0.5 * (len(p) * np.log(2 * np.pi * np.e) + np.linalg.slogdet(cov.sigma[np.ix_(p, p)])[1]) for p in (S, C)]
        assert K[r] == pytest.approx(min(h), abs=1e-9)


def _split(groups: list[list[int]], mask: np.ndarray) -> list[list[int]]:
    n = len(groups)
    return [
        [c for m in range(n) if mask[m] for c in groups[m]],
        [c for m in range(n) if not mask[m] for c in groups[m]],
    ]


def _planted(
    rng: np.random.Generator, n_a: int, n_b: int, d: int = 2
) -> tuple[LaggedCovariance, list[list[int]], list[list[int]]]:
    """Two strongly coupled clusters of modules, weakly coupled to each other; modules interleaved.

    Returns the covariance, the planted module bipartition and the column groups.
    """
    A1, N1, _ = random_var(rng, [d] * n_a, radius=0.8)
    A2, N2, _ = random_var(rng, [d] * n_b, radius=0.8)
    A = scipy.linalg.block_diag(A1, A2)
    A[: d * n_a, d * n_a :] += 0.01 * rng.normal(size=(d * n_a, d * n_b))
    N = scipy.linalg.block_diag(N1, N2)
    n = n_a + n_b
    slot = rng.permutation(n)  # module m of the reported system is original module slot[m]
    cols = np.concatenate([np.arange(slot[m] * d, slot[m] * d + d) for m in range(n)])
    P = np.eye(n * d)[cols]
    cov = LaggedCovariance.from_var(P @ A @ P.T, P @ N @ P.T)
    groups = [list(range(m * d, m * d + d)) for m in range(n)]
    first = [m for m in range(n) if slot[m] < n_a]
    return cov, [first, [m for m in range(n) if m not in first]], groups


def test_exhaustive_mib_finds_planted_cut_and_matches_brute_force() -> None:
    rng = np.random.default_rng(5)
    cov, truth, groups = _planted(rng, 3, 3)
    res = mib(cov, groups, normalise=False)
    assert sorted(map(sorted, res.modules)) == sorted(map(sorted, truth))
    best = min(phi_wms(cov, _split(groups, mk)) for mk in module_bipartitions(6))  # plain function
    assert res.value == pytest.approx(best, abs=1e-12)
    assert res.method == "exhaustive" and res.n_evaluated == 31


def test_heuristic_agrees_with_exhaustive_on_planted_system() -> None:
    rng = np.random.default_rng(9)
    cov, truth, groups = _planted(rng, 4, 5)
    ex = mib(cov, groups)
    he = mib(cov, groups, exhaustive_limit=4)
    assert he.method.startswith("heuristic")
    assert he.n_evaluated < 2**8 - 1
    assert sorted(map(sorted, he.modules)) == sorted(map(sorted, ex.modules)) == sorted(map(sorted, truth))
    assert he.value == pytest.approx(ex.value)


def test_mib_with_slow_measures_and_errors() -> None:
    rng = np.random.default_rng(1)
    A, N, groups = random_var(rng, [1, 1, 2])
    cov = LaggedCovariance.from_var(A, N)
    r = mib(cov, groups, measure="phi_g", normalise=False)
    assert r.n_evaluated == 3 and r.value >= 0
    with pytest.raises(Exception, match="unknown MIB measure"):
        mib(cov, groups, measure="nope")
    with pytest.raises(Exception, match="at least two modules"):
        mib(cov, [[0, 1, 2, 3]])
    # tiny-variance data: differential entropies negative -> normaliser K <= 0 must be reported
    tiny = LaggedCovariance(cov.sigma * 1e-6, cov.cross * 1e-6)
    with pytest.raises(Exception, match="normaliser") as ei:
        mib(tiny, groups)
    assert "standardise" in ei.value.hint  # type: ignore[attr-defined]
    assert mib(tiny, groups, normalise=False).normalised_value is None
