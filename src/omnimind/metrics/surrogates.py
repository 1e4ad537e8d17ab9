"""Surrogate data: per-module time-shuffled or circularly-shifted series, and null-distribution statistics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from omnimind.errors import MetricError
from omnimind.metrics._linalg import FloatArray, as_float_matrix, validate_partition

SURROGATE_KINDS: tuple[str, ...] = ("circular", "shuffle")


def make_surrogate(
    X: FloatArray,
    groups: Sequence[Sequence[int]],
    kind: str,
    rng: np.random.Generator,
    min_shift: int | None = None,
) -> FloatArray:
    """One surrogate of X with the modules made mutually independent.

    "circular": each module is rolled in time by its own offset drawn uniformly from
    [min_shift, T − min_shift] (default T//10): keeps each module's own dynamics (autocorrelation, spectrum)
    and destroys the coupling between modules — the null for integration.
    "shuffle": each module's time points are independently permuted: destroys all temporal structure and
    all coupling — the null for "any dynamics at all" (and the classic LZ normaliser).
    Columns inside one module always move together, so within-module structure is kept.
    """
    T = X.shape[0]
    out = np.empty_like(X)
    if kind == "circular":
        lo = T // 10 if min_shift is None else min_shift
        if not 0 < lo <= T - lo:
            raise MetricError(f"min_shift {lo} is not in (0, T/2] for T={T}", "use a longer window")
        for g in groups:
            out[:, g] = np.roll(X[:, g], int(rng.integers(lo, T - lo + 1)), axis=0)
    elif kind == "shuffle":
        for g in groups:
            out[:, g] = X[rng.permutation(T)][:, g]
    else:
        raise MetricError(f"unknown surrogate kind {kind!r}", f"choose from {list(SURROGATE_KINDS)}")
    return out


@dataclass(frozen=True)
class SurrogateStats:
    """Null distribution summary for one measure.

    `ci` is the central percentile interval of the null at `level`; `corrected` = observed − null mean;
    `corrected_ci` = observed − (upper, lower) null percentiles (the interval of the corrected value implied
    by the null's spread); `p_value` = (1 + #{null ≥ observed}) / (1 + n) (one-sided, upper tail).
    """

    kind: str
    n: int
    n_failed: int
    seed: int | None
    level: float
    null_mean: float
    null_std: float
    ci: tuple[float, float]
    corrected: float
    corrected_ci: tuple[float, float]
    p_value: float
    null: tuple[float, ...]

    def to_dict(self, include_null: bool = False) -> dict[str, object]:
        """Plain JSON-serialisable form; the raw null values only on request."""
        d: dict[str, object] = {
            "kind": self.kind,
            "n": self.n,
            "n_failed": self.n_failed,
            "seed": self.seed,
            "level": self.level,
            "null_mean": self.null_mean,
            "null_std": self.null_std,
            "ci": list(self.ci),
            "corrected": self.corrected,
            "corrected_ci": list(self.corrected_ci),
            "p_value": self.p_value,
        }
        if include_null:
            d["null"] = list(self.null)
        return d


def null_stats(
    observed: float,
    null: Sequence[float],
    kind: str,
    seed: int | None,
    level: float = 0.95,
    n_failed: int = 0,
) -> SurrogateStats:
    """Summarise a null sample against an observed value (percentile interval at `level`)."""
    arr = np.asarray(null, dtype=np.float64)
    if arr.size < 2:
        raise MetricError(f"need at least 2 successful surrogates, got {arr.size}", "increase surrogates")
    if not 0 < level < 1:
        raise MetricError(f"level must be in (0, 1), got {level}", "use e.g. level=0.95")
    lo, hi = (float(v) for v in np.quantile(arr, [(1 - level) / 2, (1 + level) / 2]))
    mean = float(arr.mean())
    return SurrogateStats(
        kind=kind,
        n=int(arr.size),
        n_failed=n_failed,
        seed=seed,
        level=level,
        null_mean=mean,
        null_std=float(arr.std(ddof=1)),
        ci=(lo, hi),
        corrected=observed - mean,
        corrected_ci=(observed - hi, observed - lo),
        p_value=float((1 + np.count_nonzero(arr >= observed)) / (1 + arr.size)),
        null=tuple(float(v) for v in arr),
    )


def surrogate_test(
    statistic: Callable[[FloatArray], float],
    X: object,
    groups: Sequence[Sequence[int]],
    n: int = 100,
    kind: str = "circular",
    seed: int = 0,
    level: float = 0.95,
) -> SurrogateStats:
    """Apply `statistic` to X and to n seeded surrogates; return the null summary."""
    arr = as_float_matrix(X)
    grp = validate_partition(groups, arr.shape[1])
    rng = np.random.default_rng(seed)
    observed = statistic(arr)
    null = [statistic(make_surrogate(arr, grp, kind, rng)) for _ in range(n)]
    return null_stats(observed, null, kind, seed, level)


__all__ = ["SURROGATE_KINDS", "SurrogateStats", "make_surrogate", "null_stats", "surrogate_test"]
