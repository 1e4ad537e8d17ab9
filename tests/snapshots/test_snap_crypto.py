from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from omnimind.errors import SnapshotError, VerificationError
from omnimind.snapshots import SnapshotStore


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


def test_encrypted_round_trip_and_key_errors(
    tmp_path: Path, key: bytes, state: dict[str, np.ndarray]
) -> None:
    s = SnapshotStore.init(tmp_path / "enc", encryption_key=key, chunk_size=4096)
    snap = s.save(state, {"secret": "value-in-meta"})
    out, meta = SnapshotStore.open(tmp_path / "enc", key).load(snap.id)
    assert all(out[k].tobytes() == np.asarray(v).tobytes() for k, v in state.items())
    assert meta == {"secret": "value-in-meta"}
    with pytest.raises(SnapshotError, match="wrong encryption key"):
        SnapshotStore.open(tmp_path / "enc", os.urandom(32))
    with pytest.raises(SnapshotError, match="no key"):
        SnapshotStore.open(tmp_path / "enc")
    with pytest.raises(SnapshotError, match="32 bytes"):
        SnapshotStore.open(tmp_path / "enc", b"short")
    plain = SnapshotStore.init(tmp_path / "plain")
    with pytest.raises(SnapshotError, match="not encrypted"):
        SnapshotStore.open(plain.path, key)
    # nothing readable on disk: neither meta nor array bytes appear in plaintext
    blob = np.asarray(state["weights"]).tobytes()[:64]
    for f in Path(s.path).rglob("*"):
        if f.is_file() and f.name != "config.json":
            data = f.read_bytes()
            assert b"value-in-meta" not in data and blob not in data
    # ids are keyed: the same data in an unencrypted store gets different ids
    assert plain.save(state, {"secret": "value-in-meta"}).id != snap.id


def test_tampering_is_detected(tmp_path: Path, key: bytes, state: dict[str, np.ndarray]) -> None:
    s = SnapshotStore.init(tmp_path / "enc", encryption_key=key, chunk_size=4096)
    snap = s.save(state, {})
    loc = s._index[snap.arrays["weights"].chunks[3]]
    pack = Path(s.path, "data", loc.pack[:2], loc.pack)
    data = bytearray(pack.read_bytes())
    data[loc.offset + 20] ^= 0x01
    pack.write_bytes(bytes(data))
    rep = SnapshotStore.open(s.path, key).verify(read_data=True)
    assert not rep.ok and rep.damaged_snapshots == [snap.id]
    errs = [p for p in rep.errors if p.snapshot == snap.id]
    assert (
        errs[0].array == "weights"
        and errs[0].blob == snap.arrays["weights"].chunks[3]
        and errs[0].pack == loc.pack
    )
    assert "authentication" in errs[0].message
    with pytest.raises(VerificationError, match="weights"):
        SnapshotStore.open(s.path, key).load(snap.id)
    # a manifest edited without the key cannot be made to authenticate
    m = Path(s.path, "snapshots", snap.id)
    raw = bytearray(m.read_bytes())
    raw[-1] ^= 1
    m.write_bytes(bytes(raw))
    fresh = SnapshotStore.open(s.path, key)
    assert fresh.list() == []
    assert "manifest-damaged" in {p.kind for p in fresh.verify().errors}
