"""Small shared helpers: strict base64 and atomic file writes."""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from pathlib import Path

from omnimind.fsutil import fsync_dir


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str) -> bytes:
    """Standard base64 (RFC 4648 §4), padded, canonical: re-encoding must give the same text.

    Rejects non-alphabet characters, missing padding and non-zero padding bits, so that no two texts
    decode to the same bytes (a one-character edit always changes the value or fails).
    """
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError(f"not valid base64: {text[:40]!r}") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise ValueError(f"not canonical base64: {text[:40]!r}")
    return data


def create_exclusive(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create `path` with `data` atomically and never overwrite: temp (O_EXCL, `mode`) + fsync + link.

    `os.link` fails if `path` exists, so two processes racing to create a key cannot clobber each other,
    and a crash never leaves a half-written file under the final name. Raises FileExistsError.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_dir(path.parent)
