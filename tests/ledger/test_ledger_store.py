"""The ledger store on real SQLite and PostgreSQL: appends, checkpoints, proofs, queries, restart, crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ledger_helpers import fill, make_ledger

from omnimind.errors import LedgerError, NotFoundError, VerificationError
from omnimind.ledger import Ledger, NewEntry, open_checkpoint, verify_consistency, verify_inclusion
from omnimind.ledger.rfc6962 import EMPTY_ROOT, hash_leaf, root_from_leaf_hashes


def test_append_checkpoint_prove_verify(ledger: Ledger) -> None:
    assert ledger.size() == 0
    empty = ledger.checkpoint()
    assert (empty.size, empty.root) == (0, EMPTY_ROOT)
    assert ledger.append("system", "init", {"lab": "x"}, actor="alice") == 0
    assert ledger.append_batch([NewEntry("run", "start", {"n": i}, "alice", run="r1") for i in range(5)]) == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert ledger.append_cycles("r1", [(c, f"{c:064x}", "00" * 32) for c in range(10)]) == range(6, 16)
    assert ledger.size() == 16
    cp = ledger.checkpoint()
    assert ledger.checkpoint() == cp  # same size: the stored checkpoint, not a new one
    assert cp.size == 16
    opened, _ = open_checkpoint(cp.note, [ledger.verifier], origin=ledger.origin)
    leaves = [hash_leaf(ledger.entry(i).raw) for i in range(16)]
    assert opened.root == root_from_leaf_hashes(leaves)
    for i in range(16):
        p = ledger.prove_inclusion(i)
        assert p.checkpoint.size == 16 and p.entry.index == i
        verify_inclusion(i, 16, leaves[i], p.hashes, cp.root)
        p.verify(ledger.vkey)
    c = ledger.prove_consistency(0, 16)
    assert c.old_checkpoint is not None and c.new_checkpoint is not None
    c.verify()
    ledger.append("system", "more", {}, actor="bob")
    cp2 = ledger.checkpoint()
    c = ledger.prove_consistency(16, cp2.size)
    verify_consistency(16, 17, cp.root, cp2.root, c.hashes)
    old = ledger.prove_inclusion(3, at_size=16)  # against the exact older checkpoint
    assert old.checkpoint == cp
    report = ledger.verify(full=True)
    assert report.ok and report.size == 17 and report.checkpoints_checked == 3, report
    assert ledger.verify().ok


def test_proof_for_uncheckpointed_entry_signs_a_new_checkpoint(ledger: Ledger) -> None:
    ledger.append("system", "a", {}, actor="x")
    ledger.checkpoint()
    ledger.append("system", "b", {}, actor="x")
    p = ledger.prove_inclusion(1)
    assert p.checkpoint.size == 2
    with pytest.raises(NotFoundError):
        ledger.prove_inclusion(5)
    with pytest.raises(NotFoundError):
        ledger.prove_inclusion(0, at_size=7)


def test_query_find_cycle_and_entry(ledger: Ledger) -> None:
    fill(ledger, 30, run="rA")
    ledger.append("security", "login", {"ok": True}, actor="carol", tenant="t2", subject="p-1")
    assert ledger.find_cycle("rA", 5) == 5
    with pytest.raises(NotFoundError):
        ledger.find_cycle("rA", 6)
    got = ledger.query(category="cycle", run="rA")
    assert [e.cycle for e in got] == list(range(2, 30, 3))
    assert [e.index for e in ledger.query(actor="carol")] == [30]
    assert [e.index for e in ledger.query(tenant="t2", subject="p-1")] == [30]
    assert len(ledger.query(category="run", limit=3)) == 3
    assert ledger.query(after_index=28)[0].index == 29
    assert ledger.query(newest_first=True, limit=1)[0].index == 30
    first = ledger.entry(0)
    assert ledger.query(since=first.time, until="9999")[0].index == 0
    assert ledger.query(until=first.time) == []
    assert ledger.entry(30).payload == {"ok": True}
    with pytest.raises(NotFoundError):
        ledger.entry(31)


def test_restart_continues_without_reading_entries(db_url: str, tmp_path: Path) -> None:
    a = make_ledger(db_url, tmp_path / "log.key")
    fill(a, 20)
    root = a.checkpoint().root
    a.engine.dispose()
    b = make_ledger(db_url, tmp_path / "log.key")
    assert b.append("system", "after restart", {}, actor="x") == 20
    assert b._tree.size == 0  # appending needed only the head row (compact range), not the entries
    assert b.prove_consistency(20, b.checkpoint().size).old_root == root
    assert b.verify(full=True).ok
    b.engine.dispose()


def test_rejects_bad_input_without_writing(ledger: Ledger) -> None:
    with pytest.raises(LedgerError):
        ledger.append_batch([NewEntry("run", "ok", {}, "a"), NewEntry("bogus", "x", {}, "a")])
    with pytest.raises(LedgerError):
        ledger.append("run", "x", {"f": float("inf")}, actor="a")
    assert ledger.size() == 0
    assert ledger.append("run", "x", {"f": 0.5}, actor="a") == 0  # floats: via rfc8785
    assert ledger.verify(full=True).ok


CRASH = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {helpers!r})
    from ledger_helpers import make_ledger
    from omnimind.ledger.entry import CycleEncoder
    from hashlib import sha256
    from pathlib import Path
    led = make_ledger({url!r}, Path({key!r}))
    with led._locked() as (cur, start, rng):
        enc = CycleEncoder(run="r", actor="engine", tenant="default", time="t")
        rows = []
        for i in range(500):
            raw = enc.encode(start + i, i, "s", "d")
            rows.append((start + i, sha256(b"\\x00" + raw).digest(), raw, "t", "cycle", "step", "engine",
                         "default", None, "r", i))
        led._write(cur, start, rng, rows, "t")
        os._exit(9)  # die inside the transaction, after the inserts, before COMMIT
    """
)


def test_crash_mid_batch_loses_only_that_batch(db_url: str, tmp_path: Path) -> None:
    led = make_ledger(db_url, tmp_path / "log.key")
    fill(led, 10)
    code = CRASH.format(helpers=str(Path(__file__).parent), url=db_url, key=str(tmp_path / "log.key"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    assert led.size() == 10
    assert led.append_cycles("r", [(0, "s", "d")]) == range(10, 11)
    report = led.verify(full=True)
    assert report.ok and report.size == 11, report
    led.engine.dispose()


def test_proof_refuses_a_tampered_leaf(sqlite_ledger: Ledger) -> None:
    fill(sqlite_ledger, 8)
    sqlite_ledger.checkpoint()
    with sqlite_ledger.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE ledger_entries SET envelope = replace(envelope, 'alice', 'mallo') WHERE idx = 3")
    with pytest.raises(VerificationError, match="entry 3"):
        sqlite_ledger.prove_inclusion(3)
    sqlite_ledger.prove_inclusion(4)
