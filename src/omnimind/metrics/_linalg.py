"""Private helpers: validation and Gaussian log-determinants shared by every measure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from omnimind.errors import MetricError

FloatArray = NDArray[np.float64]
Partition = Sequence[Sequence[int]]

_PCA_HINT = (
    "the covariance is (near-)singular: remove constant or duplicated columns, or reduce each module "
    "with reduce_modules(X, groups, k) / analyze_window(..., pca_k=k) before computing measures"
)


def principal_axes(block: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(singular values, right singular vectors as rows) of a centred block, each vector's sign fixed so its
    largest-magnitude loading is positive (sklearn's `svd_flip` rule). LAPACK's signs are arbitrary and can
    flip under a 1e-15 change of the data; PC scores, and measures that are not sign-invariant (phases, LZ
    binarisation), must not depend on them."""
    _, s, vt = np.linalg.svd(block, full_matrices=False)
    if vt.size:
        lead = vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)]
        vt = vt * np.where(lead < 0, -1.0, 1.0)[:, None]
    return s, vt


def as_float_matrix(X: object, name: str = "X") -> FloatArray:
    """Return `X` as a finite 2-D float64 array or raise MetricError."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricError(f"{name} is not numeric: {exc}", f"pass {name} as a numeric array") from exc
    if arr.ndim != 2:
        raise MetricError(
            f"{name} must be 2-D (T samples x D columns), got shape {arr.shape}",
            "stack the recorded states as rows: X[t, :] is the state at time t",
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise MetricError(
            f"{name} contains {bad} NaN/inf value(s)",
            "drop or interpolate the non-finite samples (or the window containing them) before analysis",
        )
    return arr


def validate_partition(partition: Partition, n_columns: int) -> list[list[int]]:
    """Check a partition (list of index lists) covers range(n_columns) exactly once; return it normalised."""
    parts: list[list[int]] = []
    try:
        for part in partition:
            parts.append([int(i) for i in part])
    except (TypeError, ValueError) as exc:
        raise MetricError(
            f"partition must be a list of lists of column indices: {exc}",
            "write the partition as e.g. [[0, 1], [2, 3]]",
        ) from exc
    if len(parts) == 0 or any(len(p) == 0 for p in parts):
        raise MetricError("partition has an empty part", "every part must contain at least one column index")
    flat = [i for p in parts for i in p]
    counts = np.bincount(np.asarray([i for i in flat if 0 <= i < n_columns], dtype=np.int64), minlength=n_columns)
    out_of_range = sorted({i for i in flat if not 0 <= i < n_columns})
    missing = [int(i) for i in np.flatnonzero(counts == 0)]
    repeated = [int(i) for i in np.flatnonzero(counts > 1)]
    if out_of_range or missing or repeated:
        raise MetricError(
            f"partition does not cover the {n_columns} columns exactly once "
            f"(out of range: {out_of_range[:10]}, missing: {missing[:10]}, repeated: {repeated[:10]})",
            f"list every column index 0..{n_columns - 1} in exactly one part",
        )
    return parts


def logdet_pd(M: FloatArray, what: str = "covariance") -> float:
    """log det of a symmetric positive-definite matrix via Cholesky; MetricError if not PD."""
    try:
        L = np.linalg.cholesky(M)
    except np.linalg.LinAlgError as exc:
        raise MetricError(f"the {what} matrix is singular or not positive definite", _PCA_HINT) from exc
    return 2.0 * float(np.sum(np.log(np.diagonal(L))))


def batched_logdet_pd(M: FloatArray, what: str = "covariance") -> FloatArray:
    """log det of a stack (..., d, d) of PD matrices via batched Cholesky."""
    if M.shape[-1] == 0:
        return np.zeros(M.shape[:-2])
    try:
        L = np.linalg.cholesky(M)
    except np.linalg.LinAlgError as exc:
        raise MetricError(f"a {what} sub-block is singular or not positive definite", _PCA_HINT) from exc
    return np.asarray(2.0 * np.sum(np.log(np.diagonal(L, axis1=-2, axis2=-1)), axis=-1), dtype=np.float64)


def cond_cov(S_yy: FloatArray, S_xy: FloatArray, S_xx: FloatArray) -> FloatArray:
    """Σ(Y|X) = Σ_yy − Σ_xyᵀ Σ_xx⁻¹ Σ_xy for jointly Gaussian (X, Y); Σ_xy = E[X Yᵀ]."""
    try:
        sol = np.linalg.solve(S_xx, S_xy)
    except np.linalg.LinAlgError as exc:
        raise MetricError("a covariance sub-block is singular", _PCA_HINT) from exc
    out = S_yy - S_xy.T @ sol
    return np.asarray(0.5 * (out + out.T), dtype=np.float64)


PCA_HINT = _PCA_HINT
