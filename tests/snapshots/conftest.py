from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnimind.snapshots import SnapshotStore


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    # small chunks and packs so tests exercise many chunks and several packs quickly
    return SnapshotStore.init(tmp_path / "store", chunk_size=4096, pack_size=64 * 1024)


@pytest.fixture
def state() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        "weights": rng.standard_normal((64, 256)).astype(np.float32),
        "history": rng.standard_normal((200, 40)),
        "smooth": np.linspace(0.0, 1.0, 20000),
        "counter": np.int64(12345),
        "rng_state": rng.integers(0, 2**63, 4, dtype=np.uint64),
    }
