"""The log's Ed25519 key file: created once (0600, atomically, never overwritten), loaded to sign.

Format: PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), or a raw 32-byte Ed25519 seed. A file readable by group
or others is refused. The keys issue extends this module (passphrase, rotation, backup).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from omnimind.errors import LedgerError
from omnimind.ledger._util import create_exclusive
from omnimind.ledger.cosignature import CosignatureV1Signer
from omnimind.ledger.note import Ed25519Signer


def create_key_file(path: Path) -> Ed25519PrivateKey:
    """Generate a new Ed25519 key into `path` (mode 0600); FileExistsError if it exists."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    create_exclusive(Path(path), pem, mode=0o600)
    return key


def load_key_file(path: Path) -> Ed25519PrivateKey:
    """Load an Ed25519 private key (PEM or raw seed); refuse files that others can read."""
    path = Path(path)
    try:
        st = path.stat()
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise LedgerError(f"key file {path} does not exist", "create it with `omnimind init`") from exc
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise LedgerError(
            f"key file {path} is accessible by other users (mode {stat.S_IMODE(st.st_mode):o})",
            f"chmod 600 {path}",
        )
    if len(data) == 32:
        return Ed25519PrivateKey.from_private_bytes(data)
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise LedgerError(f"key file {path} is not an Ed25519 PEM key or raw 32-byte seed") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise LedgerError(f"key file {path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def _load_or_create(path: Path) -> Ed25519PrivateKey:
    path = Path(path)
    if not path.exists():
        try:
            return create_key_file(path)
        except FileExistsError:
            pass  # another process created it first: use theirs
    return load_key_file(path)


def load_signer(path: Path, name: str) -> Ed25519Signer:
    """The log signer named `name` (the log origin) from an existing key file."""
    return Ed25519Signer(name, load_key_file(path))


def load_or_create_signer(path: Path, name: str) -> Ed25519Signer:
    """The log signer from `path`, generating the key file first if it does not exist."""
    return Ed25519Signer(name, _load_or_create(path))


def load_or_create_cosigner(path: Path, name: str) -> CosignatureV1Signer:
    """A witness cosigner from `path`, generating the key file first if it does not exist."""
    return CosignatureV1Signer(name, _load_or_create(path))
