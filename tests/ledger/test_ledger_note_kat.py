"""Signed notes, checkpoints and cosignatures against published vectors.

Sources:
- golang.org/x/mod/sumdb/note, note_test.go (TestNewVerifier, TestSign, TestOpen): the PeterNeumann and
  EnochRoot keys and signatures. https://github.com/golang/mod/blob/master/sumdb/note/note_test.go
- transparency-dev/formats, note/note_cosigv1_test.go (TestCoSigV1NewVerifier, TestCosignatureTimestamp):
  the remora.n621.de cosignature key and a cosignature with timestamp 1727964367.
- C2SP tlog-cosignature: the cosigned message layout ("cosignature/v1", "time N", checkpoint).
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from omnimind.errors import LedgerError, VerificationError
from omnimind.ledger._util import b64decode_strict
from omnimind.ledger.checkpoint import Checkpoint, open_checkpoint
from omnimind.ledger.cosignature import (
    CosignatureV1Signer,
    CosignatureV1Verifier,
    cosignature_timestamp,
    cosigned_message,
    verifier_from_vkey,
)
from omnimind.ledger.note import (
    Ed25519Signer,
    Ed25519Verifier,
    open_note,
    parse_note,
    parse_vkey,
    sign_note,
)

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
COSIG_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
COSIG_B64 = "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=="


def test_sign_reproduces_the_go_note_byte_for_byte() -> None:
    signer = Ed25519Signer.from_skey(PETER_SKEY)
    assert f"{signer.key_id:08x}" == "c74f20a3"
    assert signer.verifier().vkey == PETER_VKEY
    assert sign_note(TEXT, [signer]) == TEXT + "\n" + PETER_SIG


def test_open_verifies_known_and_ignores_unknown_signatures() -> None:
    peter, enoch = Ed25519Verifier.from_vkey(PETER_VKEY), Ed25519Verifier.from_vkey(ENOCH_VKEY)
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter])
    assert opened.text == TEXT
    assert [s.name for s in opened.verified] == ["PeterNeumann"]
    assert [(s.name, s.key_id) for s in opened.unverified] == [("EnochRoot", 0xAF0CFE78)]
    both = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter, enoch])
    assert [s.name for s in both.verified] == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(VerificationError, match="no verifiable signatures"):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])
    # Duplicates are tolerated (Go: "Duplicated verified and unverified signatures").
    dup = open_note(TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG, [peter])
    assert len(dup.verified) == 1 and len(dup.unverified) == 1


def test_invalid_signature_from_a_known_key_rejects_the_note() -> None:
    peter = Ed25519Verifier.from_vkey(PETER_VKEY)
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(VerificationError, match="PeterNeumann"):
        open_note(TEXT + "\n" + bad, [peter])
    with pytest.raises(VerificationError, match="PeterNeumann"):
        open_note(TEXT.replace("cryptography", "cryptographY") + "\n" + PETER_SIG, [peter])


@pytest.mark.parametrize(
    "msg",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT
        + "\n"
        + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_malformed_notes_are_rejected(msg: str) -> None:
    with pytest.raises(VerificationError, match="malformed"):
        open_note(msg, [Ed25519Verifier.from_vkey(PETER_VKEY)])
    with pytest.raises(VerificationError):
        open_note(b"\xff" + msg.encode(), [Ed25519Verifier.from_vkey(PETER_VKEY)])


def test_mangled_verifier_keys_are_rejected() -> None:
    """TestNewVerifier: every proper substring and every one-byte increment of the key fails."""
    Ed25519Verifier.from_vkey(PETER_VKEY)
    b = PETER_VKEY.encode()
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(LedgerError):
                    Ed25519Verifier.from_vkey(b[i:j].decode())
    for i in range(len(b)):
        mangled = b[:i] + bytes([b[i] + 1]) + b[i + 1 :]
        with pytest.raises((LedgerError, UnicodeDecodeError)):
            Ed25519Verifier.from_vkey(mangled.decode())
    with pytest.raises(LedgerError):  # wrong length key, with adjusted key hash
        Ed25519Verifier.from_vkey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    with pytest.raises(LedgerError):  # unknown algorithm, with adjusted key hash
        Ed25519Verifier.from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_cosignature_key_id_and_timestamp_vectors() -> None:
    name, kid, alg, pub = parse_vkey(COSIG_VKEY)  # checks SHA-256(name || \n || 0x04 || key)[:4]
    assert (name, kid, alg, len(pub)) == ("remora.n621.de", 0xDA77ADE7, 0x04, 32)
    assert isinstance(verifier_from_vkey(COSIG_VKEY), CosignatureV1Verifier)
    assert verifier_from_vkey(COSIG_VKEY).vkey == COSIG_VKEY  # type: ignore[attr-defined]
    raw = b64decode_strict(COSIG_B64)
    assert cosignature_timestamp(raw[4:]) == 1727964367
    assert cosigned_message(b"o\n1\nr\n", 7) == b"cosignature/v1\ntime 7\no\n1\nr\n"


def test_cosign_roundtrip_and_type_separation() -> None:
    key = Ed25519PrivateKey.generate()
    cosigner = CosignatureV1Signer("witness.example/w1", key)
    cosigner.timestamp = 1679315147
    log = Ed25519Signer("example.com/log", Ed25519PrivateKey.generate())
    body = Checkpoint("example.com/log", 20852163, bytes(32)).body()
    note = sign_note(body, [log, cosigner])
    opened = open_note(note, [log.verifier(), cosigner.verifier()])
    assert len(opened.verified) == 2
    sig = parse_note(note).signatures[1]
    assert cosignature_timestamp(sig.signature) == 1679315147
    # The same Ed25519 key as a plain (0x01) verifier has another key ID: the cosignature is "unknown".
    plain = Ed25519Verifier("witness.example/w1", cosigner.public_key)
    with pytest.raises(VerificationError, match="no verifiable"):
        open_note(body + "\n" + sig.line(), [plain])
    # A cosignature over a different checkpoint fails.
    other = Checkpoint("example.com/log", 20852164, bytes(32)).body()
    with pytest.raises(VerificationError, match="invalid signature"):
        open_note(other + "\n" + sig.line(), [cosigner.verifier()])


def test_checkpoint_body_is_strict() -> None:
    root = bytes(range(32))
    cp = Checkpoint("example.com/behind-the-sofa", 20852163, root, ("ext one",))
    assert Checkpoint.parse(cp.body()) == cp
    assert cp.body().split("\n")[:2] == ["example.com/behind-the-sofa", "20852163"]
    good = cp.body()
    for bad in (
        good[:-1],
        good.replace("20852163", "020852163"),
        good.replace("20852163", "+20852163"),
        good.replace("20852163", "-1"),
        "\n20852163\n" + good.split("\n")[2] + "\n",
        "origin\n1\n" + "AAAA\n",
        "origin\n1\n",
        good.replace("ext one", ""),
    ):
        with pytest.raises(VerificationError):
            Checkpoint.parse(bad)
    signer = Ed25519Signer("example.com/behind-the-sofa", Ed25519PrivateKey.generate())
    parsed, _ = open_checkpoint(sign_note(good, [signer]), [signer.verifier()], origin=cp.origin)
    assert parsed == cp
    with pytest.raises(VerificationError, match="not 'other'"):
        open_checkpoint(sign_note(good, [signer]), [signer.verifier()], origin="other")
