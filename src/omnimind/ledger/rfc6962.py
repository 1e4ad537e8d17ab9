"""RFC 6962 / RFC 9162 §2.1.1 Merkle tree hashing with SHA-256.

leaf hash  = SHA-256(0x00 || entry)
node hash  = SHA-256(0x01 || left || right)
empty tree = SHA-256("")
"""

from __future__ import annotations

from hashlib import sha256

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = sha256(b"").digest()


def hash_leaf(entry: bytes) -> bytes:
    """The leaf hash of one log entry (its canonical bytes)."""
    return sha256(LEAF_PREFIX + entry).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node from its two children."""
    return sha256(NODE_PREFIX + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than `n` (`n` >= 2): RFC 9162's split point `k`."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(leaf_hashes: list[bytes]) -> bytes:
    """MTH(D[n]) computed directly from leaf hashes (reference implementation, O(n) memory)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        nxt = [hash_children(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
