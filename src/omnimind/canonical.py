"""The one canonical serialisation for hashed data: RFC 8785 (JSON Canonicalization Scheme)."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


def canonical_json(obj: Any) -> bytes:
    """Serialise `obj` as RFC 8785 canonical JSON bytes (sorted keys, no whitespace, ECMAScript numbers)."""
    return bytes(rfc8785.dumps(obj))


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def json_digest(obj: Any) -> str:
    """Hex SHA-256 of the canonical JSON form of `obj`."""
    return sha256_hex(canonical_json(obj))
