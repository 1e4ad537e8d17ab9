"""Lagged covariance of a stationary process: the sufficient statistic of every Gaussian measure here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.linalg

from omnimind.errors import MetricError
from omnimind.metrics._linalg import PCA_HINT, FloatArray, as_float_matrix

#: Smallest allowed ratio of smallest to largest eigenvalue of Σ before it is called singular.
SINGULAR_RCOND = 1e-12


def _frozen(a: FloatArray) -> FloatArray:
    out = np.array(a, dtype=np.float64, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class LaggedCovariance:
    """Σ = Cov(X_t) and Γ = Cov(X_{t−τ}, X_t) = E[(X_{t−τ}−μ)(X_t−μ)ᵀ] of a stationary process.

    Rows of `cross` index the past, columns the present. `n_samples` is the window length T for a sample
    estimate and None for an exact (model) covariance. Stationarity means past and present share Σ.
    """

    sigma: FloatArray
    cross: FloatArray
    lag: int = 1
    n_samples: int | None = None

    def __post_init__(self) -> None:
        sigma = np.asarray(self.sigma, dtype=np.float64)
        cross = np.asarray(self.cross, dtype=np.float64)
        if sigma.ndim != 2 or sigma.shape[0] != sigma.shape[1] or cross.shape != sigma.shape:
            raise MetricError(
                f"sigma and cross must be square D x D of equal shape, got {sigma.shape} and {cross.shape}",
                "build with LaggedCovariance.from_samples(X) or LaggedCovariance.from_var(A, noise_cov)",
            )
        if not (np.all(np.isfinite(sigma)) and np.all(np.isfinite(cross))):
            raise MetricError("covariance contains NaN/inf", "check the data or model for non-finite values")
        if self.lag < 1:
            raise MetricError(f"lag must be >= 1, got {self.lag}", "use lag=1 for one-step dynamics")
        object.__setattr__(self, "sigma", _frozen(0.5 * (sigma + sigma.T)))
        object.__setattr__(self, "cross", _frozen(cross))
        self._check_nonsingular()

    @property
    def dim(self) -> int:
        """Number of columns D."""
        return int(self.sigma.shape[0])

    @cached_property
    def joint(self) -> FloatArray:
        """Covariance of the stacked vector (X_{t−τ}, X_t), 2D x 2D."""
        return _frozen(np.block([[self.sigma, self.cross], [self.cross.T, self.sigma]]))

    @cached_property
    def residual(self) -> FloatArray:
        """Σ(X_t | X_{t−τ}) = Σ − Γᵀ Σ⁻¹ Γ (the one-step prediction-error covariance)."""
        out = self.sigma - self.cross.T @ np.linalg.solve(self.sigma, self.cross)
        return _frozen(0.5 * (out + out.T))

    def _check_nonsingular(self) -> None:
        eig = np.linalg.eigvalsh(self.sigma)
        if eig[0] <= SINGULAR_RCOND * max(eig[-1], np.finfo(np.float64).tiny):
            raise MetricError(
                f"Σ(X_t) is singular (eigenvalues in [{eig[0]:.3g}, {eig[-1]:.3g}], D={self.dim})", PCA_HINT
            )
        jeig = np.linalg.eigvalsh(self.joint)
        if jeig[0] <= SINGULAR_RCOND * jeig[-1]:
            raise MetricError(
                "the joint covariance of (X_{t-τ}, X_t) is singular: the present is a deterministic "
                "function of the past (or the window is too short)",
                "add observation noise, use a longer window, or " + PCA_HINT,
            )

    @classmethod
    def from_samples(cls, X: object, lag: int = 1) -> LaggedCovariance:
        """Estimate Σ and Γ from a T x D window with the biased (1/T) autocovariance estimator.

        One mean for the whole window (stationarity); Γ = (1/T) Σ_t (x_{t−τ}−μ)(x_t−μ)ᵀ. This estimator
        makes the joint (past, present) covariance positive semi-definite, so every measure is defined.
        """
        arr = as_float_matrix(X)
        T, D = arr.shape
        if lag < 1:
            raise MetricError(f"lag must be >= 1, got {lag}", "use lag=1 for one-step dynamics")
        if T - lag <= D:
            raise MetricError(
                f"too few samples: T={T} with lag {lag} leaves {T - lag} pairs for D={D} columns",
                f"use a window of at least {D + lag + 1} samples (many more for low bias: bias ~ D^2/T), "
                "or reduce dimensions with reduce_modules(X, groups, k)",
            )
        Z = arr - arr.mean(axis=0)
        sigma = (Z.T @ Z) / T
        cross = (Z[:-lag].T @ Z[lag:]) / T
        return cls(sigma=sigma, cross=cross, lag=lag, n_samples=T)

    @classmethod
    def from_var(cls, A: object, noise_cov: object, lag: int = 1) -> LaggedCovariance:
        """Exact Σ, Γ of the stationary VAR(1) X_t = A X_{t−1} + ε_t, ε ~ N(0, noise_cov).

        Σ solves the discrete Lyapunov equation Σ = A Σ Aᵀ + noise_cov; Γ(τ) = Σ (A^τ)ᵀ.
        """
        A_ = as_float_matrix(A, "A")
        N_ = as_float_matrix(noise_cov, "noise_cov")
        D = A_.shape[0]
        if A_.shape != (D, D) or N_.shape != (D, D):
            raise MetricError(
                f"A and noise_cov must be square and equal shape, got {A_.shape} and {N_.shape}",
                "pass D x D matrices",
            )
        if not np.allclose(N_, N_.T, rtol=1e-10, atol=1e-12):
            raise MetricError("noise_cov is not symmetric", "pass a symmetric positive-definite noise_cov")
        if lag < 1:
            raise MetricError(f"lag must be >= 1, got {lag}", "use lag=1 for one-step dynamics")
        rho = float(np.max(np.abs(np.linalg.eigvals(A_))))
        if rho >= 1.0:
            raise MetricError(
                f"the VAR(1) is not stationary: spectral radius of A is {rho:.6g} >= 1",
                "scale A down (A *= 0.9 / spectral_radius) so all eigenvalues lie inside the unit circle",
            )
        try:
            np.linalg.cholesky(N_)
        except np.linalg.LinAlgError as exc:
            raise MetricError("noise_cov is not positive definite", PCA_HINT) from exc
        sigma = scipy.linalg.solve_discrete_lyapunov(A_, N_)
        sigma = 0.5 * (sigma + sigma.T)
        cross = sigma @ np.linalg.matrix_power(A_, lag).T
        return cls(sigma=sigma, cross=cross, lag=lag, n_samples=None)
