"""Minimum information bipartition (MIB) over module bipartitions, vectorised over sub-block determinants.

Normalisation (Barrett & Seth 2011, PLoS Comput Biol 7:e1001052, after Balduzzi & Tononi 2008): for a
bipartition B = {S, C}, K(B) = (r−1)·min_k H(M^k) = min(H(S), H(C)) with r = 2 parts and H the Gaussian
differential entropy ½ log((2πe)^d det Σ_SS) of each part at time t. The MIB minimises φ(B)/K(B); the
reported value is the un-normalised φ at the MIB (as in Barrett & Seth 2011 and PhiToolbox). Because
differential entropy depends on units, K ≤ 0 is possible: we then raise (standardise columns, or use
`normalise="size"`, or normalise=False).

`normalise="size"`: K(B) = min(d_S, d_C), the number of dimensions of the smaller part — unit-free and
always positive; it is the continuous analogue of Balduzzi & Tononi's maximum-entropy normaliser, which
for n binary units is n bits. `analyze_window` (runs, `omnimind analyze`) uses it, because strongly
correlated modules make min(H(S), H(C)) ≤ 0 even for standardised columns.

Search: exhaustive over all 2^(n−1)−1 bipartitions for n ≤ `exhaustive_limit` (default 16) modules.
Beyond, a heuristic: candidates are the n single-module cuts and the n−1 prefix cuts of the spectral
(Fiedler-vector) ordering of modules by pairwise instantaneous + lagged mutual information; the best is
improved by steepest-descent single-module moves until no move lowers the normalised value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from omnimind.errors import MetricError
from omnimind.metrics._linalg import FloatArray, batched_logdet_pd, logdet_pd, validate_partition
from omnimind.metrics.covariance import LaggedCovariance

FAST_MEASURES: tuple[str, ...] = ("phi_wms", "phi_tilde", "psi", "phi_r", "causal_density")
_LOG_2PIE = float(np.log(2.0 * np.pi * np.e))
_CHUNK = 512
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class MIBResult:
    """The minimum information bipartition: parts as module indices and as columns, and its value."""

    modules: tuple[tuple[int, ...], tuple[int, ...]]
    columns: tuple[tuple[int, ...], tuple[int, ...]]
    measure: str
    value: float
    normalised_value: float | None
    normaliser: float | None
    method: str
    n_evaluated: int
    normalisation: str

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-serialisable form."""
        return {
            "modules": [list(p) for p in self.modules],
            "columns": [list(p) for p in self.columns],
            "measure": self.measure,
            "value": self.value,
            "normalised_value": self.normalised_value,
            "normaliser": self.normaliser,
            "method": self.method,
            "n_evaluated": self.n_evaluated,
            "normalisation": self.normalisation,
        }


NORMALISATION = "K = min(H(S), H(C)) (Barrett & Seth 2011; (r-1) min_k H(M^k) with r = 2), MIB = argmin phi/K"
SIZE_NORMALISATION = ("K = min(d_S, d_C) dimensions (maximum-entropy analogue, Balduzzi & Tononi 2008), "
                      "MIB = argmin phi/K")


def module_bipartitions(n: int) -> BoolArray:
    """All 2^(n−1)−1 bipartitions of n modules as boolean masks of the part S (the last module is in C)."""
    if n < 2:
        raise MetricError(f"a bipartition needs at least 2 modules, got {n}", "pass two or more groups")
    codes = np.arange(1, 2 ** (n - 1), dtype=np.int64)
    return ((codes[:, None] >> np.arange(n)) & 1).astype(bool)


class _SubsetLogdets:
    """Batched log-determinants of the sub-blocks a bipartition measure needs, for many column subsets."""

    def __init__(self, cov: LaggedCovariance, groups: list[list[int]]) -> None:
        self.cov = cov
        self.D = cov.dim
        self.module_of_col = np.empty(self.D, dtype=np.int64)
        for m, g in enumerate(groups):
            self.module_of_col[g] = m

    def _stack(self, M: FloatArray, idx: NDArray[np.int64]) -> FloatArray:
        return M[idx[:, :, None], idx[:, None, :]]

    def _by_size(self, colmask: BoolArray, build: str) -> FloatArray:
        """Log-determinant per row of `colmask` (columns in the subset) for one kind of matrix."""
        out = np.empty(colmask.shape[0])
        sizes = colmask.sum(axis=1)
        D = self.D
        for d in np.unique(sizes):
            rows = np.flatnonzero(sizes == d)
            for start in range(0, rows.size, _CHUNK):
                r = rows[start : start + _CHUNK]
                idx = np.nonzero(colmask[r])[1].reshape(r.size, int(d))
                if build == "sigma":
                    mats = self._stack(self.cov.sigma, idx)
                elif build == "joint":  # (S_past, S_present)
                    mats = self._stack(self.cov.joint, np.concatenate([idx, idx + D], axis=1))
                elif build == "past_all":  # (S_past, X_present)
                    allp = np.broadcast_to(np.arange(D) + D, (r.size, D))
                    mats = self._stack(self.cov.joint, np.concatenate([idx, allp], axis=1))
                elif build == "residual":
                    mats = self._stack(self.cov.residual, idx)
                else:  # pragma: no cover - internal
                    raise ValueError(build)
                out[r] = batched_logdet_pd(mats)
        return out

    def cross(self, s_cols: BoolArray) -> FloatArray:
        """log det of the covariance of (S_past, C_present) for each bipartition row (always D x D)."""
        D = self.D
        out = np.empty(s_cols.shape[0])
        for start in range(0, s_cols.shape[0], _CHUNK):
            sl = s_cols[start : start + _CHUNK]
            sizes = sl.sum(axis=1)
            for d in np.unique(sizes):
                r = np.flatnonzero(sizes == d)
                i_s = np.nonzero(sl[r])[1].reshape(r.size, int(d))
                i_c = np.nonzero(~sl[r])[1].reshape(r.size, D - int(d))
                idx = np.concatenate([i_s, i_c + D], axis=1)
                out[start + r] = batched_logdet_pd(self._stack(self.cov.joint, idx))
        return out


def bipartition_values(
    cov: LaggedCovariance,
    groups: Sequence[Sequence[int]],
    masks: BoolArray,
    names: Sequence[str] = FAST_MEASURES,
) -> tuple[dict[str, FloatArray], FloatArray]:
    """Fast closed-form measures for many module bipartitions at once, and the entropy normaliser K.

    `masks` is (m, n_modules) boolean: True marks part S, False part C. Each measure uses the same formula
    as its single-partition function in `integration` (tested equal), written with log-determinants.
    """
    grp = validate_partition(groups, cov.dim)
    bad = [n for n in names if n not in FAST_MEASURES]
    if bad:
        raise MetricError(f"no vectorised form for {bad}", f"choose from {list(FAST_MEASURES)}")
    sub = _SubsetLogdets(cov, grp)
    s_cols = masks[:, sub.module_of_col]
    m = masks.shape[0]
    # Unique subsets among S and C.
    both = np.concatenate([s_cols, ~s_cols], axis=0)
    uniq, inv = np.unique(both, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    iS, iC = inv[:m], inv[m:]
    dims = uniq.sum(axis=1).astype(np.float64)
    need = set(names)
    ld_s = sub._by_size(uniq, "sigma")
    ld_sigma = logdet_pd(cov.sigma)
    ld_res = logdet_pd(cov.residual, "residual")
    mi = 0.5 * (ld_sigma - ld_res)
    out: dict[str, FloatArray] = {}
    if need & {"phi_wms", "phi_tilde", "phi_r", "causal_density"}:
        ld_j = sub._by_size(uniq, "joint")
        i_self = ld_s - 0.5 * ld_j
        h_cond = ld_j - ld_s  # log det Σ(S_t | S_{t−τ})
        if "phi_wms" in need or "phi_r" in need:
            wms = mi - i_self[iS] - i_self[iC]
            if "phi_wms" in need:
                out["phi_wms"] = wms
            if "phi_r" in need:
                ld_x = sub.cross(s_cols)
                ld_xr = sub.cross(~s_cols)
                i_sc = 0.5 * (ld_s[iS] + ld_s[iC] - ld_x)
                i_cs = 0.5 * (ld_s[iS] + ld_s[iC] - ld_xr)
                red = np.minimum(np.minimum(i_self[iS], i_self[iC]), np.minimum(i_sc, i_cs))
                out["phi_r"] = wms + red
        if "phi_tilde" in need:
            out["phi_tilde"] = 0.5 * (h_cond[iS] + h_cond[iC] - ld_res)
        if "causal_density" in need:
            ld_e = sub._by_size(uniq, "residual")
            te = 0.5 * (h_cond - ld_e)  # TE from the complement into this subset
            out["causal_density"] = 0.5 * (te[iS] + te[iC])
    if "psi" in need:
        ld_p = sub._by_size(uniq, "past_all")
        i_sx = 0.5 * (ld_s + ld_sigma - ld_p)
        out["psi"] = mi - np.maximum(i_sx[iS], i_sx[iC])
    h = 0.5 * (dims * _LOG_2PIE + ld_s)
    return out, np.minimum(h[iS], h[iC])


def _evaluate(
    cov: LaggedCovariance, groups: list[list[int]], masks: BoolArray, measure: str
) -> tuple[FloatArray, FloatArray]:
    if measure in FAST_MEASURES:
        vals, k = bipartition_values(cov, groups, masks, (measure,))
        return vals[measure], k
    from omnimind.metrics.decoding import phi_star
    from omnimind.metrics.geometric import phi_g

    slow = {"phi_star": phi_star, "phi_g": phi_g}
    if measure not in slow:
        raise MetricError(f"unknown MIB measure {measure!r}", f"choose from {[*FAST_MEASURES, *slow]}")
    fn = slow[measure]
    values = np.empty(masks.shape[0])
    for r, mask in enumerate(masks):
        parts = _columns(groups, mask)
        values[r] = fn(cov, [list(parts[0]), list(parts[1])])
    _, k = bipartition_values(cov, groups, masks, ("phi_wms",))
    return values, k


def _columns(groups: list[list[int]], mask: BoolArray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    s = tuple(sorted(c for m, g in enumerate(groups) if mask[m] for c in g))
    c = tuple(sorted(c for m, g in enumerate(groups) if not mask[m] for c in g))
    return s, c


def _objective(values: FloatArray, k: FloatArray, normalise: bool | str) -> FloatArray:
    if not normalise:
        return values
    if normalise == "size":
        return values / k
    if np.any(k <= 0):
        raise MetricError(
            "the MIB normaliser K = min(H(S), H(C)) is <= 0 for some bipartition (differential entropy "
            "depends on units)",
            "standardise the columns (z-score) first, as analyze_window does, or pass normalise=False",
        )
    return values / k


def _spectral_candidates(cov: LaggedCovariance, groups: list[list[int]]) -> BoolArray:
    from omnimind.metrics.integration import mi_past_present

    n = len(groups)
    W = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            gi, gj = groups[i], groups[j]
            s_ij = cov.sigma[np.ix_(gi + gj, gi + gj)]
            inst = 0.5 * (logdet_pd(cov.sigma[np.ix_(gi, gi)]) + logdet_pd(cov.sigma[np.ix_(gj, gj)]) - logdet_pd(s_ij))
            W[i, j] = W[j, i] = inst + mi_past_present(cov, gi, gj) + mi_past_present(cov, gj, gi)
    lap = np.diag(W.sum(axis=1)) - W
    _, vecs = np.linalg.eigh(lap)
    order = np.argsort(vecs[:, 1], kind="stable")
    cands = [np.isin(np.arange(n), order[:k]) for k in range(1, n)]
    cands += [np.arange(n) == i for i in range(n)]
    return np.asarray(cands, dtype=bool)


def _canonical(mask: BoolArray) -> BoolArray:
    return ~mask if mask[-1] else mask


def mib(
    cov: LaggedCovariance,
    groups: Sequence[Sequence[int]],
    measure: str = "phi_wms",
    normalise: bool | str = True,
    exhaustive_limit: int = 16,
    max_moves: int = 1000,
) -> MIBResult:
    """Minimum information bipartition of the modules `groups` (column-index lists) for `measure`.

    Exhaustive for n ≤ `exhaustive_limit` modules, otherwise the documented spectral + local-search
    heuristic (see module docstring). Ties resolve to the first bipartition in enumeration order.
    """
    grp = validate_partition(groups, cov.dim)
    n = len(grp)
    if n < 2:
        raise MetricError("the MIB needs at least two modules", "pass groups with two or more modules")
    if normalise not in (True, False, "entropy", "size"):
        raise MetricError(f"unknown MIB normalisation {normalise!r}", 'use "entropy", "size" or False')
    norm_text = (SIZE_NORMALISATION if normalise == "size" else NORMALISATION) if normalise else \
        "none (MIB = argmin phi)"
    sizes = np.array([len(g) for g in grp], dtype=float)

    def evaluate(masks: BoolArray) -> tuple[FloatArray, FloatArray]:
        values, k = _evaluate(cov, grp, masks, measure)
        if normalise == "size":
            d_s = masks.astype(float) @ sizes
            k = np.minimum(d_s, sizes.sum() - d_s)
        return values, k

    if n <= exhaustive_limit:
        masks = module_bipartitions(n)
        values, k = evaluate(masks)
        obj = _objective(values, k, normalise)
        best = int(np.argmin(obj))
        method, n_eval = "exhaustive", masks.shape[0]
        mask = masks[best]
        val, kk, ob = float(values[best]), float(k[best]), float(obj[best])
    else:
        cands = np.unique(np.asarray([_canonical(c) for c in _spectral_candidates(cov, grp)]), axis=0)
        values, k = evaluate(cands)
        obj = _objective(values, k, normalise)
        best = int(np.argmin(obj))
        mask, val, kk, ob = cands[best], float(values[best]), float(k[best]), float(obj[best])
        n_eval = cands.shape[0]
        for _ in range(max_moves):
            flips = np.repeat(mask[None, :], n, axis=0)
            flips[np.arange(n), np.arange(n)] ^= True
            ok = flips.any(axis=1) & ~flips.all(axis=1)
            flips = np.asarray([_canonical(f) for f in flips[ok]])
            v2, k2 = evaluate(flips)
            o2 = _objective(v2, k2, normalise)
            n_eval += flips.shape[0]
            j = int(np.argmin(o2))
            if not o2[j] < ob:
                break
            mask, val, kk, ob = flips[j], float(v2[j]), float(k2[j]), float(o2[j])
        method = "heuristic: spectral sweep + single-module moves"
    s_mods = tuple(int(i) for i in np.flatnonzero(mask))
    c_mods = tuple(int(i) for i in np.flatnonzero(~mask))
    return MIBResult(
        modules=(s_mods, c_mods),
        columns=_columns(grp, mask),
        measure=measure,
        value=val,
        normalised_value=ob if normalise else None,
        normaliser=kk if normalise else None,
        method=method,
        n_evaluated=int(n_eval),
        normalisation=norm_text,
    )


__all__ = ["FAST_MEASURES", "NORMALISATION", "MIBResult", "bipartition_values", "mib", "module_bipartitions"]
