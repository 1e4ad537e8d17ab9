"""A deterministic text embedder (feature hashing of word and character n-grams), no model, no I/O.

Same text ⇒ same vector on every platform; good enough to make text stimuli drive sensory units.
"""

from __future__ import annotations

import hashlib
import itertools
import re

import numpy as np
from numpy.typing import NDArray

_WORD = re.compile(r"\w+", re.UNICODE)


def _features(text: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    feats = [f"w:{w}" for w in words]
    feats += [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
    padded = f" {' '.join(words)} "
    feats += [f"c:{padded[i:i + 3]}" for i in range(max(0, len(padded) - 2))]
    return feats


def embed_text(text: str, dim: int = 16) -> NDArray[np.float64]:
    """Signed feature hashing into `dim` dimensions, L2-normalised (zero vector for empty text)."""
    vec = np.zeros(dim, dtype=np.float64)
    for feat in _features(text):
        h = hashlib.blake2b(feat.encode(), digest_size=8).digest()
        idx = int.from_bytes(h[:4], "little") % dim
        vec[idx] += 1.0 if h[4] & 1 else -1.0
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec


def embed_lines(lines: list[str], dim: int = 16) -> NDArray[np.float64]:
    """Embed each line; returns an array of shape (len(lines), dim)."""
    return np.stack([embed_text(line, dim) for line in lines]) if lines else np.zeros((0, dim))
