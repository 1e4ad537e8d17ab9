"""An in-memory Merkle tree for fast proof generation: every perfect subtree hash, level by level.

`levels[k]` holds, contiguously, the 32-byte hashes of the complete perfect subtrees of 2^k leaves
(`levels[0]` are the leaf hashes). Extending by m leaves costs about m node hashes; any perfect aligned
subtree is then a slice, and a right-edge subtree combines at most log2(n) of them. An inclusion proof is
~log2(n) slices plus a few hashes. Memory: ~64 bytes per leaf.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import sha256

from omnimind.errors import LedgerError
from omnimind.ledger import proof as _proof
from omnimind.ledger.rfc6962 import EMPTY_ROOT, HASH_SIZE, largest_power_of_two_below

_NODE = b"\x01"


class MerkleTree:
    """All perfect-subtree hashes of a log, built from its leaf hashes."""

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append leaf hashes (each exactly 32 bytes) and compute the perfect subtrees they complete."""
        blob = b"".join(leaf_hashes)
        self.extend_packed(blob)

    def extend_packed(self, blob: bytes) -> None:
        """Append leaf hashes given as one concatenated blob."""
        if len(blob) % HASH_SIZE:
            raise LedgerError(f"leaf hash blob of {len(blob)} bytes is not a multiple of {HASH_SIZE}")
        levels = self._levels
        levels[0] += blob
        k = 0
        while True:
            child = levels[k]
            want = len(child) // (2 * HASH_SIZE)
            if want == 0:
                break
            if k + 1 == len(levels):
                levels.append(bytearray())
            parent = levels[k + 1]
            have = len(parent) // HASH_SIZE
            if have == want:
                break
            parent += b"".join([sha256(_NODE + child[64 * j : 64 * j + 64]).digest() for j in range(have, want)])
            k += 1

    def leaf_hash(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise LedgerError(f"no leaf {index} in a tree of size {self.size}")
        return bytes(self._levels[0][HASH_SIZE * index : HASH_SIZE * index + HASH_SIZE])

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for 0 <= start < end <= size."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            k = n.bit_length() - 1
            off = (start >> k) * HASH_SIZE
            level = self._levels[k] if k < len(self._levels) else b""
            if off + HASH_SIZE <= len(level):
                return bytes(level[off : off + HASH_SIZE])
            raise LedgerError(f"subtree [{start}, {end}) is beyond the tree of size {self.size}")
        if n <= 0 or end > self.size:
            raise LedgerError(f"subtree [{start}, {end}) is not in the tree of size {self.size}")
        k = largest_power_of_two_below(n)
        return sha256(_NODE + self.subtree_hash(start, start + k) + self.subtree_hash(start + k, end)).digest()

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (default: all)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise LedgerError(f"no tree of size {size}: only {self.size} leaves")
        return EMPTY_ROOT if size == 0 else self.subtree_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if size > self.size:
            raise LedgerError(f"no tree of size {size}: only {self.size} leaves")
        return _proof.inclusion_proof(index, size, self.subtree_hash)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new_size = self.size if new_size is None else new_size
        if new_size > self.size:
            raise LedgerError(f"no tree of size {new_size}: only {self.size} leaves")
        return _proof.consistency_proof(old_size, new_size, self.subtree_hash)
