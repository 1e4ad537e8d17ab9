"""Damage on disk is reported exactly (snapshot, array, blob, pack, file); intact snapshots still load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from omnimind.errors import VerificationError
from omnimind.snapshots import Snapshot, SnapshotStore


def two_snapshots(store: SnapshotStore) -> tuple[Snapshot, Snapshot]:
    rng = np.random.default_rng(0)
    a = store.save({"x": rng.standard_normal(20_000)}, {"run": "r1"})
    b = store.save({"y": rng.standard_normal(20_000)}, {"run": "r2"})  # disjoint blobs, own packs
    return a, b


def pack_of(store: SnapshotStore, snap: Snapshot, name: str, i: int = 0) -> tuple[Path, int, str]:
    bid = snap.arrays[name].chunks[i]
    loc = store._index[bid]
    return Path(store.path, "data", loc.pack[:2], loc.pack), loc.offset, bid


def test_flipped_byte_in_pack(store: SnapshotStore) -> None:
    a, b = two_snapshots(store)
    pack, off, bid = pack_of(store, a, "x", 2)
    data = bytearray(pack.read_bytes())
    data[off + 100] ^= 0xFF
    pack.write_bytes(bytes(data))
    assert store.verify(read_data=False).ok  # structure is intact; only the data is wrong
    rep = store.verify(read_data=True)
    assert rep.damaged_snapshots == [a.id]
    err = next(p for p in rep.errors if p.snapshot == a.id)
    assert (err.kind, err.array, err.blob, err.pack) == ("blob-damaged", "x", bid, pack.name)
    assert any(p.kind == "blob-damaged" and p.snapshot is None and p.blob == bid for p in rep.errors)
    with pytest.raises(VerificationError, match=f"array 'x' chunk 2 \\(blob {bid}\\)"):
        store.load(a.id)
    assert store.load(b.id)[0]["y"].shape == (20_000,)
    assert not store.verify_snapshot(a.id).ok and store.verify_snapshot(b.id).ok
    assert store.latest_verified() == b
    assert store.latest_verified(run="r1") is None


def test_deleted_pack(store: SnapshotStore) -> None:
    a, b = two_snapshots(store)
    pack, _off, _bid = pack_of(store, b, "y")
    pack.unlink()
    rep = store.verify()
    assert rep.damaged_snapshots == [b.id]
    assert any(p.kind == "pack-missing" and p.pack == pack.name for p in rep.errors)
    assert all(p.array == "y" for p in rep.errors if p.snapshot == b.id)
    with pytest.raises(VerificationError, match="missing"):
        store.load(b.id)
    assert store.load(a.id)[0]["x"].shape == (20_000,)


def test_truncated_index(store: SnapshotStore) -> None:
    a, b = two_snapshots(store)
    index_files = sorted(Path(store.path, "index").iterdir())
    assert len(index_files) == 2
    victim = next(f for f in index_files if b.arrays["y"].chunks[0] in f.read_text())
    victim.write_bytes(victim.read_bytes()[:50])
    fresh = SnapshotStore.open(store.path)
    rep = fresh.verify()
    assert any(p.kind == "index-unreadable" and p.file == f"index/{victim.name}" for p in rep.errors)
    assert rep.damaged_snapshots == [b.id]
    assert {p.kind for p in rep.errors if p.snapshot == b.id} == {"blob-missing"}
    with pytest.raises(VerificationError, match="not in any index"):
        fresh.load(b.id)
    assert fresh.load(a.id)[0]["x"].shape == (20_000,)
    assert fresh.verify_snapshot(a.id).ok


def test_edited_manifest(store: SnapshotStore) -> None:
    a, b = two_snapshots(store)
    m = Path(store.path, "snapshots", a.id)
    doc = json.loads(m.read_bytes())
    doc["meta"]["run"] = "forged"
    m.write_text(json.dumps(doc))
    fresh = SnapshotStore.open(store.path)
    rep = fresh.verify()
    assert rep.damaged_snapshots == [a.id]
    assert rep.errors[0].kind == "manifest-damaged" and rep.errors[0].file == f"snapshots/{a.id}"
    assert [s.id for s in fresh.list()] == [b.id]  # never half-used
    with pytest.raises(VerificationError, match="does not match its id"):
        fresh.load(a.id)
    assert not fresh.verify_snapshot(a.id).ok
    assert fresh.load(b.id)[0]["y"].shape == (20_000,)


def test_damaged_pack_header(store: SnapshotStore) -> None:
    a, b = two_snapshots(store)
    pack, _off, _bid = pack_of(store, a, "x")
    data = bytearray(pack.read_bytes())
    data[-20] ^= 0x10  # inside the header entries
    pack.write_bytes(bytes(data))
    rep = store.verify()
    assert a.id in rep.damaged_snapshots and b.id not in rep.damaged_snapshots
    assert any(p.pack == pack.name for p in rep.errors)
