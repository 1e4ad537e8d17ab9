"""Key files: created atomically with mode 0600, never overwritten, refused when readable by others."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from omnimind.errors import LedgerError
from omnimind.ledger.signer import create_key_file, load_key_file, load_or_create_signer, load_signer


def test_created_0600_and_stable(tmp_path: Path) -> None:
    key = tmp_path / "log.key"
    s1 = load_or_create_signer(key, "lab.example/log")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    s2 = load_signer(key, "lab.example/log")
    assert s1.public_key == s2.public_key and s1.key_id == s2.key_id
    with pytest.raises(FileExistsError):
        create_key_file(key)
    assert load_signer(key, "lab.example/log").public_key == s1.public_key
    assert not [p for p in tmp_path.iterdir() if p.name != "log.key"]  # no temp files left


def test_refuses_open_permissions_and_garbage(tmp_path: Path) -> None:
    key = tmp_path / "log.key"
    load_or_create_signer(key, "n")
    os.chmod(key, 0o644)
    with pytest.raises(LedgerError, match="chmod 600"):
        load_key_file(key)
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key")
    os.chmod(bad, 0o600)
    with pytest.raises(LedgerError):
        load_key_file(bad)
    raw = tmp_path / "raw.key"
    raw.write_bytes(bytes(range(32)))
    os.chmod(raw, 0o600)
    assert len(load_signer(raw, "n").public_key) == 32
    with pytest.raises(LedgerError):
        load_key_file(tmp_path / "missing.key")
