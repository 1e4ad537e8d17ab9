"""Differentiation and dynamics measures: Lempel–Ziv complexity, metastability, O-information."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.signal

from omnimind.errors import MetricError
from omnimind.metrics._linalg import FloatArray, as_float_matrix, logdet_pd, principal_axes, validate_partition
from omnimind.metrics.covariance import LaggedCovariance

_VECTOR_ROUNDS = 64


def _phrase_length_scan(s: bytes, i: int) -> int:
    """Length of the LZ76 phrase starting at i, by direct search (used for long phrases); O(n) amortised."""
    n, length, pos = len(s), 1, -1  # pos: earliest start < i of s[i:i+length-1], -1 if none searched yet
    while i + length <= n:
        if pos >= 0 and s[pos + length - 1] == s[i + length - 1]:
            length += 1
            continue
        pos = s.find(s[i : i + length], pos + 1, i + length - 1)
        if pos == -1:
            break
        length += 1
    return min(length, n - i)


def _phrase_lengths(s: bytes, rounds: int) -> np.ndarray:
    """Phrase length at every start i, for phrases up to `rounds` symbols (0 = longer, not yet known).

    Round L gives every position the index of the first occurrence of s[i:i+L] (a dense rank, refined
    from round L−1); the phrase at i has length L at the first L where i is its own first occurrence.
    """
    a = np.frombuffer(s, dtype=np.uint8).astype(np.int64)
    n = a.size
    idx = np.arange(n, dtype=np.int64)
    rank = np.zeros(n, dtype=np.int64)
    width = int(a.max()) + 1
    plen = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)
    for L in range(1, min(rounds, n) + 1):
        m = n - L + 1
        key = rank[:m] * width + a[L - 1 :]
        table = np.full(n * width, n, dtype=np.int64)
        np.minimum.at(table, key, idx[:m])
        first = table[key]
        done = active[:m] & (first == idx[:m])
        plen[:m][done] = L
        active[:m] &= ~done
        rank = first
        n_active = int(np.count_nonzero(active[:m]))
        if n_active == 0 or (np.log2(n) + 4 < L and n_active > m // 2):
            break  # done, or a regular sequence with long phrases: leave them to the direct scan
    return plen


def lz76(sequence: bytes | Sequence[int]) -> int:
    """Number of phrases c(n) in the Lempel–Ziv 1976 exhaustive-history parsing (Kaspar & Schuster 1987).

    Each new phrase is the shortest substring starting at i that does not occur starting before i
    (overlap allowed); an unfinished last phrase counts. E.g. 0·001·10·100·1000·101 → 6.
    """
    s = bytes(sequence)
    n = len(s)
    if n == 0:
        return 0
    plen = _phrase_lengths(s, _VECTOR_ROUNDS)
    i = c = 0
    while i < n:
        step = int(plen[i])
        i += step if step > 0 else _phrase_length_scan(s, i)
        c += 1
    return c


def binarise(X: object) -> np.ndarray:
    """Binarise each column at its median (1 if above), as in Schartner et al. 2015."""
    arr = as_float_matrix(X)
    return (arr > np.median(arr, axis=0)).astype(np.uint8)


def lempel_ziv_complexity(
    X: object,
    normalise: str = "log",
    rng: np.random.Generator | None = None,
) -> float:
    """Normalised LZ76 complexity of median-binarised activity (dimensionless, ≈1 for iid noise).

    The binary T x D matrix is read time point by time point (all channels at t, then t+1), as in
    Schartner et al. 2015 (PLoS ONE 10:e0133532); c(n) is its LZ76 phrase count (Kaspar & Schuster 1987).
    normalise="log": c·log2(n)/n (Lempel & Ziv's asymptotic value for a random binary sequence is 1);
    normalise="shuffle": c divided by c of one random time-and-channel shuffle of the same string (needs
    `rng`; keeps the symbol frequencies, so values are ≈ 1 for noise and → 0 for regular signals).
    """
    b = binarise(X).reshape(-1)
    n = b.size
    if n < 2:
        raise MetricError("LZ complexity needs at least 2 symbols", "pass a longer window")
    c = lz76(b.tobytes())
    if normalise == "log":
        return c * float(np.log2(n)) / n
    if normalise == "shuffle":
        if rng is None:
            raise MetricError("normalise='shuffle' needs a seeded generator", "pass rng=np.random.default_rng(seed)")
        return c / lz76(rng.permutation(b).tobytes())
    raise MetricError(f"unknown normalisation {normalise!r}", "use 'log' or 'shuffle'")


def module_phases(X: object, groups: Sequence[Sequence[int]]) -> FloatArray:
    """Instantaneous phase (T x n) of each module's first principal component (sign: `principal_axes`), via
    the Hilbert transform."""
    arr = as_float_matrix(X)
    grp = validate_partition(groups, arr.shape[1])
    Z = arr - arr.mean(axis=0)
    sig = np.empty((arr.shape[0], len(grp)))
    for m, g in enumerate(grp):
        block = Z[:, g]
        _, vt = principal_axes(block)
        sig[:, m] = block @ vt[0]
    return np.asarray(np.angle(scipy.signal.hilbert(sig, axis=0)), dtype=np.float64)


def kuramoto_order(phases: FloatArray) -> FloatArray:
    """Kuramoto order parameter R(t) = |mean_k exp(iθ_k(t))| in [0, 1]."""
    return np.asarray(np.abs(np.exp(1j * phases).mean(axis=1)), dtype=np.float64)


def metastability(X: object, groups: Sequence[Sequence[int]], trim: float = 0.0) -> float:
    """Metastability: variance over time of the Kuramoto order parameter of module phases (Shanahan 2010).

    Shanahan, Chaos 20:013108 (2010), metastability index λ = var_t R(t) (population variance). Module
    phase = Hilbert phase of the module's first principal component (a single module column is used
    as is). `trim` drops that fraction at each end against Hilbert edge effects. 0 for phase-locked
    modules; ≈ 1/2 − 4/π² ≈ 0.095 for two modules drifting at a constant frequency difference.
    """
    ph = module_phases(X, groups)
    if ph.shape[1] < 2:
        raise MetricError("metastability needs at least two modules", "pass two or more groups")
    cut = int(trim * ph.shape[0])
    R = kuramoto_order(ph[cut : ph.shape[0] - cut] if cut else ph)
    return float(np.var(R))


def o_information(data: LaggedCovariance | object, groups: Sequence[Sequence[int]] | None = None) -> float:
    """Gaussian O-information Ω (nats) over variables or modules (Rosas et al. 2019, Phys Rev E 100:032305).

    Ω = (n−2) H(X) + Σ_i [H(X_i) − H(X_{−i})]; > 0 redundancy-dominated, < 0 synergy-dominated.
    `data` is a LaggedCovariance (uses Σ) or a T x D sample array; `groups` defaults to one per column.
    """
    if isinstance(data, LaggedCovariance):
        sigma = data.sigma
    else:
        arr = as_float_matrix(data)
        if arr.shape[0] <= arr.shape[1]:
            raise MetricError(
                f"too few samples ({arr.shape[0]}) for {arr.shape[1]} columns", "use a longer window or PCA"
            )
        sigma = np.cov(arr, rowvar=False, bias=True)
    D = sigma.shape[0]
    grp = validate_partition(groups if groups is not None else [[i] for i in range(D)], D)
    n = len(grp)
    if n < 3:
        raise MetricError("O-information needs at least 3 variables/modules", "pass 3 or more groups")
    # The (2πe) constants cancel exactly; only log-determinants remain.
    total = (n - 2) * logdet_pd(sigma)
    for g in grp:
        rest = sorted(set(range(D)) - set(g))
        total += logdet_pd(sigma[np.ix_(g, g)]) - logdet_pd(sigma[np.ix_(rest, rest)])
    return 0.5 * total


__all__ = [
    "binarise",
    "kuramoto_order",
    "lempel_ziv_complexity",
    "lz76",
    "metastability",
    "module_phases",
    "o_information",
]
