"""Backups: incremental copy, verify (detects damage), test-restore into a scratch lab, PostgreSQL source."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnimind.errors import LabError
from omnimind.lab.backup import backup_to, restore_test, schedule_units, verify_backup
from omnimind.lab.lab import Lab
from omnimind.snapshots import ForgetPolicy, SnapshotStore
from omnimind.spec import ExperimentSpec

SPEC = ExperimentSpec.model_validate({"cycles": 2000, "snapshots": {"every_cycles": 500},
                                      "metrics": {"enabled": False}})


def test_backup_is_incremental_verifiable_and_restorable(tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    with Lab.init(tmp_path / "lab") as lab:
        lab.run(SPEC)
        first = backup_to(lab, dest)
        assert first.snapshots_copied == 5 and first.blobs_copied > 0 and first.keys >= 1
        again = backup_to(lab, dest)
        assert again.snapshots_copied == 0 and again.blobs_copied == 0  # nothing new: nothing copied
        lab.run(ExperimentSpec.model_validate({**SPEC.to_json(), "seed": 7}))
        third = backup_to(lab, dest, keep=ForgetPolicy(last=2))
        assert third.snapshots_copied == 5 and third.forgotten == 6
        with pytest.raises(LabError, match="inside the lab"):
            backup_to(lab, lab.path / "data" / "bk")
    assert verify_backup(dest)["ok"]
    report = restore_test(dest)
    assert report["ok"] and report["ledger_ok"] and len(report["runs"]) == 2
    assert all(c["cycle"] == 2000 for c in report["runs"])
    # Damage one chunk of the backup: verify names it, test-restore of that data fails.
    store = SnapshotStore.open(dest / "snapshots")
    snap = store.list()[-1]
    loc = store._index[snap.arrays["bank.S"].chunks[0]]
    pack = dest / "snapshots" / "data" / loc.pack[:2] / loc.pack
    raw = bytearray(pack.read_bytes())
    raw[loc.offset + 4] ^= 0x01
    pack.write_bytes(bytes(raw))
    bad = verify_backup(dest)
    assert not bad["ok"] and any(snap.id in p or loc.pack in p for p in bad["problems"])


def test_backup_refuses_foreign_directory(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "x").write_text("x")
    with Lab.init(tmp_path / "lab") as lab, pytest.raises(LabError, match="not empty"):
        backup_to(lab, other)
    with pytest.raises(LabError, match="not an OmniMind backup"):
        verify_backup(other)


def test_postgres_lab_backs_up_to_sqlite_copy(tmp_path: Path, pg_url: str) -> None:
    with Lab.init(tmp_path / "lab", database_url=pg_url) as lab:
        run = lab.run(SPEC)
        backup_to(lab, tmp_path / "bk")
    assert verify_backup(tmp_path / "bk")["ok"]
    report = restore_test(tmp_path / "bk")
    assert report["ok"] and report["runs"][0]["run"] == run.id


def test_schedule_units_name_the_backup(tmp_path: Path) -> None:
    with Lab.init(tmp_path / "lab") as lab:
        units = schedule_units(lab, tmp_path / "bk", "6h", 5, "/usr/bin/python3")
    assert "OnUnitActiveSec=6h" in units["omnimind-backup.timer"]
    assert f"backup to {tmp_path / 'bk'} --keep-last 5" in units["omnimind-backup.service"]
    assert units["crontab"].startswith("0 */6 * * * ")
    with pytest.raises(LabError, match="shorter than an hour"), Lab.open(tmp_path / "lab") as lab:
        schedule_units(lab, tmp_path / "bk", "0h", 5, "python")
