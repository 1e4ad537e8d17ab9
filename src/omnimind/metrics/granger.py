"""Conditional Granger causality between modules from sample data (OLS), with F-test p-values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats

from omnimind.errors import MetricError
from omnimind.metrics._linalg import PCA_HINT, FloatArray, as_float_matrix, validate_partition


@dataclass(frozen=True)
class GrangerResult:
    """gc[i][j] = Geweke's conditional GC from module i to module j (nats; transfer entropy = gc/2).

    pvalues[i][j] from Rao's F approximation to Wilks' Λ = det Σ_full / det Σ_restricted (exact F-test for
    one-dimensional targets); f_stat, df1, df2 likewise. Diagonals are NaN.
    """

    gc: list[list[float]]
    f_stat: list[list[float]]
    df1: list[list[float]]
    df2: list[list[float]]
    pvalues: list[list[float]]
    order: int
    n_samples: int

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-serialisable form (NaN diagonals become None)."""

        def clean(m: list[list[float]]) -> list[list[float | None]]:
            return [[None if np.isnan(v) else v for v in row] for row in m]

        return {
            "gc": clean(self.gc),
            "f_stat": clean(self.f_stat),
            "df1": clean(self.df1),
            "df2": clean(self.df2),
            "pvalues": clean(self.pvalues),
            "order": self.order,
            "n_samples": self.n_samples,
        }


def _rao_f(wilks: float, p: int, q: int, error_df: float) -> tuple[float, float, float]:
    """Rao (1951) F approximation to Wilks' Λ with p responses, q tested regressors, error df ν."""
    s = float(np.sqrt((p * p * q * q - 4) / (p * p + q * q - 5))) if p * p + q * q > 5 else 1.0
    m = error_df - (p - q + 1) / 2.0
    df1 = float(p * q)
    df2 = m * s - p * q / 2.0 + 1.0
    lam = wilks ** (1.0 / s)
    f = (1.0 - lam) / lam * df2 / df1
    return f, df1, df2


def granger_causality(X: object, groups: Sequence[Sequence[int]], order: int = 1) -> GrangerResult:
    """Conditional GC between every ordered pair of modules, each conditioned on all other modules' past.

    Geweke 1984: F_{i→j|rest} = log det Σ_restricted / det Σ_full, where the full regression predicts
    module j at t from the last `order` samples of all columns (plus intercept) and the restricted one omits
    module i's past. Significance by Rao's F approximation to Wilks' Λ (Barnett & Seth, MVGC toolbox use
    the same statistics).
    """
    arr = as_float_matrix(X)
    grp = validate_partition(groups, arr.shape[1])
    T, D = arr.shape
    if order < 1:
        raise MetricError(f"order must be >= 1, got {order}", "use order=1 (one-step dynamics)")
    n_eff = T - order
    k_full = D * order + 1
    if n_eff <= k_full + 1:
        raise MetricError(
            f"too few samples for Granger regression: {n_eff} usable rows for {k_full} regressors",
            "use a longer window or reduce dimensions with reduce_modules(X, groups, k)",
        )
    lagged = np.hstack([arr[order - L : T - L] for L in range(1, order + 1)])  # (n_eff, D*order)
    col_module = np.empty(D, dtype=np.int64)
    for m, g in enumerate(grp):
        col_module[g] = m
    lag_module = np.tile(col_module, order)
    Y = arr[order:]
    n = len(grp)
    nan = float("nan")
    gc = [[nan] * n for _ in range(n)]
    fs = [[nan] * n for _ in range(n)]
    d1 = [[nan] * n for _ in range(n)]
    d2 = [[nan] * n for _ in range(n)]
    pv = [[nan] * n for _ in range(n)]
    ones = np.ones((n_eff, 1))

    def resid_cov(design: FloatArray, target: FloatArray) -> FloatArray:
        beta, *_ = np.linalg.lstsq(design, target, rcond=None)
        r = target - design @ beta
        return np.asarray(r.T @ r, dtype=np.float64)

    full_design = np.hstack([ones, lagged])
    if np.linalg.matrix_rank(full_design) < full_design.shape[1]:
        raise MetricError("the lagged regressors are collinear", PCA_HINT)
    for j, gj in enumerate(grp):
        target = Y[:, gj]
        e_full = resid_cov(full_design, target)
        sign_f, ld_full = np.linalg.slogdet(e_full)
        if sign_f <= 0:
            raise MetricError(f"module {j}'s residual covariance is singular", PCA_HINT)
        for i in range(n):
            if i == j:
                continue
            keep = lag_module != i
            e_restr = resid_cov(np.hstack([ones, lagged[:, keep]]), target)
            ld_restr = float(np.linalg.slogdet(e_restr)[1])
            gval = ld_restr - float(ld_full)
            f, df1, df2 = _rao_f(float(np.exp(-gval)), len(gj), len(grp[i]) * order, n_eff - k_full)
            gc[i][j], fs[i][j], d1[i][j], d2[i][j] = gval, f, df1, df2
            pv[i][j] = float(scipy.stats.f.sf(f, df1, df2))
    return GrangerResult(gc, fs, d1, d2, pv, order, T)


__all__ = ["GrangerResult", "granger_causality"]
