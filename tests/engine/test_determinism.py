"""Determinism and exact state capture/restore of the engine (all module kinds, stimuli, user modules)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from omnimind.engine import (
    BuiltinModule,
    EngineSpec,
    Inputs,
    IntegrationLoop,
    ModuleParams,
    ModuleSpec,
    WorkspaceSpec,
)
from omnimind.engine.loop import NOISE_BLOCK

KINDS = ["echo_state", "integrator", "sensory", "predictor"]


def mixed_spec(broadcast: str = "weighted", history: int = 64) -> EngineSpec:
    mods = [ModuleSpec(name=f"{k}-{i}", kind=k, dim=d)  # type: ignore[arg-type]
            for i, (k, d) in enumerate(zip(KINDS * 2, [5, 8, 3, 6, 4, 7, 2, 9], strict=True))]
    return EngineSpec(workspace=WorkspaceSpec(dim=6, broadcast=broadcast, history=history), modules=mods)


def stimuli() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((13, 4))


class Counter:
    """A user module implementing the protocol: a damped oscillator driven by the broadcast and its noise."""

    def __init__(self, name: str = "user", dim: int = 3) -> None:
        self.name, self.dim = name, dim
        self.x = np.zeros(dim)
        self.t = 0

    def step(self, broadcast: np.ndarray, inputs: Inputs) -> np.ndarray:
        self.t += 1
        self.x = 0.9 * np.roll(self.x, 1) + 0.1 * broadcast[: self.dim] + 0.01 * inputs.noise
        return self.x

    def get_state(self) -> dict[str, Any]:
        return {"x": self.x.copy(), "t": self.t}

    def set_state(self, state: dict[str, Any]) -> None:
        self.x = np.array(state["x"])
        self.t = int(state["t"])


def build(seed: int = 1, broadcast: str = "weighted", user: bool = False) -> IntegrationLoop:
    mods = [Counter()] if user else []
    return IntegrationLoop(mixed_spec(broadcast), seed, stimuli(), hold=3, user_modules=mods)


def test_same_seed_same_digest_different_seed_different() -> None:
    a, b, c = build(1), build(1), build(2)
    for loop in (a, b, c):
        loop.run(500)
    assert a.state_digest() == b.state_digest()
    assert np.array_equal(a.workspace.history, b.workspace.history)
    assert a.state_digest() != c.state_digest()


@pytest.mark.parametrize("broadcast", ["weighted", "winner"])
@pytest.mark.parametrize("user", [False, True])
@pytest.mark.parametrize("k", [0, 1, 37, NOISE_BLOCK, NOISE_BLOCK + 5, 700])
def test_capture_restore_is_bit_identical(k: int, broadcast: str, user: bool) -> None:
    n = 900
    straight = build(3, broadcast, user)
    digests = [straight.step().state_digest for _ in range(n)]

    first = build(3, broadcast, user)
    first.run(k)
    state = first.get_state()
    # A fresh loop from a *different* seed: everything must come from the captured state.
    resumed = IntegrationLoop(mixed_spec(broadcast), 999, stimuli(), hold=3,
                              user_modules=[Counter()] if user else [])
    resumed.set_state(state)
    assert resumed.cycle == k
    rest = [resumed.step().state_digest for _ in range(n - k)]
    assert rest == digests[k:]
    assert np.array_equal(resumed.workspace.history, straight.workspace.history)
    assert np.array_equal(resumed.bank.M, straight.bank.M)


def test_fused_bank_matches_reference_modules() -> None:
    """The batched hot path computes the documented per-module update and competition (to rounding)."""
    spec = mixed_spec()
    loop = IntegrationLoop(spec, 5, stimuli(), hold=3)
    gen = type(loop.streams)(5).get("init")  # the init stream, drawn again exactly as the engine did
    refs = [BuiltinModule.create(m, 6, 4, gen) for m in spec.modules]
    ws = spec.workspace
    fatigue = np.zeros(len(refs))
    broadcast = np.zeros(ws.dim)
    for cycle in range(1, 300):
        if loop._block_pos == NOISE_BLOCK:
            loop._draw_block()
        noise = loop._block[loop._block_pos].copy()
        stim = loop.stimuli[loop.stimulus_index(cycle)]  # type: ignore[index]
        loop.step()
        for i, mod in enumerate(refs):
            mod.step(broadcast, Inputs(stimulus=stim, noise=noise[i, : mod.dim] / mod.noise))
        sal = np.array([m.salience() for m in refs]) - ws.adaptation * fatigue
        w = np.exp((sal - sal.max()) / ws.temperature)
        w /= w.sum()
        broadcast = w @ np.stack([m.content() for m in refs])
        fatigue = (1 - 1 / ws.adaptation_time) * fatigue + w / ws.adaptation_time
        for m in refs:
            m.observe(broadcast)
        want = np.concatenate([m.state for m in refs])
        np.testing.assert_allclose(loop.workspace.current, want, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(loop.workspace.attention, w, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(loop.workspace.broadcast, broadcast, rtol=1e-9, atol=1e-12)
        assert loop.workspace.ignition == (w.max() >= ws.ignition_threshold)


def test_history_ring_order() -> None:
    loop = IntegrationLoop(mixed_spec(history=10), 1)
    rows = []
    for _ in range(25):
        loop.step()
        rows.append(loop.workspace.current.copy())
    np.testing.assert_array_equal(loop.workspace.recent(10), np.array(rows[-10:]))
    with pytest.raises(ValueError, match="rows of history"):
        loop.workspace.recent(11)


def test_ignition_and_switching_happen_in_default_regime() -> None:
    """The default workspace is metastable: winners change and ignition occurs, but not always."""
    kinds = ["echo_state"] * 3 + ["integrator"] * 2 + ["sensory"] * 2 + ["predictor"]
    spec = EngineSpec(modules=[ModuleSpec(name=f"m{i}", kind=k, dim=16)  # type: ignore[arg-type]
                               for i, k in enumerate(kinds)])
    loop = IntegrationLoop(spec, 42)
    loop.run(1000)
    results = [loop.step() for _ in range(3000)]
    ignition = np.mean([r.ignition for r in results])
    winners = {r.winner for r in results}
    assert 0.01 < ignition < 0.9
    assert len(winners) >= 4


def test_module_params_override_defaults() -> None:
    spec = EngineSpec(modules=[ModuleSpec(name="a", kind="echo_state", dim=4,
                                          params=ModuleParams(leak=1.0, noise=0.0))])
    loop = IntegrationLoop(spec, 0)
    assert loop.bank.leak[0, 0] == 1.0
    assert np.all(loop.bank.sigma == 0.0)
