"""The compiled cycle: exact arithmetic claims, and digests that do not depend on how the kernel was built."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from omnimind.engine import IntegrationLoop, kernel
from omnimind.spec import ExperimentSpec

# Default spec, seed 42, after 2000 cycles. If this changes, every recorded digest changes with it: only an
# intended change to the engine's arithmetic may update it (and the docs say which release did).
DEFAULT_DIGEST_2000 = "d4f6688efc7749e1947aab940b11cad8b7727233f8981e01a33a5f2e61453c6e"

_DIGEST_SCRIPT = (
    "from omnimind.spec import ExperimentSpec\n"
    "from omnimind.engine import IntegrationLoop\n"
    "spec = ExperimentSpec.model_validate({})\n"
    "loop = IntegrationLoop(spec.engine, spec.seed)\n"
    "loop.run(2000)\n"
    "print(loop.state_digest())\n"
)


@settings(max_examples=60, deadline=None)
@given(nrows=st.integers(0, 11), ncols=st.integers(0, 13), k0=st.integers(0, 5), seed=st.integers(0, 2**32 - 1))
def test_unrolled_rows_equal_sequential_sums_bit_for_bit(nrows: int, ncols: int, k0: int, seed: int) -> None:
    """Four accumulators at a time is a speed trick only: every row is still summed in index order."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((3, nrows, ncols + k0)) * 10.0 ** rng.integers(-8, 8, (3, nrows, ncols + k0))
    z = rng.standard_normal((3, ncols + k0))
    start = rng.standard_normal(nrows)
    out = start.copy()
    kernel._accum_rows(a, 1, z, out, nrows, k0, k0 + ncols)
    for r in range(nrows):
        want = start[r]
        for k in range(k0, k0 + ncols):
            want += a[1, r, k] * z[1, k]
        assert out[r] == want


def test_default_digest_is_pinned() -> None:
    spec = ExperimentSpec.model_validate({})
    loop = IntegrationLoop(spec.engine, spec.seed)
    loop.run(2000)
    assert loop.state_digest() == DEFAULT_DIGEST_2000


def test_freshly_compiled_kernel_gives_the_same_digest(tmp_path: object) -> None:
    """A new process compiling into an empty numba cache computes what this process (cached kernel) did."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT], capture_output=True, text=True, env=env,
                         check=True, timeout=240)
    assert out.stdout.strip() == DEFAULT_DIGEST_2000


def test_numpy_reference_cycle_matches_kernel_to_rounding() -> None:
    """The kernel's cycle against the same cycle written with numpy (BLAS sums in another order)."""
    spec = ExperimentSpec.model_validate({"modules": [
        {"name": "e", "kind": "echo_state", "dim": 7}, {"name": "i", "kind": "integrator", "dim": 5},
        {"name": "s", "kind": "sensory", "dim": 3}, {"name": "p", "kind": "predictor", "dim": 9}],
        "workspace": {"dim": 6}})
    loop = IntegrationLoop(spec.engine, 3)
    b, ws = loop.bank, loop.workspace
    p = ws.params
    for _ in range(200):
        s0, m0, f0, bc0, sur0 = b.S.copy(), b.M.copy(), ws.fatigue.copy(), ws.broadcast.copy(), b.surprise.copy()
        noise = loop._block[loop._block_pos].copy() if loop._block_pos < 256 else None
        r = loop.step()
        if noise is None:
            noise = loop._block[loop._block_pos - 1]
        pre = np.einsum("mrk,mk->mr", b.W, np.hstack([s0, np.tile(bc0, (len(b.dims), 1))])) + noise
        act = np.where(b.linear, pre, np.tanh(pre))
        s1 = b.keep * s0 + b.leak * act
        np.testing.assert_allclose(b.S, s1, rtol=1e-12, atol=1e-14)
        c = np.einsum("mjk,mk->mj", b.R, s1)
        sal = np.sqrt((c * c).sum(1)) * b.gain + b.kappa * sur0 - p[0] * f0
        w = np.exp((sal - sal.max()) * p[1])
        w /= w.sum()
        np.testing.assert_allclose(ws.attention, w, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(ws.broadcast, w @ c, rtol=1e-10, atol=1e-13)
        assert r.winner == int(np.argmax(w))
        assert r.ignition == bool(w.max() >= p[4])
        np.testing.assert_allclose(ws.fatigue, p[2] * f0 + p[3] * w, rtol=1e-12, atol=1e-15)
        i = b.pred[0]
        h = s1[i]
        err = ws.broadcast - m0[i] @ h
        np.testing.assert_allclose(b.surprise[i], err @ err / len(err), rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(b.M[i], m0[i] + b.eta[i] / (1e-8 + h @ h) * np.outer(err, h), rtol=1e-10,
                                   atol=1e-14)
