"""Privacy benchmark: ledger appends/s with 256-byte sensitive payloads (AES-256-GCM under per-subject data
keys, SQLite WAL, synchronous=FULL) at batch 1000, against the same entries in clear; plus key rotation and
decryption rates. Prints JSON to stdout and writes bench/results/privacy.json.

    .venv/bin/python bench/bench_privacy.py [--entries 200000] [--subjects 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from omnimind.ledger import Ledger, NewEntry, load_or_create_signer
from omnimind.ledger.crypto import EncryptingCodec, decode_payload
from omnimind.ledger.keys import Keyring
from omnimind.storage import create_engine, sqlite_url, upgrade

TARGET = 40_000
BATCH = 1000


def ledger(directory: Path, codec: EncryptingCodec | None) -> Ledger:
    engine = create_engine(sqlite_url(directory / "lab.db"))
    upgrade(engine)
    return Ledger(engine, load_or_create_signer(directory / "log.key", "bench.omnimind/privacy"),
                  payload_codec=codec)


def entries(n: int, subjects: int, sensitive: bool) -> list[NewEntry]:
    text = os.urandom(96).hex()[:256]  # 256 bytes of sensitive text
    extra: dict[str, Any] = {"_sensitive": ["text"]} if sensitive else {}
    return [NewEntry("run", "stimulus", {"i": i, "text": text, **extra}, "bench", subject=f"S{i % subjects}",
                     run="run-1") for i in range(n)]


def rate(lg: Ledger, batch: list[NewEntry]) -> float:
    t = time.perf_counter()
    for k in range(0, len(batch), BATCH):
        lg.append_batch(batch[k:k + BATCH])
    return len(batch) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--subjects", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "plain").mkdir()
        (d / "enc").mkdir()
        plain = rate(ledger(d / "plain", None), entries(args.entries, args.subjects, False))
        kr = Keyring(d / "enc" / "keys")
        enc_ledger = ledger(d / "enc", EncryptingCodec(kr))
        enc_ledger.append_batch(entries(args.subjects, args.subjects, True))  # create the data keys (file writes)
        enc = rate(enc_ledger, entries(args.entries, args.subjects, True))
        t = time.perf_counter()
        rotations = 5
        for _ in range(rotations):
            kr.rotate("bench")
        rotate_ms = (time.perf_counter() - t) / rotations * 1000
        sample = [enc_ledger.entry(i) for i in range(args.subjects, args.subjects + 20_000)]
        t = time.perf_counter()
        for e in sample:
            assert decode_payload(e, kr).status == "decrypted"
        dec = len(sample) / (time.perf_counter() - t)
    out = {"entries": args.entries, "batch": BATCH, "subjects": args.subjects, "payload_sensitive_bytes": 256,
           "appends_per_s_encrypted": round(enc), "appends_per_s_plain": round(plain),
           "encryption_overhead_pct": round((plain / enc - 1) * 100, 1), "target_appends_per_s": TARGET,
           "meets_target": enc >= TARGET, "kek_rotation_ms": round(rotate_ms, 2),
           "data_keys_rewrapped_per_rotation": args.subjects, "decrypts_per_s": round(dec),
           "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    print(json.dumps(out, indent=2))
    res = Path(__file__).parent / "results"
    res.mkdir(exist_ok=True)
    (res / "privacy.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
