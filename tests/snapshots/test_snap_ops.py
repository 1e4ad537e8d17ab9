from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from omnimind.errors import NotFoundError, SnapshotError
from omnimind.snapshots import SnapshotStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_list_filters_and_get(store: SnapshotStore) -> None:
    ids = []
    for i in range(6):
        s = store.save(
            {"x": np.full(10, i)},
            {"cycle": i},
            run="a" if i % 2 else "b",
            tags=["even"] if i % 2 == 0 else [],
            time=T0 + timedelta(hours=i),
        )
        ids.append(s.id)
    assert [s.id for s in store.list()] == ids
    assert [s.meta["cycle"] for s in store.list(run="a")] == [1, 3, 5]
    assert [s.meta["cycle"] for s in store.list(tags=["even"])] == [0, 2, 4]
    assert [
        s.meta["cycle"] for s in store.list(since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=3))
    ] == [2, 3]
    assert store.get("latest").id == ids[-1] and store.get("latest", run="b").id == ids[4]
    assert store.get(ids[0][:10]).id == ids[0]
    assert store.get(ids[0].upper()).id == ids[0]
    # ambiguous prefix: find two ids sharing the first hex digit (pigeonhole over 6 ids is not guaranteed)
    firsts = [i[0] for i in ids]
    dup = next((c for c in firsts if firsts.count(c) > 1), None)
    if dup is not None:
        with pytest.raises(NotFoundError, match="ambiguous"):
            store.get(dup)


def test_tag_rewrites_manifest_with_original(store: SnapshotStore) -> None:
    s = store.save({"x": np.arange(3)}, {}, tags=["a"])
    t1 = store.tag(s.id, add=["keep"], remove=["a"])
    assert t1.id != s.id and t1.tags == ("keep",) and t1.original == s.id
    t2 = store.tag(t1.id, add=["z"])
    assert t2.original == s.id and t2.tags == ("keep", "z")
    assert [x.id for x in store.list()] == [t2.id]
    with pytest.raises(NotFoundError):
        store.get(s.id)
    assert store.tag(t2.id, add=["z"]) == t2  # no change, no rewrite
    assert np.array_equal(store.load(t2.id)[0]["x"], np.arange(3))


def test_diff(store: SnapshotStore) -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal(10_000)
    a = store.save(
        {"w": w, "gone": np.ones(3), "same": np.zeros(100), "shape": np.zeros(4)},
        {"metrics": {"phi": 0.5, "lz": 3}, "spec": {"lr": 0.1, "name": "x"}},
    )
    w2 = w.copy()
    w2[5000:5010] += 2.0
    b = store.save(
        {"w": w2, "new": np.ones(2), "same": np.zeros(100), "shape": np.zeros((2, 3))},
        {"metrics": {"phi": 0.75, "lz": 3}, "spec": {"lr": 0.2, "name": "x"}, "extra": True},
    )
    d = store.diff(a.id, b.id)
    assert d["arrays"]["added"] == ["new"] and d["arrays"]["removed"] == ["gone"]
    assert d["arrays"]["unchanged"] == ["same"]
    cw = d["arrays"]["changed"]["w"]
    assert cw["l2"] == pytest.approx(np.linalg.norm(w2 - w)) and cw["max_abs"] == pytest.approx(2.0)
    assert cw["elements_changed"] == 10 and cw["chunks_changed"] == 1 and cw["chunks_total"] == 20
    assert d["arrays"]["changed"]["shape"]["shape"] == {"a": [4], "b": [2, 3]}
    assert d["meta"]["changed"]["metrics.phi"] == {"a": 0.5, "b": 0.75, "delta": 0.25}
    assert d["meta"]["changed"]["spec.lr"]["delta"] == pytest.approx(0.1)
    assert "metrics.lz" not in d["meta"]["changed"] and d["meta"]["added"] == {"extra": True}
    import json

    json.dumps(d, allow_nan=False)  # JSON-able


def test_prune_removes_unreferenced_and_repacks(tmp_path: Path) -> None:
    store = SnapshotStore.init(tmp_path / "s", chunk_size=4096, pack_size=64 * 1024)
    rng = np.random.default_rng(0)
    keep_data = rng.standard_normal(40_000)  # 320 kB, 5 packs
    both = np.concatenate([keep_data, rng.standard_normal(40_000)])
    s1 = store.save({"x": both}, {}, time=T0)
    s2 = store.save({"x": keep_data}, {}, time=T0 + timedelta(days=1))  # shares the first half
    s3 = store.save({"y": rng.standard_normal(20_000)}, {}, time=T0 + timedelta(days=2))
    before = store.disk_usage()
    res = store.forget(__import__("omnimind.snapshots", fromlist=["ForgetPolicy"]).ForgetPolicy(last=2))
    assert res.remove_ids == [s1.id]
    pr = store.prune()
    assert pr.packs_deleted >= 1 and pr.bytes_freed > 0 and not pr.lost_blobs
    assert store.disk_usage() < before * 0.75
    assert len(list(Path(store.path, "index").iterdir())) == 1
    rep = SnapshotStore.open(store.path).verify(read_data=True)
    assert rep.ok and not rep.warnings, rep.to_json()
    assert store.load(s2.id)[0]["x"].tobytes() == keep_data.tobytes()
    assert store.load(s3.id)[0]["y"].shape == (20_000,)
    assert store.prune().packs_deleted == 0  # idempotent


def test_prune_repacks_partly_used_packs(tmp_path: Path) -> None:
    store = SnapshotStore.init(tmp_path / "s", chunk_size=4096, pack_size=1 << 20)  # everything in one pack
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(5000), rng.standard_normal(5000)
    s1 = store.save({"a": a, "b": b}, {})
    s2 = store.save({"a": a}, {})
    store.forget(
        __import__("omnimind.snapshots", fromlist=["ForgetPolicy"]).ForgetPolicy(tags=[["nope"]], last=1)
    )
    assert [s.id for s in store.list()] == [s2.id] or s1.time == s2.time
    pr = store.prune()
    assert pr.packs_repacked == 1 and pr.packs_written == 1
    assert store.verify(read_data=True).ok
    assert store.load(s2.id)[0]["a"].tobytes() == a.tobytes()


def test_copy_to_is_incremental(tmp_path: Path, state: dict[str, np.ndarray]) -> None:
    key = os.urandom(32)
    src = SnapshotStore.init(tmp_path / "src", encryption_key=key, chunk_size=4096)
    unrelated = SnapshotStore.init(tmp_path / "unrelated", encryption_key=key, chunk_size=4096)
    assert unrelated.id_scheme != src.id_scheme  # fresh salt, so ids differ: a backup must be made `like=src`
    dst = SnapshotStore.init(tmp_path / "dst", encryption_key=key, like=src)
    assert dst.id_scheme == src.id_scheme
    s1 = src.save(state, {"i": 1})
    state["weights"][0, :10] = 0.0
    s2 = src.save(state, {"i": 2}, parent=s1.id)
    r1 = src.copy_to(dst, [s1.id])
    assert r1.copied == (s1.id,) and r1.blobs_copied == dst.stats().blobs
    r2 = src.copy_to(dst)
    assert r2.skipped == (s1.id,) and r2.copied == (s2.id,) and r2.blobs_copied == 1
    assert src.copy_to(dst).copied == ()
    out, meta = SnapshotStore.open(tmp_path / "dst", key).load(s2.id)
    assert meta == {"i": 2} and all(out[k].tobytes() == np.asarray(v).tobytes() for k, v in state.items())
    assert dst.verify(read_data=True).ok
    other = SnapshotStore.init(tmp_path / "other")
    with pytest.raises(SnapshotError, match="different object-id keys"):
        src.copy_to(other)
