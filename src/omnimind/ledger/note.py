"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 signatures (signature type 0x01).

    <text, ending in a newline>
    <blank line>
    — <key name> base64(4-byte key ID || signature)
    ...

key ID = SHA-256(key name || 0x0A || signature type || public key)[:4], big-endian.
Verifier keys: "<name>+<key ID, 8 lowercase hex>+base64(signature type || public key)".
Verifiers ignore signatures from unknown keys (unknown name+key ID); a known key whose signature fails
rejects the note; a note with no verified signature is rejected. Compatible with
golang.org/x/mod/sumdb/note (tests use its published vectors).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from omnimind.errors import LedgerError, VerificationError
from omnimind.ledger._util import b64decode_strict, b64encode

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100
_DASH = "\u2014 "


def key_id(name: str, alg: int, public_key: bytes) -> int:
    """The 32-bit key ID of (name, signature type, public key)."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def valid_name(name: str) -> bool:
    """Key names are non-empty, with no Unicode spaces, no '+', no control characters."""
    return bool(name) and "+" not in name and not any(c.isspace() or ord(c) < 0x20 for c in name)


class Verifier(Protocol):
    """Checks signatures of one key, identified by (name, key_id)."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, signature: bytes) -> bool: ...


class Signer(Protocol):
    """Signs note texts with one key."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, text: bytes) -> bytes: ...


def parse_vkey(vkey: str) -> tuple[str, int, int, bytes]:
    """Split a verifier key into (name, key ID, signature type, public key); checks the key ID."""
    parts = vkey.split("+", 2)  # the base64 may itself contain "+"
    if len(parts) != 3:
        raise LedgerError(f"malformed verifier key {vkey!r}", "expected NAME+KEYID+BASE64")
    name, hex_id, b64 = parts
    if not valid_name(name) or len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise LedgerError(f"malformed verifier key {vkey!r}", "expected NAME+KEYID+BASE64")
    try:
        data = b64decode_strict(b64)
    except ValueError as exc:
        raise LedgerError(f"malformed verifier key {vkey!r}: {exc}") from exc
    if len(data) < 2:
        raise LedgerError(f"malformed verifier key {vkey!r}: no key material")
    kid = int(hex_id, 16)
    if key_id(name, data[0], data[1:]) != kid:
        raise LedgerError(f"verifier key {vkey!r}: key ID does not match the key")
    return name, kid, data[0], data[1:]


def _ed25519_public(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise LedgerError(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class Ed25519Verifier:
    """Verifies type 0x01 (plain Ed25519) note signatures."""

    def __init__(self, name: str, public_key: bytes) -> None:
        if not valid_name(name):
            raise LedgerError(f"invalid key name {name!r}", "no spaces or '+' allowed")
        self._name = name
        self.public_key = bytes(public_key)
        self._key = _ed25519_public(self.public_key)
        self._id = key_id(name, ALG_ED25519, self.public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> Ed25519Verifier:
        name, _, alg, pub = parse_vkey(vkey)
        if alg != ALG_ED25519:
            raise LedgerError(f"verifier key {vkey!r} is not an Ed25519 (0x01) key")
        return cls(name, pub)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._id

    @property
    def vkey(self) -> str:
        return f"{self._name}+{self._id:08x}+{b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            self._key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


class Ed25519Signer:
    """Signs notes with a plain Ed25519 (0x01) key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not valid_name(name):
            raise LedgerError(f"invalid key name {name!r}", "no spaces or '+' allowed")
        self._name = name
        self._key = private_key
        self.public_key = public_bytes(private_key.public_key())
        self._id = key_id(name, ALG_ED25519, self.public_key)

    @classmethod
    def from_skey(cls, skey: str) -> Ed25519Signer:
        """Parse a Go sumdb/note signer key "PRIVATE+KEY+name+keyid+base64(0x01 || seed)"."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise LedgerError("malformed signer key", "expected PRIVATE+KEY+NAME+KEYID+BASE64")
        _, _, name, hex_id, b64 = parts
        try:
            data = b64decode_strict(b64)
        except ValueError as exc:
            raise LedgerError(f"malformed signer key: {exc}") from exc
        if len(data) != 33 or data[0] != ALG_ED25519 or len(hex_id) != 8:
            raise LedgerError("malformed signer key", "expected an Ed25519 seed")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(data[1:]))
        if f"{signer.key_id:08x}" != hex_id:
            raise LedgerError("signer key: key ID does not match the key")
        return signer

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._id

    def sign(self, text: bytes) -> bytes:
        return self._key.sign(text)

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self._name, self.public_key)


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, key ID and the signature bytes (after the key ID)."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        return f"{_DASH}{self.name} {b64encode(self.key_id.to_bytes(4, 'big') + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A note's text (ending in a newline) and its signature lines, in order."""

    text: str
    signatures: tuple[Signature, ...] = ()

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def _malformed(why: str) -> VerificationError:
    return VerificationError(f"malformed signed note: {why}")


def check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise _malformed("the text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise _malformed("control characters other than newline are not allowed")


def parse_note(msg: str | bytes) -> Note:
    """Split a signed note into text and signatures (syntax only; verifies nothing)."""
    if isinstance(msg, bytes):
        try:
            msg = msg.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed("not valid UTF-8") from exc
    if any(ord(c) < 0x20 and c != "\n" for c in msg) or any(0xD800 <= ord(c) <= 0xDFFF for c in msg):
        raise _malformed("control characters other than newline are not allowed")
    split = msg.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line before the signatures")
    text, sigs = msg[: split + 1], msg[split + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise _malformed("no signature lines, or the last one does not end with a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _malformed(f"more than {MAX_SIGNATURES} signatures")
    out = []
    for line in lines:
        if not line.startswith(_DASH):
            raise _malformed(f"signature line does not start with an em dash: {line[:40]!r}")
        name, sep, b64 = line[len(_DASH) :].partition(" ")
        if not sep or not valid_name(name):
            raise _malformed(f"bad key name in signature line {line[:40]!r}")
        try:
            raw = b64decode_strict(b64)
        except ValueError as exc:
            raise _malformed(f"signature of {name!r}: {exc}") from exc
        if len(raw) < 5:
            raise _malformed(f"signature of {name!r} is too short")
        out.append(Signature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return Note(text, tuple(out))


def sign_note(text: str, signers: Sequence[Signer], *, keep: Sequence[Signature] = ()) -> str:
    """Sign `text` with every signer; signatures in `keep` from other keys are carried over."""
    check_text(text)
    msg = text.encode("utf-8")
    mine = {(s.name, s.key_id) for s in signers}
    sigs = [s for s in keep if (s.name, s.key_id) not in mine]
    sigs += [Signature(s.name, s.key_id, s.sign(msg)) for s in signers]
    return Note(text, tuple(sigs)).encode()


@dataclass(frozen=True)
class OpenedNote:
    """A note whose text may be trusted: `verified` signatures checked, `unverified` from unknown keys."""

    text: str
    verified: tuple[Signature, ...]
    unverified: tuple[Signature, ...]


def open_note(msg: str | bytes, verifiers: Sequence[Verifier]) -> OpenedNote:
    """Parse and verify a signed note; raise VerificationError unless a known key verified it.

    Unknown keys are ignored (kept in `unverified`); a signature from a known key that fails rejects the
    whole note, naming the key.
    """
    note = parse_note(msg)
    text = note.text.encode("utf-8")
    by_id: dict[tuple[str, int], Verifier] = {}
    ambiguous: set[tuple[str, int]] = set()
    for v in verifiers:
        k = (v.name, v.key_id)
        if k in by_id and by_id[k] is not v:
            ambiguous.add(k)
        by_id[k] = v
    verified: list[Signature] = []
    unverified: list[Signature] = []
    for sig in note.signatures:
        k = (sig.name, sig.key_id)
        found = by_id.get(k)
        if found is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if k in ambiguous:
            raise VerificationError(f"ambiguous key {sig.name}+{sig.key_id:08x}")
        if sig in verified:
            continue
        if not found.verify(text, sig.signature):
            raise VerificationError(f"invalid signature for key {sig.name}+{sig.key_id:08x}")
        verified.append(sig)
    if not verified:
        raise VerificationError("note has no verifiable signatures (no signature from a trusted key)")
    return OpenedNote(note.text, tuple(verified), tuple(unverified))
