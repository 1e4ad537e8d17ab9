"""Modules: the protocol every module implements, and the four built-in dynamical systems.

Every built-in module follows one update, with kind-specific parameters (docs/engine.md):

    s ← (1 − a)·s + a·φ(W·s + U·b + P·u + σ·ξ)

s: module state (d), b: last broadcast (d_b), u: external stimulus (d_s), ξ ~ N(0, I) from the engine's
`noise` stream, φ = tanh (identity for the integrator). Each module's candidate content for the
workspace is c = R·s. The predictor also learns, by normalised LMS, a map M with M·s ≈ next broadcast;
its squared prediction error per dimension is its *surprise*, which raises its salience.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from omnimind.engine.spec import ModuleSpec

F64 = NDArray[np.float64]

KIND_DEFAULTS: dict[str, dict[str, float]] = {
    "echo_state": {"leak": 0.3, "spectral_radius": 0.9, "input_scale": 1.0, "stimulus_scale": 0.0,
                   "noise": 0.05, "learning_rate": 0.0, "surprise_gain": 0.0},
    "integrator": {"leak": 0.02, "spectral_radius": 0.0, "input_scale": 1.0, "stimulus_scale": 0.0,
                   "noise": 0.01, "learning_rate": 0.0, "surprise_gain": 0.0},
    "sensory": {"leak": 0.5, "spectral_radius": 0.3, "input_scale": 0.3, "stimulus_scale": 1.0,
                "noise": 0.05, "learning_rate": 0.0, "surprise_gain": 0.0},
    "predictor": {"leak": 0.5, "spectral_radius": 0.8, "input_scale": 1.0, "stimulus_scale": 0.0,
                  "noise": 0.02, "learning_rate": 0.05, "surprise_gain": 1.0},
}
NONLINEAR: dict[str, bool] = {"echo_state": True, "integrator": False, "sensory": True, "predictor": True}


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a module receives each cycle besides the broadcast: the stimulus and its noise draw."""

    stimulus: F64 | None
    noise: F64


@runtime_checkable
class Module(Protocol):
    """The module protocol. `get_state`/`set_state` must be *full* (snapshots restore bit-for-bit)."""

    name: str
    dim: int

    def step(self, broadcast: F64, inputs: Inputs) -> F64:
        """Advance one cycle and return the new state vector (length `dim`)."""
        ...

    def get_state(self) -> dict[str, Any]:
        """Every array and scalar needed to continue exactly (arrays are copied)."""
        ...

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what `get_state` returned."""
        ...


def resolve_params(spec: ModuleSpec) -> dict[str, float]:
    """The kind's defaults overridden by what the spec sets."""
    out = dict(KIND_DEFAULTS[spec.kind])
    for key, value in spec.params.model_dump(exclude_none=True).items():
        out[key] = float(value)
    out.setdefault("gain", 1.0)
    return out


@dataclass(slots=True)
class BuiltinModule:
    """A built-in module with its own arrays: the readable reference for what the fused bank computes."""

    name: str
    kind: str
    dim: int
    W: F64  # d × (d + d_b + d_s): [recurrent | broadcast input | stimulus input]
    R: F64  # d_b × d: readout of the candidate content
    leak: float
    noise: float
    gain: float
    learning_rate: float
    surprise_gain: float
    state: F64
    M: F64  # d_b × d: predictor's learned map (zeros for other kinds)
    surprise: float = 0.0
    nonlinear: bool = True
    _z: F64 = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._z = np.zeros(self.W.shape[1])

    @classmethod
    def create(cls, spec: ModuleSpec, ws_dim: int, stim_dim: int, rng: np.random.Generator) -> BuiltinModule:
        """Draw the module's parameters and initial state from `rng` (the engine's `init` stream)."""
        p = resolve_params(spec)
        d = spec.dim
        rec = rng.standard_normal((d, d))
        radius = float(np.max(np.abs(np.linalg.eigvals(rec)))) if d else 0.0
        rec = rec * (p["spectral_radius"] / radius) if radius > 0 else rec * 0.0
        u = rng.standard_normal((d, ws_dim)) * (p["input_scale"] / np.sqrt(ws_dim))
        pin = rng.standard_normal((d, stim_dim)) * (p["stimulus_scale"] / np.sqrt(max(stim_dim, 1)))
        readout = rng.standard_normal((ws_dim, d)) / np.sqrt(d)
        state = rng.standard_normal(d) * 0.1
        return cls(
            name=spec.name, kind=spec.kind, dim=d, W=np.hstack([rec, u, pin]), R=readout,
            leak=p["leak"], noise=p["noise"], gain=p["gain"], learning_rate=p["learning_rate"],
            surprise_gain=p["surprise_gain"], state=state, M=np.zeros((ws_dim, d)),
            nonlinear=NONLINEAR[spec.kind],
        )

    def step(self, broadcast: F64, inputs: Inputs) -> F64:
        """s ← (1 − a)s + a·φ(W[s; b; u] + σξ)."""
        d, db = self.dim, broadcast.shape[0]
        self._z[:d] = self.state
        self._z[d : d + db] = broadcast
        if inputs.stimulus is not None:
            self._z[d + db :] = inputs.stimulus
        pre = self.W @ self._z + self.noise * inputs.noise
        act = np.tanh(pre) if self.nonlinear else pre
        self.state = (1.0 - self.leak) * self.state + self.leak * act
        return self.state

    def content(self) -> F64:
        """Candidate content for the workspace."""
        return self.R @ self.state

    def salience(self) -> float:
        """gain·‖c‖/√d_b + surprise_gain·surprise (the surprise of the previous cycle)."""
        c = self.content()
        return self.gain * float(np.sqrt(c @ c) / np.sqrt(c.shape[0])) + self.surprise_gain * self.surprise

    def observe(self, broadcast: F64) -> None:
        """Predictor only: NLMS update of M towards the broadcast that actually won; records surprise."""
        if self.kind != "predictor":
            return
        h = self.state
        err = broadcast - self.M @ h
        self.surprise = float(err @ err) / err.shape[0]
        self.M += (self.learning_rate / (1e-8 + float(h @ h))) * np.outer(err, h)

    def get_state(self) -> dict[str, Any]:
        """State, learned map and parameters (a module may change its own parameters)."""
        return {"state": self.state.copy(), "M": self.M.copy(), "W": self.W.copy(), "R": self.R.copy(),
                "surprise": self.surprise}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what `get_state` returned."""
        self.state = np.array(state["state"], dtype=np.float64)
        self.M = np.array(state["M"], dtype=np.float64)
        self.W = np.array(state["W"], dtype=np.float64)
        self.R = np.array(state["R"], dtype=np.float64)
        self.surprise = float(state["surprise"])
