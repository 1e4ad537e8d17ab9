"""`omnimind audit` end to end: every cycle is provable, tampering is named, bundles verify offline."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from omnimind.ledger import verify_inclusion


def om(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "omnimind", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, env=os.environ.copy())


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    lab = tmp_path_factory.mktemp("audit") / "lab"
    assert om("init", str(lab)).returncode == 0
    out = om("--lab", str(lab), "run", "--cycles", "3000", "--json")
    assert out.returncode == 0, out.stderr
    return lab, json.loads(out.stdout)["id"]


def test_every_cycle_is_provable(lab: tuple[Path, str]) -> None:
    path, run = lab
    proc = om("--lab", str(path), "audit", "prove", "--run", run, "--cycle", "2345")
    assert proc.returncode == 0, proc.stderr
    bundle = json.loads(proc.stdout)
    assert bundle["envelope"]["cycle"] == 2345 and bundle["envelope"]["run"] == run
    import base64
    import hashlib

    leaf = hashlib.sha256(b"\x00" + base64.b64decode(bundle["entry"])).digest()
    root = base64.b64decode(bundle["checkpoint"].splitlines()[2])
    verify_inclusion(bundle["index"], bundle["tree_size"], leaf, [base64.b64decode(h) for h in bundle["proof"]], root)


def test_export_verifies_offline_and_fails_after_an_edit(lab: tuple[Path, str], tmp_path: Path) -> None:
    path, run = lab
    bundle = tmp_path / "bundle.json"
    assert om("--lab", str(path), "audit", "export", "--run", run, "-o", str(bundle)).returncode == 0
    ok = om("audit", "verify", str(bundle), cwd=tmp_path)  # no lab anywhere near
    assert ok.returncode == 0 and "ok" in ok.stdout, ok.stderr
    raw = bytearray(bundle.read_bytes())
    for pos in (len(raw) // 5, len(raw) // 2, len(raw) - 200):
        edited = raw.copy()
        edited[pos] = ord("A") if edited[pos] != ord("A") else ord("B")
        bad = tmp_path / f"bad-{pos}.json"
        bad.write_bytes(bytes(edited))
        proc = om("audit", "verify", str(bad), cwd=tmp_path)
        assert proc.returncode == 1, (pos, proc.stdout)
        assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_tampered_database_names_first_bad_index(lab: tuple[Path, str], tmp_path: Path) -> None:
    path, _run = lab
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    assert om("--lab", str(copy), "audit", "verify", "--full").returncode == 0
    db = sqlite3.connect(copy / "omnimind.db")
    idx, env = db.execute("SELECT idx, envelope FROM ledger_entries WHERE cycle = 1000 AND "
                          "category = 'cycle'").fetchone()
    forged = bytes(env).replace(b'"state_digest":"', b'"state_digest":"0', 1)[:-1] + b"}"
    db.execute("UPDATE ledger_entries SET envelope = ? WHERE idx = ?", (forged, idx))
    db.commit()
    db.close()
    proc = om("--lab", str(copy), "audit", "verify", "--full")
    assert proc.returncode == 1
    assert f"first bad index {idx}" in proc.stderr, proc.stderr


def test_log_query_and_witness(lab: tuple[Path, str], tmp_path: Path) -> None:
    path, run = lab
    entries = json.loads(om("--lab", str(path), "audit", "log", "--run", run, "--category", "run",
                            "--json").stdout)
    actions = [e["action"] for e in entries]
    assert actions[0] == "start" and "end" in actions and all(e["run"] == run for e in entries)
    wdir = tmp_path / "witness"
    first = om("--lab", str(path), "audit", "witness", "--dir", str(wdir))
    assert first.returncode == 2 and "--trust" in first.stderr
    assert om("--lab", str(path), "audit", "witness", "--dir", str(wdir), "--trust").returncode == 0
    again = om("--lab", str(path), "audit", "witness", "--dir", str(wdir), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["cosignature"].startswith("—")
