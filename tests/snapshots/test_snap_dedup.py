from __future__ import annotations

from pathlib import Path

import numpy as np

from omnimind.snapshots import SnapshotStore


def test_same_data_twice_adds_no_blobs(store: SnapshotStore, state: dict[str, np.ndarray]) -> None:
    store.save(state, {"run": "a"})
    before = store.stats()
    files_before = sorted(p.name for p in Path(store.path, "data").rglob("*") if p.is_file())
    store.save(state, {"run": "b"})  # other run, same data: dedup across runs
    after = store.stats()
    assert after.blobs == before.blobs and after.stored_bytes == before.stored_bytes
    assert sorted(p.name for p in Path(store.path, "data").rglob("*") if p.is_file()) == files_before
    assert len(store.list()) == 2


def test_one_percent_change_adds_about_one_percent_of_chunks(tmp_path: Path) -> None:
    store = SnapshotStore.init(tmp_path / "s", chunk_size=4096)
    rng = np.random.default_rng(0)
    a = rng.standard_normal(1_000_000).astype(np.float32)  # 4 MB -> 977 chunks
    store.save({"a": a}, {})
    n0 = store.stats().blobs
    a[500_000:510_000] = rng.standard_normal(10_000).astype(np.float32)  # 1 % of elements
    store.save({"a": a}, {})
    added = store.stats().blobs - n0
    assert 9 <= added <= 12, added  # 40 000 bytes / 4096 = 9.8 chunks, +1 for alignment


def test_compression_is_adaptive(store: SnapshotStore) -> None:
    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 1, 100_000)  # shuffles and compresses very well
    noise = rng.integers(0, 256, 400_000, dtype=np.uint8)  # incompressible
    snap = store.save({"smooth": smooth, "noise": noise}, {})
    idx = store._index
    smooth_locs = [idx[c] for c in snap.arrays["smooth"].chunks]
    noise_locs = [idx[c] for c in snap.arrays["noise"].chunks]
    compressed = [loc for loc in smooth_locs if loc.codec == 1]
    assert len(compressed) >= 0.9 * len(smooth_locs)
    assert all(loc.shuffle == 8 for loc in compressed)
    assert sum(loc.length for loc in smooth_locs) < 0.7 * smooth.nbytes
    assert all(loc.codec == 0 and loc.length == loc.raw_length for loc in noise_locs)
    out, _ = store.load(snap.id)
    assert out["smooth"].tobytes() == smooth.tobytes() and out["noise"].tobytes() == noise.tobytes()
