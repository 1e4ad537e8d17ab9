"""Bad input always raises MetricError with a hint that says what to do."""

from __future__ import annotations

import numpy as np
import pytest

from omnimind.errors import MetricError
from omnimind.metrics import LaggedCovariance, analyze_window, granger_causality, measures, phi_wms


def _raises(fn: object, *args: object, match: str, hint: str, **kw: object) -> None:
    with pytest.raises(MetricError, match=match) as ei:
        fn(*args, **kw)  # type: ignore[operator]
    assert hint.lower() in ei.value.hint.lower(), ei.value.hint


def test_singular_covariance_suggests_pca() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3))
    X = np.hstack([X, X[:, :1] * 2.0])  # duplicated column
    _raises(LaggedCovariance.from_samples, X, match="singular", hint="reduce_modules")
    _raises(analyze_window, X, [[0, 1], [2, 3]], match="singular", hint="pca")
    _raises(LaggedCovariance, np.diag([1.0, 0.0]), np.zeros((2, 2)), match="singular", hint="pca")


def test_deterministic_dynamics_is_singular_joint() -> None:
    c, s = np.cos(0.1), np.sin(0.1)
    R = np.array([[c, s], [-s, c]])  # x_t = R x_{t-1} exactly: Γ = Σ Rᵀ makes the joint covariance singular
    _raises(LaggedCovariance, np.eye(2), R.T, match="deterministic", hint="noise")


def test_nan_and_inf() -> None:
    X = np.random.default_rng(1).normal(size=(200, 3))
    X[5, 1] = np.nan
    _raises(LaggedCovariance.from_samples, X, match="NaN/inf", hint="drop or interpolate")
    X[5, 1] = np.inf
    _raises(analyze_window, X, [[0], [1, 2]], match="NaN/inf", hint="drop or interpolate")
    _raises(LaggedCovariance.from_var, [[np.nan]], [[1.0]], match="NaN/inf", hint="drop")


def test_too_few_samples() -> None:
    X = np.random.default_rng(2).normal(size=(10, 12))
    _raises(LaggedCovariance.from_samples, X, match="too few samples", hint="window of at least")
    _raises(granger_causality, X, [list(range(6)), list(range(6, 12))], match="too few", hint="longer window")
    _raises(LaggedCovariance.from_samples, np.zeros(10), match="2-D", hint="rows")


def test_partition_must_cover_columns_exactly_once() -> None:
    cov = LaggedCovariance.from_var(0.5 * np.eye(4), np.eye(4))
    for bad, what in [
        ([[0, 1], [2]], "missing: [3]"),
        ([[0, 1], [1, 2, 3]], "repeated: [1]"),
        ([[0, 1], [2, 3, 4]], "out of range: [4]"),
        ([[0, 1, 2, 3], []], "empty part"),
    ]:
        with pytest.raises(MetricError) as ei:
            phi_wms(cov, bad)
        assert what in ei.value.message
        assert ei.value.hint
    _raises(measures, cov, [["a"], [1, 2, 3]], match="list of lists", hint="[[0, 1], [2, 3]]")


def test_nonstationary_var_and_bad_noise() -> None:
    _raises(LaggedCovariance.from_var, [[1.01]], [[1.0]], match="not stationary", hint="scale A down")
    _raises(
        LaggedCovariance.from_var, 0.5 * np.eye(2), [[1.0, 2.0], [2.0, 1.0]], match="not positive definite", hint="pca"
    )
    _raises(LaggedCovariance.from_var, 0.5 * np.eye(2), [[1.0, 0.5], [0.0, 1.0]], match="symmetric", hint="symmetric")
    _raises(LaggedCovariance.from_samples, np.eye(5), lag=0, match="lag", hint="lag=1")


def test_constant_column_in_window() -> None:
    X = np.random.default_rng(3).normal(size=(300, 3))
    X[:, 2] = 4.0
    _raises(analyze_window, X, [[0], [1], [2]], match="constant", hint="drop constant")
