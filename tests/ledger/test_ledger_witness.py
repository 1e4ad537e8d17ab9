"""The witness: co-signs append-only growth, refuses forks and rollbacks, keeps durable state."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from omnimind.errors import LedgerError, VerificationError
from omnimind.ledger import Checkpoint, Witness, open_note, sign_note, verifier_from_vkey
from omnimind.ledger.note import Ed25519Signer
from omnimind.ledger.rfc6962 import hash_leaf
from omnimind.ledger.tree import MerkleTree

ORIGIN = "example.com/log"


def cp_note(signer: Ed25519Signer, tree: MerkleTree, size: int) -> str:
    return sign_note(Checkpoint(ORIGIN, size, tree.root(size)).body(), [signer])


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Witness, Ed25519Signer, MerkleTree]:
    log = Ed25519Signer(ORIGIN, Ed25519PrivateKey.generate())
    tree = MerkleTree(hash_leaf(b"%d" % i) for i in range(50))
    w = Witness.open(tmp_path / "w", "witness.example/w1")
    w.trust_log(ORIGIN, log.verifier().vkey)
    return w, log, tree


def test_accepts_growth_and_cosigns(setup: tuple[Witness, Ed25519Signer, MerkleTree], tmp_path: Path) -> None:
    w, log, tree = setup
    prev = 0
    for size in (1, 7, 8, 20, 20, 50):
        note = cp_note(log, tree, size)
        line = w.add_checkpoint(note, prev, tree.consistency_proof(prev, size))
        opened = open_note(note + line, [log.verifier(), verifier_from_vkey(w.vkey)])
        assert len(opened.verified) == 2
        prev = size
    again = Witness.open(tmp_path / "w", "witness.example/w1")  # state survives a restart
    assert again.size(ORIGIN) == 50 and again.vkey == w.vkey
    assert stat.S_IMODE((tmp_path / "w" / "witness.key").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "w" / "witness.json").read_text())["logs"][ORIGIN]["size"] == 50


def test_refuses_same_size_different_root(setup: tuple[Witness, Ed25519Signer, MerkleTree]) -> None:
    w, log, tree = setup
    w.add_checkpoint(cp_note(log, tree, 10), 0, [])
    forked = MerkleTree([hash_leaf(b"X"), *(hash_leaf(b"%d" % i) for i in range(1, 10))])
    with pytest.raises(VerificationError, match=r"fork detected.*size 10"):
        w.add_checkpoint(cp_note(log, forked, 10), 10, [])
    assert w.size(ORIGIN) == 10 and w.last_seen(ORIGIN).root == tree.root(10)


def test_refuses_failing_proof_and_rollback(setup: tuple[Witness, Ed25519Signer, MerkleTree]) -> None:
    w, log, tree = setup
    w.add_checkpoint(cp_note(log, tree, 10), 0, [])
    proof = tree.consistency_proof(10, 20)
    proof[0] = bytes(32)
    with pytest.raises(VerificationError, match="fork detected"):
        w.add_checkpoint(cp_note(log, tree, 20), 10, proof)
    with pytest.raises(VerificationError, match="rollback"):
        w.add_checkpoint(cp_note(log, tree, 9), 10, [])
    with pytest.raises(LedgerError, match="last saw size 10"):
        w.add_checkpoint(cp_note(log, tree, 20), 5, tree.consistency_proof(5, 20))
    other = Ed25519Signer(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(VerificationError, match="not signed by the trusted log key"):
        w.add_checkpoint(cp_note(other, tree, 20), 10, tree.consistency_proof(10, 20))
    with pytest.raises(LedgerError, match="does not watch"):
        w.add_checkpoint(sign_note(Checkpoint("elsewhere", 1, bytes(32)).body(), [log]), 0, [])
    with pytest.raises(LedgerError, match="different key"):
        w.trust_log(ORIGIN, other.verifier().vkey)
    assert w.size(ORIGIN) == 10
