"""Compact ranges: the right frontier of a log, enough to append and compute the root without the leaves.

A compact range for [0, n) holds one hash per set bit of n, the roots of the perfect subtrees that make up
the tree, largest (leftmost) first. Appending a leaf merges equal-sized subtrees (amortised one hash per
leaf); the root folds the hashes right to left. The ledger persists this range in its head row, in the same
transaction as the entries, so a restarted process continues appending without reading a single entry.
(Same idea as transparency-dev/merkle `compact.Range` starting at 0.)
"""

from __future__ import annotations

from hashlib import sha256

from omnimind.errors import LedgerError
from omnimind.ledger.rfc6962 import EMPTY_ROOT, HASH_SIZE

_NODE = b"\x01"


class CompactRange:
    """The compact range [0, size): `hashes[i]` is the root of the i-th perfect subtree from the left."""

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: list[bytes] | None = None) -> None:
        hashes = list(hashes or [])
        if size < 0 or len(hashes) != bin(size).count("1"):
            raise LedgerError(f"compact range of size {size} needs {bin(size).count('1')} hashes, got {len(hashes)}")
        self.size = size
        self.hashes = hashes

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash at index `size`."""
        hashes = self.hashes
        h = leaf_hash
        n = self.size
        while n & 1:  # one merge per trailing one bit of the old size
            h = sha256(_NODE + hashes.pop() + h).digest()
            n >>= 1
        hashes.append(h)
        self.size += 1

    def extend(self, leaf_hashes: list[bytes]) -> None:
        """Add many leaf hashes (tight loop; the append hot path)."""
        hashes = self.hashes
        pop = hashes.pop
        push = hashes.append
        size = self.size
        for h in leaf_hashes:
            n = size
            while n & 1:
                h = sha256(_NODE + pop() + h).digest()
                n >>= 1
            push(h)
            size += 1
        self.size = size

    def root(self) -> bytes:
        """MTH of the range: fold the perfect-subtree roots right to left."""
        if not self.hashes:
            return EMPTY_ROOT
        it = reversed(self.hashes)
        acc = next(it)
        for h in it:
            acc = sha256(_NODE + h + acc).digest()
        return acc

    def copy(self) -> CompactRange:
        return CompactRange(self.size, list(self.hashes))

    def to_bytes(self) -> bytes:
        """The hashes concatenated (the size is stored beside them)."""
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> CompactRange:
        if len(data) % HASH_SIZE:
            raise LedgerError(f"compact range blob of {len(data)} bytes is not a multiple of {HASH_SIZE}")
        return cls(size, [bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)])
