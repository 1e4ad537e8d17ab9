"""analyze_window, registry and surrogates: JSON output, determinism, nulls that behave."""

from __future__ import annotations

import json

import numpy as np
import pytest
from metrics_helpers import random_var, simulate_var

from omnimind.errors import MetricError
from omnimind.metrics import (
    DEFAULT_MEASURES,
    MEASURE_NAMES,
    MetricRegistry,
    WindowData,
    analyze_window,
    default_registry,
    make_surrogate,
    metastability,
    null_stats,
    reduce_modules,
    surrogate_test,
)


@pytest.fixture(scope="module")
def coupled_window() -> tuple[np.ndarray, list[list[int]]]:
    rng = np.random.default_rng(10)
    A, N, groups = random_var(rng, [3, 3, 3], radius=0.8)
    return simulate_var(A, N, 2000, rng), groups


def test_defaults_are_phi_lz_metastability_and_json(coupled_window: tuple[np.ndarray, list[list[int]]]) -> None:
    X, groups = coupled_window
    out = analyze_window(X, groups, window=(100, 2100))
    text = json.dumps(out, allow_nan=False)
    back = json.loads(text)
    assert list(back["measures"]) == list(DEFAULT_MEASURES)
    assert {m["symbol"] for m in back["measures"].values()} == {"Φ", "Ψ", "σ"}
    assert back["partition"]["method"] == "exhaustive" and back["partition"]["n_evaluated"] == 3
    assert back["window"] == {"n_samples": 2000, "start": 100, "end": 2100}


def test_all_measures_with_surrogates_are_deterministic(coupled_window: tuple[np.ndarray, list[list[int]]]) -> None:
    X, groups = coupled_window
    names = [*MEASURE_NAMES, "o_information", "lz_complexity", "metastability"]
    a = analyze_window(X, groups, measures=names, pca_k=2, surrogates=12, seed=5)
    b = analyze_window(X, groups, measures=names, pca_k=2, surrogates=12, seed=5)
    c = analyze_window(X, groups, measures=names, pca_k=2, surrogates=12, seed=6)
    assert json.dumps(a, allow_nan=False) == json.dumps(b, allow_nan=False)
    assert a != c
    assert a["pca_k"] == 2 and len(a["explained_variance_ratio"]) == 3  # type: ignore[arg-type]
    ms = a["measures"]
    assert isinstance(ms, dict)
    for name in names:
        m = ms[name]
        assert m["error"] is None, (name, m["error"])
        s = m["surrogate"]
        assert s["n"] == 12 and s["ci"][0] <= s["null_mean"] <= s["ci"][1]
        assert s["corrected"] == pytest.approx(m["value"] - s["null_mean"])
    # integration is far above the circular-shift null (modules really coupled)
    assert ms["phi_tilde"]["surrogate"]["p_value"] == pytest.approx(1 / 13)
    assert ms["phi_tilde"]["surrogate"]["corrected_ci"][0] > 0


def test_circular_null_removes_integration_but_not_psi() -> None:
    rng = np.random.default_rng(4)
    A, N, groups = random_var(rng, [2, 2], coupled=False, radius=0.9)
    X = simulate_var(A, N, 3000, rng)
    out = analyze_window(X, groups, measures=["phi_tilde", "psi", "tdmi"], partition=[[0], [1]], surrogates=30, seed=1)
    ms = out["measures"]
    assert isinstance(ms, dict)
    # disconnected: Φ̃ indistinguishable from the null, ψ large in both (its known flaw)
    assert ms["phi_tilde"]["surrogate"]["p_value"] > 0.05
    assert ms["psi"]["value"] > 0.2 and abs(ms["psi"]["surrogate"]["corrected"]) < 0.05


def test_surrogates_keep_within_module_structure_and_permute_time() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    groups = [[0, 1], [2, 3]]
    for kind in ("circular", "shuffle"):
        S = make_surrogate(X, groups, kind, np.random.default_rng(1))
        for g in groups:  # each module's rows are a permutation of the original rows, columns together
            assert sorted(map(tuple, S[:, g])) == sorted(map(tuple, X[:, g]))
        assert not np.array_equal(S, X)
    with pytest.raises(MetricError, match="unknown surrogate kind"):
        make_surrogate(X, groups, "phase", rng)


def test_null_stats_and_surrogate_test() -> None:
    s = null_stats(10.0, list(np.arange(100.0)), "shuffle", 1, level=0.9)
    assert s.null_mean == pytest.approx(49.5)
    assert s.ci == pytest.approx((4.95, 94.05))
    assert s.corrected_ci == pytest.approx((10 - 94.05, 10 - 4.95))
    assert s.p_value == pytest.approx(91 / 101)
    X = np.random.default_rng(2).normal(size=(300, 2))
    r = surrogate_test(lambda x: float(np.corrcoef(x.T)[0, 1]), X, [[0], [1]], n=50, kind="shuffle", seed=3)
    assert r.n == 50 and 0 < r.p_value <= 1
    with pytest.raises(MetricError):
        null_stats(1.0, [1.0], "shuffle", 0)


def test_registry_custom_measure_and_errors(coupled_window: tuple[np.ndarray, list[list[int]]]) -> None:
    X, groups = coupled_window
    reg = default_registry()
    reg.register(
        "mean_var",
        lambda w: float(np.var(w.X, axis=0).mean()),
        description="z-scored: 1",
        units="dimensionless",
        estimator="sample variance",
    )
    out = analyze_window(X, groups, measures=["mean_var", "phi"], registry=reg)
    assert out["measures"]["mean_var"]["value"] == pytest.approx(1.0)  # type: ignore[index]
    with pytest.raises(MetricError, match="already registered"):
        reg.register("phi", lambda w: 0.0, description="x")
    with pytest.raises(MetricError, match="unknown measure"):
        analyze_window(X, groups, measures=["nope"])
    assert isinstance(MetricRegistry(), MetricRegistry) and "phi_g" in reg.names()

    def failing(w: WindowData) -> float:
        raise MetricError("cannot", "because")

    reg.register("failing", failing, description="always fails")
    res = analyze_window(X, groups, measures=["failing"], registry=reg)["measures"]["failing"]  # type: ignore[index]
    assert res["value"] is None and "cannot" in res["error"]


def test_reduce_modules_keeps_measures_when_k_covers_dims(coupled_window: tuple[np.ndarray, list[list[int]]]) -> None:
    X, groups = coupled_window
    red = reduce_modules(X, groups, 3)
    assert red.groups == groups and all(r == pytest.approx(1.0) for r in red.explained_variance_ratio)
    a = analyze_window(X, groups, measures=list(MEASURE_NAMES), partition=[[0], [1, 2]])
    b = analyze_window(X, groups, measures=list(MEASURE_NAMES), partition=[[0], [1, 2]], pca_k=3)
    for n in MEASURE_NAMES:
        assert a["measures"][n]["value"] == pytest.approx(b["measures"][n]["value"], abs=1e-8)  # type: ignore[index]
    small = reduce_modules(X, groups, 1)
    assert small.X.shape == (2000, 3) and small.groups == [[0], [1], [2]]


def test_metastability_after_pca_is_stable_under_rounding_noise() -> None:
    """With pca_k, whitened PC scores have identity covariance, so a PC1 recomputed after z-scoring would be
    arbitrary (a 1e-13 change of the data once moved σ by 5 %). σ must use each module's own PC1 column."""
    rng = np.random.default_rng(5)
    t = np.arange(2000)
    cols = []
    for m in range(4):
        base = np.sin(0.03 * (m + 1) * t + m)
        cols += [base * (1.0 + 0.2 * k) + 0.2 * rng.standard_normal(2000) for k in range(6)]
    X = np.column_stack(cols)
    groups = [list(range(6 * m, 6 * m + 6)) for m in range(4)]
    eps = 1e-13 * rng.standard_normal(X.shape)
    a = analyze_window(X, groups, ["metastability"], pca_k=3)["measures"]["metastability"]["value"]
    b = analyze_window(X + eps, groups, ["metastability"], pca_k=3)["measures"]["metastability"]["value"]
    assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    pc1 = reduce_modules(X, groups, 1).X
    assert a == pytest.approx(metastability(pc1, [[m] for m in range(4)]), rel=1e-9)
