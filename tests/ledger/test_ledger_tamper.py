"""Tampering as an attacker with database access would do it (raw SQL), on SQLite and PostgreSQL.

Each attack is detected by `verify(full=True)` or by the witness, and the message names the first bad index.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_helpers import ORIGIN, fill, sql

from omnimind.errors import VerificationError
from omnimind.ledger import Ledger, Witness
from omnimind.ledger.compact import CompactRange
from omnimind.ledger.note import Ed25519Signer

N = 40  # entries; a checkpoint every 10


@pytest.fixture
def log(ledger: Ledger) -> Ledger:
    fill(ledger, N, checkpoint_every=10)
    assert ledger.verify(full=True).ok
    return ledger


def row(ledger: Ledger, idx: int) -> dict[str, object]:
    with ledger.engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT * FROM ledger_entries WHERE idx = :i"), {"i": idx}).mappings().one())


def set_envelope(ledger: Ledger, idx: int, raw: bytes, *, leaf: bytes | None = None) -> None:
    if leaf is None:
        sql(ledger, "UPDATE ledger_entries SET envelope = :e WHERE idx = :i", e=raw, i=idx)
    else:
        sql(ledger, "UPDATE ledger_entries SET envelope = :e, leaf_hash = :h WHERE idx = :i", e=raw, h=leaf, i=idx)


def test_one_byte_of_a_payload(log: Ledger) -> None:
    raw = bytes(row(log, 13)["envelope"])  # type: ignore[arg-type]
    pos = raw.index(b'"value":[') + 9
    bad = raw[:pos] + bytes([raw[pos] ^ 0x01]) + raw[pos + 1 :]  # "13" -> "03"
    set_envelope(log, 13, bad)
    report = log.verify(full=True)
    assert not report.ok and report.first_bad_index == 13, report
    assert "entry 13" in str(report.problem)
    with pytest.raises(VerificationError, match="first bad index 13"):
        report.raise_for_problem()


def test_payload_edit_with_recomputed_leaf_hash(log: Ledger) -> None:
    """A smarter attacker also rewrites the leaf hash: the signed checkpoint roots no longer match."""
    from omnimind.ledger.rfc6962 import hash_leaf

    raw = bytes(row(log, 22)["envelope"]).replace(b"bob", b"eve")  # type: ignore[arg-type]
    assert b"eve" in raw
    set_envelope(log, 22, raw, leaf=hash_leaf(raw))
    full_report = log.verify(full=True)  # the actor column still says bob: pinpointed exactly
    assert full_report.first_bad_index == 22 and "column 'actor'" in str(full_report.problem)
    sql(log, "UPDATE ledger_entries SET actor = 'eve' WHERE idx = 22")  # now every copy agrees
    for full in (False, True):
        report = log.verify(full=full)
        assert not report.ok and report.first_bad_index == 20, report
        assert "[20, 30)" in str(report.problem)


def test_delete_a_row(log: Ledger) -> None:
    sql(log, "DELETE FROM ledger_entries WHERE idx = 17")
    for full in (False, True):
        report = log.verify(full=full)
        assert not report.ok and report.first_bad_index == 17 and "entry 17 is missing" in str(report.problem)


def test_reorder_rows_by_swapping_contents(log: Ledger) -> None:
    a, b = row(log, 5), row(log, 31)
    cols = [c for c in a if c != "idx"]
    assign = ", ".join(f"{c} = :{c}" for c in cols)
    sql(log, "UPDATE ledger_entries SET idx = -1 WHERE idx = 5")
    sql(log, f"UPDATE ledger_entries SET {assign} WHERE idx = 31", **{c: a[c] for c in cols})
    sql(log, f"UPDATE ledger_entries SET {assign}, idx = 5 WHERE idx = -1", **{c: b[c] for c in cols})
    report = log.verify(full=True)
    assert not report.ok and report.first_bad_index == 5, report
    assert "says index 31" in str(report.problem)
    quick = log.verify()
    assert not quick.ok and quick.first_bad_index == 0  # the tree changed: checkpoint at 10 fails


def test_edit_an_index_column(log: Ledger) -> None:
    sql(log, "UPDATE ledger_entries SET category = 'security' WHERE idx = 8")
    report = log.verify(full=True)
    assert not report.ok and report.first_bad_index == 8 and "column 'category'" in str(report.problem)


def test_truncate_the_log(log: Ledger) -> None:
    sql(log, "DELETE FROM ledger_entries WHERE idx >= 33")
    report = log.verify(full=True)
    assert not report.ok and report.first_bad_index == 33, report
    assert "truncated at index 33" in str(report.problem)


def test_rows_inserted_beyond_the_head(log: Ledger) -> None:
    r = row(log, 39)
    sql(
        log,
        "INSERT INTO ledger_entries (idx, leaf_hash, envelope, time, category, action, actor, tenant, subject,"
        " run, cycle) VALUES (40, :leaf_hash, :envelope, :time, :category, :action, :actor, :tenant, :subject,"
        " :run, :cycle)",
        **{k: v for k, v in r.items() if k != "idx"},
    )
    report = log.verify(full=True)
    assert not report.ok and report.first_bad_index == 40, report


def test_swap_signatures_between_checkpoints(log: Ledger) -> None:
    cps = log.checkpoints()
    c1, c2 = cps[1], cps[2]  # sizes 10 and 20
    s1, s2 = c1.note.split("\n\n")[1], c2.note.split("\n\n")[1]
    sql(log, "UPDATE ledger_checkpoints SET note = :n WHERE size = 10", n=c1.note.split("\n\n")[0] + "\n\n" + s2)
    sql(log, "UPDATE ledger_checkpoints SET note = :n WHERE size = 20", n=c2.note.split("\n\n")[0] + "\n\n" + s1)
    report = log.verify(full=True)
    assert not report.ok and report.first_bad_index == 0, report
    assert "checkpoint at size 10 is not validly signed" in str(report.problem)


def _rebuild(ledger: Ledger, signer: Ed25519Signer, envelopes: list[bytes]) -> None:
    """Write a whole log (entries, head, checkpoints) as a forger with `signer` would."""
    from omnimind.ledger.checkpoint import Checkpoint
    from omnimind.ledger.entry import Entry
    from omnimind.ledger.note import sign_note
    from omnimind.ledger.rfc6962 import hash_leaf

    sql(ledger, "DELETE FROM ledger_entries")
    sql(ledger, "DELETE FROM ledger_checkpoints")
    rng = CompactRange()
    with ledger.engine.begin() as conn:
        for i, raw in enumerate(envelopes):
            e = Entry.from_bytes(raw)
            conn.execute(
                sa.text("INSERT INTO ledger_entries VALUES (:i, :h, :e, :t, :c, :a, :ac, :te, :s, :r, :cy)"),
                dict(
                    i=i,
                    h=hash_leaf(raw),
                    e=raw,
                    t=e.time,
                    c=e.category,
                    a=e.action,
                    ac=e.actor,
                    te=e.tenant,
                    s=e.subject,
                    r=e.run,
                    cy=e.cycle,
                ),
            )
            rng.append(hash_leaf(raw))
            if rng.size % 10 == 0:
                note = sign_note(Checkpoint(ORIGIN, rng.size, rng.root()).body(), [signer])
                conn.execute(
                    sa.text("INSERT INTO ledger_checkpoints VALUES (:s, :r, :n, 't')"),
                    dict(s=rng.size, r=rng.root(), n=note),
                )
        conn.execute(
            sa.text("UPDATE ledger_head SET size = :s, compact = :c, root = :r"),
            dict(s=rng.size, c=rng.to_bytes(), r=rng.root()),
        )


def _witnessed(ledger: Ledger, tmp_path: Path) -> Witness:
    w = Witness.open(tmp_path / "witness", "witness.example/w1")
    w.trust_log(ledger.origin, ledger.vkey)
    cp = ledger.latest_checkpoint()
    assert cp is not None
    w.add_checkpoint(cp.note, 0, ledger.prove_consistency(0, cp.size).hashes)
    return w


def test_fork_under_a_new_key(log: Ledger, tmp_path: Path) -> None:
    witness = _witnessed(log, tmp_path)
    envs = [bytes(row(log, i)["envelope"]) for i in range(N)]  # type: ignore[arg-type]
    envs[3] = envs[3].replace(b"alice", b"mallo")
    forger = Ed25519Signer(ORIGIN, Ed25519PrivateKey.generate())
    _rebuild(log, forger, envs)
    report = log.verify(full=True)  # the lab's real key does not verify the forged checkpoints
    assert not report.ok and report.first_bad_index == 0 and "not validly signed" in str(report.problem)
    forged = log.latest_checkpoint()
    assert forged is not None
    with pytest.raises(VerificationError, match="not signed by the trusted log key"):
        witness.add_checkpoint(forged.note, N, [])


def test_fork_with_the_stolen_key_is_caught_by_the_witness(log: Ledger, tmp_path: Path) -> None:
    witness = _witnessed(log, tmp_path)
    envs = [bytes(row(log, i)["envelope"]) for i in range(N)]  # type: ignore[arg-type]
    envs[3] = envs[3].replace(b"alice", b"mallo")
    _rebuild(log, log.signer, envs)
    fresh = Ledger(log.engine, log.signer, ORIGIN)  # no cached tree
    assert fresh.verify(full=True).ok  # self-consistent: only an outside view can tell
    forged = fresh.latest_checkpoint()
    assert forged is not None and forged.size == N
    with pytest.raises(VerificationError, match=rf"fork detected.*size {N}"):
        witness.add_checkpoint(forged.note, N, [])
    fresh.append("system", "x", {}, actor="x")
    grown = fresh.checkpoint()
    with pytest.raises(VerificationError, match=rf"fork detected.*index below {N}"):
        witness.add_checkpoint(grown.note, N, fresh.prove_consistency(N, grown.size).hashes)


def test_truncation_hidden_from_verify_is_caught_by_the_witness(log: Ledger, tmp_path: Path) -> None:
    witness = _witnessed(log, tmp_path)
    envs = [bytes(row(log, i)["envelope"]) for i in range(30)]  # type: ignore[arg-type]
    _rebuild(log, log.signer, envs)  # drop entries 30..39 and every trace of them
    fresh = Ledger(log.engine, log.signer, ORIGIN)
    assert fresh.verify(full=True).ok
    cp = fresh.latest_checkpoint()
    assert cp is not None and cp.size == 30
    with pytest.raises(VerificationError, match="rollback: entries from index 30 were removed"):
        witness.add_checkpoint(cp.note, N, [])
