"""Closed-form Gaussian integration measures (TDMI, Φ_WMS, Φ̃, ψ, Φ_R, causal density) and `measures`.

Every function takes a `LaggedCovariance` and a partition (list of column-index lists) and returns nats.
Reference for all definitions: P.A.M. Mediano, A.K. Seth, A.B. Barrett, "Measuring integrated information:
comparison of candidate measures in theory and simulation", Entropy 21(1):17 (2019). Gaussian closed forms
assume a stationary, jointly Gaussian (equivalently: linear) process described by (Σ, Γ) at lag τ.
"""

from __future__ import annotations

import numpy as np

from omnimind.metrics._linalg import Partition, cond_cov, logdet_pd, validate_partition
from omnimind.metrics.covariance import LaggedCovariance

MEASURE_NAMES: tuple[str, ...] = (
    "tdmi",
    "phi_wms",
    "phi_tilde",
    "phi_star",
    "phi_g",
    "causal_density",
    "phi_r",
    "psi",
)


def _parts(cov: LaggedCovariance, partition: Partition | None) -> list[list[int]]:
    if partition is None:
        return [list(range(cov.dim))]
    return validate_partition(partition, cov.dim)


def mi_past_present(cov: LaggedCovariance, past: list[int], present: list[int]) -> float:
    """I(X^a_{t−τ}; X^b_t) = ½ log det Σ_bb − ½ log det Σ(X^b_t | X^a_{t−τ}) for Gaussian variables."""
    ia, ib = np.asarray(past), np.asarray(present)
    s_bb = cov.sigma[np.ix_(ib, ib)]
    cond = cond_cov(s_bb, cov.cross[np.ix_(ia, ib)], cov.sigma[np.ix_(ia, ia)])
    return 0.5 * (logdet_pd(s_bb) - logdet_pd(cond, "conditional covariance"))


def _cond_entropy_logdet(cov: LaggedCovariance, part: list[int]) -> float:
    """log det Σ(M_t | M_{t−τ}) for one part M predicted from its own past."""
    ip = np.asarray(part)
    s = cov.sigma[np.ix_(ip, ip)]
    return logdet_pd(cond_cov(s, cov.cross[np.ix_(ip, ip)], s), "conditional covariance")


def tdmi(cov: LaggedCovariance, partition: Partition | None = None) -> float:
    """Time-delayed mutual information I(X_{t−τ}; X_t) of the whole system (nats).

    I = ½ log det Σ − ½ log det(Σ − Γᵀ Σ⁻¹ Γ). The partition is accepted for a uniform signature and only
    validated. Mediano et al. 2019, Entropy 21:17, Sec. 2.
    """
    if partition is not None:
        _parts(cov, partition)
    return 0.5 * (logdet_pd(cov.sigma) - logdet_pd(cov.residual, "residual"))


def phi_wms(cov: LaggedCovariance, partition: Partition) -> float:
    """Whole-minus-sum integrated information Φ_WMS = I(X_{t−τ};X_t) − Σ_k I(M^k_{t−τ};M^k_t) (nats).

    Equals Barrett & Seth's (2011, PLoS Comput Biol 7:e1001052) Φ_E / Φ_AR for Gaussian data; Mediano et al.
    2019, Entropy 21:17. Can be negative when the parts share redundant predictive information.
    """
    parts = _parts(cov, partition)
    return tdmi(cov) - sum(mi_past_present(cov, p, p) for p in parts)


def phi_tilde(cov: LaggedCovariance, partition: Partition) -> float:
    """Integrated stochastic interaction Φ̃ = Σ_k H(M^k_t | M^k_{t−τ}) − H(X_t | X_{t−τ}) (nats).

    Ay 2001/2015; Barrett & Seth 2011; Mediano et al. 2019, Entropy 21:17. Non-negative; equals
    Φ_WMS + total correlation of the parts at time t (instantaneous coupling counts as integration).
    """
    parts = _parts(cov, partition)
    total = sum(_cond_entropy_logdet(cov, p) for p in parts)
    return 0.5 * (total - logdet_pd(cov.residual, "residual"))


def psi(cov: LaggedCovariance, partition: Partition) -> float:
    """Integrated synergy ψ = I(X_{t−τ}; X_t) − max_k I(M^k_{t−τ}; X_t) (nats).

    Griffith 2014 with the union information of Griffith & Koch; Mediano et al. 2019, Entropy 21:17.
    Known flaw: positive for disconnected, autocorrelated parts (ψ = min_k I_k for two independent parts).
    """
    parts = _parts(cov, partition)
    everything = list(range(cov.dim))
    return tdmi(cov) - max(mi_past_present(cov, p, everything) for p in parts)


def double_redundancy_mmi(cov: LaggedCovariance, partition: Partition) -> float:
    """ΦID double-redundancy under the minimum-mutual-information rule: min_{i,j} I(M^i_{t−τ}; M^j_t)."""
    parts = _parts(cov, partition)
    return min(mi_past_present(cov, a, b) for a in parts for b in parts)


def phi_r(cov: LaggedCovariance, partition: Partition) -> float:
    """Revised integrated information Φ_R = Φ_WMS + (K−1)·Red_MMI (nats), K = number of parts.

    Mediano, Rosas et al., "Towards an extended taxonomy of information dynamics via Integrated Information
    Decomposition" (arXiv:2109.13186, 2021): for a bipartition Φ_R = Φ_WMS + min_{i,j} I(M^i_{t−τ};M^j_t).
    For K > 2 parts we add the redundancy K−1 times because Σ_k I(M^k;M^k) counts it K times (documented
    extension; the paper defines the bipartition case).
    """
    parts = _parts(cov, partition)
    if len(parts) == 1:
        return 0.0
    return phi_wms(cov, parts) + (len(parts) - 1) * double_redundancy_mmi(cov, parts)


def conditional_transfer_entropy(cov: LaggedCovariance, source: list[int], target: list[int]) -> float:
    """TE_{source→target | rest} = I(S_{t−τ}; T_t | X^{−S}_{t−τ}) = ½ log det Σ(T_t|X^{−S}) / det Σ(T_t|X).

    Gaussian: equals half Geweke's conditional Granger causality (Barnett, Barrett & Seth 2009, PRL 103).
    """
    it = np.asarray(target)
    others = np.asarray(sorted(set(range(cov.dim)) - set(source)), dtype=np.int64)
    full = cov.residual[np.ix_(it, it)]
    s_tt = cov.sigma[np.ix_(it, it)]
    if others.size == 0:
        restricted = s_tt
    else:
        restricted = cond_cov(s_tt, cov.cross[np.ix_(others, it)], cov.sigma[np.ix_(others, others)])
    return 0.5 * (logdet_pd(restricted, "conditional covariance") - logdet_pd(full, "residual block"))


def causal_density(cov: LaggedCovariance, partition: Partition) -> float:
    """Causal density CD = 1/(K(K−1)) Σ_{i≠j} TE_{M^i→M^j | rest} between parts (nats).

    Seth, Barrett & Barnett 2011; Mediano et al. 2019, Entropy 21:17 (conditional transfer entropy, i.e.
    half of Geweke's conditional Granger causality). Zero for a single part (no pairs).
    """
    parts = _parts(cov, partition)
    k = len(parts)
    if k < 2:
        return 0.0
    total = sum(conditional_transfer_entropy(cov, parts[i], parts[j]) for i in range(k) for j in range(k) if i != j)
    return total / (k * (k - 1))


def measures(cov: LaggedCovariance, partition: Partition) -> dict[str, float]:
    """All eight Gaussian measures at one partition, in nats: keys exactly `MEASURE_NAMES`.

    Φ* and Φ_G raise MetricError if their optimisation does not converge to 1e-6.
    """
    from omnimind.metrics.decoding import phi_star
    from omnimind.metrics.geometric import phi_g

    parts = _parts(cov, partition)
    return {
        "tdmi": tdmi(cov),
        "phi_wms": phi_wms(cov, parts),
        "phi_tilde": phi_tilde(cov, parts),
        "phi_star": phi_star(cov, parts),
        "phi_g": phi_g(cov, parts),
        "causal_density": causal_density(cov, parts),
        "phi_r": phi_r(cov, parts),
        "psi": psi(cov, parts),
    }
