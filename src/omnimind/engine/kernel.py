"""The compiled hot path: one cycle of the fused bank and the workspace competition, as plain loops.

numba compiles these functions once per machine (cached next to this file, or under NUMBA_CACHE_DIR) so a
cycle costs a handful of microseconds instead of ~25 numpy calls. The arithmetic is the documented update
(`BuiltinModule`, `SharedWorkspace`): IEEE float64, no fast-math (no reassociation, no fused multiply-add
contraction), sums in index order, so a digest depends on the inputs and libm's tanh/exp only, not on
BLAS kernels or SIMD dispatch. The numpy reference stays in `modules.py`/`workspace.py` and is tested
against these kernels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

# Intel SVML, when installed, would vectorise tanh/exp with different rounding than libm: digests must not
# depend on which optional runtime a machine happens to have. (Read by numba at its first import.)
os.environ.setdefault("NUMBA_DISABLE_INTEL_SVML", "1")

import numba
import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B8 = NDArray[np.bool_]
_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(fn: _F) -> _F:
    return cast(_F, numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")(fn))


@_jit
def _accum_rows(A: F64, i: int, Z: F64, out: F64, nrows: int, k0: int, k1: int) -> None:
    """out[r] += Σ_{k0≤k<k1} A[i, r, k]·Z[i, k] for r < nrows, each sum in index order.

    Four rows at a time: four independent add chains instead of one (same result, ~2× faster).
    """
    r = 0
    while r + 4 <= nrows:
        a0, a1, a2, a3 = out[r], out[r + 1], out[r + 2], out[r + 3]
        for k in range(k0, k1):
            z = Z[i, k]
            a0 += A[i, r, k] * z
            a1 += A[i, r + 1, k] * z
            a2 += A[i, r + 2, k] * z
            a3 += A[i, r + 3, k] * z
        out[r], out[r + 1], out[r + 2], out[r + 3] = a0, a1, a2, a3
        r += 4
    while r < nrows:
        a = out[r]
        for k in range(k0, k1):
            a += A[i, r, k] * Z[i, k]
        out[r] = a
        r += 1


@_jit
def bank_step(Z: F64, W: F64, noise: F64, nonlin: B8, keep: F64, leak: F64, dims: I64,
              broadcast: F64, stim: F64, pre: F64, row: F64) -> None:
    """s ← keep·s + leak·φ(W[s; b; u] + σξ) for every module (row i of Z), then the states into `row`."""
    m = Z.shape[0]
    width = Z.shape[1]
    db = broadcast.shape[0]
    dmax = width - db - stim.shape[0]
    zb = dmax + db
    off = 0
    for i in range(m):
        d = dims[i]
        for k in range(db):
            Z[i, dmax + k] = broadcast[k]
        for k in range(stim.shape[0]):
            Z[i, zb + k] = stim[k]
        for r in range(d):
            pre[r] = 0.0
        _accum_rows(W, i, Z, pre, d, 0, d)
        _accum_rows(W, i, Z, pre, d, dmax, width)
        for r in range(d):
            pre[r] += noise[i, r]
        lk = leak[i]
        kp = keep[i]
        if nonlin[i]:
            for r in range(d):
                Z[i, r] = Z[i, r] * kp + math.tanh(pre[r]) * lk
        else:
            for r in range(d):
                Z[i, r] = Z[i, r] * kp + pre[r] * lk
        for r in range(d):
            row[off + r] = Z[i, r]
        off += d


@_jit
def salience(Z: F64, R: F64, dims: I64, gain: F64, kappa: F64, surprise: F64, pred: I64,
             content: F64, out: F64) -> None:
    """Candidate contents c_i = R_i s_i into `content[:, :d_b]`; saliences g_i‖c_i‖ (+ κ·surprise) into `out`."""
    m = Z.shape[0]
    db = R.shape[1]
    for i in range(m):
        c = content[i]
        for j in range(db):
            c[j] = 0.0
        _accum_rows(R, i, Z, c, db, 0, dims[i])
        ss = 0.0
        for j in range(db):
            ss += c[j] * c[j]
        out[i] = math.sqrt(ss) * gain[i]
    for p in pred:
        out[p] += kappa[p] * surprise[p]


@_jit
def compete(sal: F64, content: F64, fatigue: F64, attention: F64, broadcast: F64, params: F64) -> tuple[int, bool]:
    """Adapted softmax(salience / T) → attention, broadcast (weighted or winner), ignition, fatigue update.

    params = [β, 1/T, 1 − 1/τ, 1/τ, ignition threshold, winner mode (0/1)].
    """
    beta, inv_t, decay, rate, threshold, winner_mode = params[0], params[1], params[2], params[3], params[4], params[5]
    n = sal.shape[0]
    db = broadcast.shape[0]
    if beta != 0.0:
        for i in range(n):
            sal[i] -= beta * fatigue[i]
    winner = 0
    best = -np.inf
    for i in range(n):
        v = sal[i] * inv_t
        attention[i] = v
        if v > best or i == 0:
            best = v
            winner = i
    total = 0.0
    for i in range(n):
        attention[i] = math.exp(attention[i] - best)
        total += attention[i]
    if winner_mode != 0.0:
        for j in range(db):
            broadcast[j] = content[winner, j]
    else:
        for j in range(db):
            acc = 0.0
            for i in range(n):
                acc += attention[i] * content[i, j]
            broadcast[j] = acc / total
    for i in range(n):
        attention[i] /= total
    ignition = attention[winner] >= threshold
    if beta != 0.0:
        for i in range(n):
            fatigue[i] = fatigue[i] * decay + rate * attention[i]
    return winner, ignition


@_jit
def observe(Z: F64, M: F64, dims: I64, eta: F64, surprise: F64, pred: I64, broadcast: F64,
            err: F64) -> None:
    """Predictors' normalised-LMS step M ← M + η/(ε + ‖h‖²)·(b − M h) hᵀ; surprise = ‖b − M h‖² / d_b."""
    db = broadcast.shape[0]
    for p in pred:
        d = dims[p]
        se = 0.0
        hh = 0.0
        for k in range(d):
            hh += Z[p, k] * Z[p, k]
        for j in range(db):
            err[j] = 0.0
        _accum_rows(M, p, Z, err, db, 0, d)
        for j in range(db):
            e = broadcast[j] - err[j]
            err[j] = e
            se += e * e
        surprise[p] = se / db
        step = eta[p] / (1e-8 + hh)
        for j in range(db):
            g = err[j] * step
            for k in range(d):
                M[p, j, k] += g * Z[p, k]


@_jit
def cycle(Z: F64, W: F64, nonlin: B8, keep: F64, leak: F64, dims: I64, R: F64, gain: F64,
          kappa: F64, surprise: F64, pred: I64, M: F64, eta: F64, content: F64, sal: F64,
          fatigue: F64, attention: F64, broadcast: F64, params: F64, pre: F64, err: F64,
          noise: F64, stim: F64, row: F64) -> tuple[int, bool]:
    """One whole cycle of a loop with only built-in modules: step, record, compete, broadcast, learn."""
    bank_step(Z, W, noise, nonlin, keep, leak, dims, broadcast, stim, pre, row)
    salience(Z, R, dims, gain, kappa, surprise, pred, content, sal)
    winner, ignition = compete(sal, content, fatigue, attention, broadcast, params)
    observe(Z, M, dims, eta, surprise, pred, broadcast, err)
    return winner, ignition


@_jit
def record(n: int, state: F64, attention: F64, winner: int, ignition: bool, surprise: F64, pred: I64,
           states: F64, att: F64, win: NDArray[np.int32], ign: NDArray[np.uint8], sur: F64) -> None:
    """Copy one cycle's arrays into row `n` of the recorder's buffers (a buffer with no rows is not recorded)."""
    if states.shape[0]:
        for k in range(state.shape[0]):
            states[n, k] = state[k]
    if att.shape[0]:
        for k in range(attention.shape[0]):
            att[n, k] = attention[k]
    if win.shape[0]:
        win[n, 0] = winner
    if ign.shape[0]:
        ign[n, 0] = 1 if ignition else 0
    if sur.shape[0]:
        for k in range(pred.shape[0]):
            sur[n, k] = surprise[pred[k]]
