"""Exported bundles verify with nothing but the file, and fail after any one-byte edit."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ledger_helpers import fill

from omnimind.ledger import Ledger, Witness, bundle_bytes, verify_bundle, write_bundle


@pytest.fixture
def exported(sqlite_ledger: Ledger, tmp_path: Path) -> tuple[Ledger, Path, Path]:
    fill(sqlite_ledger, 25, run="r1")
    sqlite_ledger.append("run", "start", {"x": 1}, actor="a", run="r2")
    out = tmp_path / "export"
    out.mkdir()
    write_bundle(sqlite_ledger.export(run="r1"), out / "run.json")
    write_bundle(sqlite_ledger.export(), out / "full.json")
    return sqlite_ledger, out / "run.json", out / "full.json"


def test_bundle_verifies_on_a_machine_without_the_lab(exported: tuple[Ledger, Path, Path], tmp_path: Path) -> None:
    ledger, run_b, full_b = exported
    vkey = ledger.vkey
    ledger.engine.dispose()
    for p in tmp_path.iterdir():  # remove the lab: database, WAL, key
        if p.name != "export":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    code = (
        "import sys, json; from omnimind.ledger import verify_bundle\n"
        "r = verify_bundle(sys.argv[1], log_key=sys.argv[2])\n"
        "print(json.dumps(r.to_json())); sys.exit(0 if r.ok else 1)"
    )
    for bundle, n in ((run_b, 17), (full_b, 26)):
        proc = subprocess.run(
            [sys.executable, "-c", code, str(bundle), vkey],
            capture_output=True,
            text=True,
            cwd=tmp_path / "export",
            timeout=60,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        report = json.loads(proc.stdout)
        assert report["ok"] and report["entries_checked"] == n and report["details"]["key_trusted"]


def test_any_one_byte_edit_fails(exported: tuple[Ledger, Path, Path]) -> None:
    _, run_b, full_b = exported
    rnd = random.Random(1234)
    for path in (run_b, full_b):
        data = path.read_bytes()
        assert verify_bundle(data).ok
        text = data.decode()
        targets = [
            text.index(s) + 3
            for s in ('"checkpoint"', '"envelope"', '"proof"', '"log_key"', "\\n\\n", "—")
            if s in text
        ]
        positions = sorted({*targets, 0, len(data) - 1, *rnd.sample(range(len(data)), 120)})
        for pos in positions:
            for delta in (1, 0x20):
                edited = data[:pos] + bytes([(data[pos] + delta) % 256]) + data[pos + 1 :]
                report = verify_bundle(edited)
                assert not report.ok, f"edit at byte {pos} (+{delta}) was not detected"


def test_reports_the_first_bad_entry(exported: tuple[Ledger, Path, Path]) -> None:
    _, run_b, _ = exported
    bundle = json.loads(run_b.read_bytes())
    entry = bundle["entries"][4]
    entry["proof"][0] = entry["proof"][1]
    report = verify_bundle(bundle_bytes(bundle))
    assert not report.ok and report.first_bad_index == entry["index"] and "inclusion proof" in str(report.problem)
    assert not verify_bundle(run_b, log_key="other+00000000+AA==").ok  # a key you trust, not the bundle's


def test_bundle_with_witness_cosignature(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    fill(sqlite_ledger, 12)
    cp = sqlite_ledger.checkpoint()
    w = Witness.open(tmp_path / "w", "witness.example/w1")
    w.trust_log(sqlite_ledger.origin, sqlite_ledger.vkey)
    sqlite_ledger.add_cosignature(cp.size, w.add_checkpoint(cp.note, 0, []), w.vkey)
    data = bundle_bytes(sqlite_ledger.export(witness_vkeys=[w.vkey]))
    report = verify_bundle(data, log_key=sqlite_ledger.vkey, witness_keys=[w.vkey])
    assert report.ok and report.details["witnesses"] == ["witness.example/w1"], report
    # Without the cosignature in the note, the bundle (which lists the witness) fails.
    bundle = json.loads(data)
    bundle["checkpoint"] = cp.note
    assert not verify_bundle(bundle_bytes(bundle)).ok
