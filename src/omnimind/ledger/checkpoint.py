"""C2SP tlog-checkpoint bodies (https://c2sp.org/tlog-checkpoint) and signed checkpoints.

    <origin>\n
    <tree size, decimal, no leading zeros>\n
    <root hash, standard base64>\n
    [<extension line>\n ...]

signed as a C2SP signed note by the log key (key name = origin, by convention).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omnimind.errors import VerificationError
from omnimind.ledger._util import b64decode_strict, b64encode
from omnimind.ledger.note import OpenedNote, Verifier, open_note
from omnimind.ledger.rfc6962 import HASH_SIZE


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: which log (`origin`), how many entries (`size`), and their Merkle root."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint body (the note text); strict: any deviation raises VerificationError."""
        if not body.endswith("\n"):
            raise VerificationError("checkpoint body does not end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise VerificationError("checkpoint body has fewer than 3 lines")
        origin, size_s, root_s, *ext = lines
        if not origin:
            raise VerificationError("checkpoint origin line is empty")
        if not size_s.isascii() or not size_s.isdigit() or (len(size_s) > 1 and size_s[0] == "0"):
            raise VerificationError(f"checkpoint size {size_s!r} is not a canonical decimal")
        size = int(size_s)
        if size >= 2**64:
            raise VerificationError(f"checkpoint size {size} does not fit 64 bits")
        try:
            root = b64decode_strict(root_s)
        except ValueError as exc:
            raise VerificationError(f"checkpoint root: {exc}") from exc
        if len(root) != HASH_SIZE:
            raise VerificationError(f"checkpoint root is {len(root)} bytes, not {HASH_SIZE}")
        if any(not e for e in ext):
            raise VerificationError("checkpoint has an empty extension line")
        return cls(origin, size, root, tuple(ext))


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint with its signed note text (exactly as stored and exported)."""

    checkpoint: Checkpoint
    note: str
    time: str = ""

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root

    @property
    def origin(self) -> str:
        return self.checkpoint.origin


def open_checkpoint(
    note: str, verifiers: Sequence[Verifier], *, origin: str | None = None
) -> tuple[Checkpoint, OpenedNote]:
    """Verify a signed checkpoint note and parse its body; raise VerificationError on any problem."""
    opened = open_note(note, verifiers)
    cp = Checkpoint.parse(opened.text)
    if origin is not None and cp.origin != origin:
        raise VerificationError(f"checkpoint is for log {cp.origin!r}, not {origin!r}")
    return cp, opened
