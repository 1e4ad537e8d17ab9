"""Per-module dimensionality reduction to k principal components (stated in every output that uses it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from omnimind.errors import MetricError
from omnimind.metrics._linalg import FloatArray, as_float_matrix, principal_axes, validate_partition


@dataclass(frozen=True)
class ReducedModules:
    """X projected per module onto its top-k principal components, with the new contiguous groups."""

    X: FloatArray
    groups: list[list[int]]
    k: int
    explained_variance_ratio: list[float]


def reduce_modules(X: object, groups: Sequence[Sequence[int]], k: int) -> ReducedModules:
    """Replace each module's columns by its first min(k, d_i) principal-component scores (centred; each
    component's sign fixed by `principal_axes`, so scores do not depend on LAPACK's arbitrary signs).

    PCA inside a module is an invertible linear map within the part followed by truncation, so for k ≥ d_i
    every measure is unchanged; for k < d_i it is an approximation that keeps the most variance.
    """
    arr = as_float_matrix(X)
    grp = validate_partition(groups, arr.shape[1])
    if k < 1:
        raise MetricError(f"pca_k must be >= 1, got {k}", "pass k >= 1 or pca_k=None to keep all columns")
    Z = arr - arr.mean(axis=0)
    blocks: list[FloatArray] = []
    new_groups: list[list[int]] = []
    ratios: list[float] = []
    col = 0
    for g in grp:
        block = Z[:, g]
        s, vt = principal_axes(block)
        kk = min(k, len(g))
        blocks.append(block @ vt[:kk].T)
        total = float(np.sum(s**2))
        ratios.append(float(np.sum(s[:kk] ** 2)) / total if total > 0 else float("nan"))
        new_groups.append(list(range(col, col + kk)))
        col += kk
    return ReducedModules(np.hstack(blocks), new_groups, k, ratios)


__all__ = ["ReducedModules", "reduce_modules"]
