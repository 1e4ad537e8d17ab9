"""C2SP tlog-cosignature v1 with Ed25519 (https://c2sp.org/tlog-cosignature), signature type 0x04.

A cosignature is a note signature line on a checkpoint whose bytes are
    key ID (4) || timestamp (u64, big-endian, POSIX seconds) || Ed25519 signature (64)
and whose signed message is
    "cosignature/v1\n" "time <timestamp>\n" <the checkpoint note text>
"""

from __future__ import annotations

import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from omnimind.errors import LedgerError
from omnimind.ledger._util import b64encode
from omnimind.ledger.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Ed25519Verifier,
    Verifier,
    key_id,
    parse_vkey,
    public_bytes,
    valid_name,
)


def cosigned_message(text: bytes, timestamp: int) -> bytes:
    """The bytes an Ed25519 v1 cosignature signs."""
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def cosignature_timestamp(signature: bytes) -> int:
    """The timestamp inside a v1 cosignature (the bytes after the key ID)."""
    if len(signature) != 8 + 64:
        raise LedgerError(f"cosignature is {len(signature)} bytes, not 72")
    return int.from_bytes(signature[:8], "big")


class CosignatureV1Verifier:
    """Verifies type 0x04 timestamped Ed25519 cosignatures."""

    def __init__(self, name: str, public_key: bytes) -> None:
        if not valid_name(name) or len(public_key) != 32:
            raise LedgerError(f"invalid cosigner key {name!r}")
        self._name = name
        self.public_key = bytes(public_key)
        self._key = Ed25519PublicKey.from_public_bytes(self.public_key)
        self._id = key_id(name, ALG_COSIGNATURE_V1, self.public_key)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._id

    @property
    def vkey(self) -> str:
        return f"{self._name}+{self._id:08x}+{b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key)}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != 72:
            return False
        ts = int.from_bytes(signature[:8], "big")
        if ts >= 2**63:
            return False
        try:
            self._key.verify(signature[8:], cosigned_message(text, ts))
        except InvalidSignature:
            return False
        return True


class CosignatureV1Signer:
    """A cosigner key: signs checkpoint note texts as timestamped cosignatures."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not valid_name(name):
            raise LedgerError(f"invalid cosigner name {name!r}", "no spaces or '+' allowed")
        self._name = name
        self._key = private_key
        self.public_key = public_bytes(private_key.public_key())
        self._id = key_id(name, ALG_COSIGNATURE_V1, self.public_key)
        self.timestamp: int | None = None  # fixed timestamp for the next signatures (tests); None = now

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._id

    def sign(self, text: bytes) -> bytes:
        ts = int(time.time()) if self.timestamp is None else self.timestamp
        return ts.to_bytes(8, "big") + self._key.sign(cosigned_message(text, ts))

    def verifier(self) -> CosignatureV1Verifier:
        return CosignatureV1Verifier(self._name, self.public_key)


def verifier_from_vkey(vkey: str) -> Verifier:
    """A verifier for a vkey string of type 0x01 (log / plain Ed25519) or 0x04 (cosignature v1)."""
    name, _, alg, pub = parse_vkey(vkey)
    if alg == ALG_ED25519:
        return Ed25519Verifier(name, pub)
    if alg == ALG_COSIGNATURE_V1:
        return CosignatureV1Verifier(name, pub)
    raise LedgerError(f"verifier key {vkey!r} has unsupported signature type 0x{alg:02x}")
