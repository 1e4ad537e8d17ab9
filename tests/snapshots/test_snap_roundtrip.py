from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from omnimind.errors import NotFoundError, SnapshotError
from omnimind.snapshots import SnapshotStore


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


DTYPES = st.one_of(
    hnp.floating_dtypes(endianness="="),
    hnp.floating_dtypes(endianness=">"),
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.complex_number_dtypes(),
    hnp.boolean_dtypes(),
    hnp.datetime64_dtypes(),
    hnp.byte_string_dtypes(max_len=5),
    hnp.unicode_string_dtypes(max_len=5),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    arrays=st.dictionaries(
        st.text(min_size=1, max_size=8),
        hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=40)),
        max_size=4,
    )
)
def test_round_trip_bit_exact(store: SnapshotStore, arrays: dict[str, np.ndarray]) -> None:
    snap = store.save(arrays, {"k": 1})
    out, meta = store.load(snap.id)
    assert set(out) == set(arrays)
    for k, a in arrays.items():
        assert same(out[k], a), k
    assert meta == {"k": 1}


def test_edge_arrays(store: SnapshotStore) -> None:
    nan_payload = np.array([0x7FC00001, 0x7F800001, 0xFFC12345, 0x7FFFFFFF], dtype=np.uint32).view(np.float32)
    base = np.arange(1000, dtype=np.float64).reshape(20, 50)
    arrays = {
        "scalar": np.float64(np.pi),
        "zero_d": np.array(7, dtype=np.int16),
        "empty": np.empty((0, 5), dtype=np.float32),
        "empty_1d": np.array([], dtype=np.complex64),
        "nan_payloads": nan_payload,
        "strided": base[::3, ::7],
        "fortran": np.asfortranarray(base),
        "big_endian": np.arange(5000, dtype=">f8"),
        "bool": np.array([True, False, True]),
        "large": np.random.default_rng(0).standard_normal(50_000).astype(np.float32),  # many chunks
    }
    snap = store.save(arrays, {"run": "r"})
    out, _ = store.load(snap.id)
    for k, a in arrays.items():
        ref = np.ascontiguousarray(a) if isinstance(a, np.ndarray) and a.ndim else np.asarray(a)
        assert same(out[k], ref), k
    assert out["nan_payloads"].view(np.uint32).tolist() == [0x7FC00001, 0x7F800001, 0xFFC12345, 0x7FFFFFFF]
    assert out["zero_d"].shape == () and out["scalar"].shape == ()
    assert snap.arrays["large"].nbytes == 200_000 and len(snap.arrays["large"].chunks) == 49
    # load a subset
    part, _ = store.load(snap.id, ["bool"])
    assert list(part) == ["bool"]


def test_meta_round_trip_and_fields(store: SnapshotStore) -> None:
    meta = {
        "run": "run-1",
        "cycle": 10,
        "spec": {"modules": ["a", "b"], "seed": 3},
        "metrics": {"phi": 0.25},
        "ledger_checkpoint": "origin\n12\nabc=\n",
    }
    snap = store.save({"x": np.ones(3)}, meta, tags=["b", "a", "a"], host="h1")
    assert snap.run == "run-1" and snap.tags == ("a", "b") and snap.host == "h1"
    again = SnapshotStore.open(store.path).get(snap.id)
    assert again.to_json() == snap.to_json()
    assert store.load(snap.id)[1] == meta


def test_reopen_sees_snapshots(store: SnapshotStore, state: dict[str, np.ndarray]) -> None:
    snap = store.save(state, {})
    other = SnapshotStore.open(store.path)
    out, _ = other.load(snap.short_id)
    assert all(same(out[k], np.asarray(v)) for k, v in state.items())


def test_bad_inputs(store: SnapshotStore, tmp_path: Path) -> None:
    with pytest.raises(SnapshotError):
        store.save({"o": np.array([object()])}, {})
    with pytest.raises(SnapshotError):
        store.save({"s": np.zeros(2, dtype=[("a", "i4")])}, {})
    with pytest.raises(SnapshotError, match="canonical-JSON"):
        store.save({"x": np.ones(1)}, {"m": float("nan")})
    with pytest.raises(SnapshotError, match="not a snapshot store"):
        SnapshotStore.open(tmp_path)
    with pytest.raises(SnapshotError, match="already"):
        SnapshotStore.init(store.path)
    with pytest.raises(NotFoundError):
        store.get("deadbeef")
    with pytest.raises(NotFoundError):
        store.get("not-hex")
    with pytest.raises(NotFoundError):
        store.get("latest")
    with pytest.raises(NotFoundError):
        store.save({"x": np.ones(1)}, {}, parent="abcdef")
    assert store.list() == []
