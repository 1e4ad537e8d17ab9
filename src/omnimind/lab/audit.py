"""The lab's audit trail: its ledger (key file, origin), what gets logged, and per-cycle logging in runs.

Every consequential thing a lab does is an entry: lab init, run start/end/interrupt/failure/resume, every
cycle's state and input digests, snapshots, exports, recoveries and verification runs (docs/ledger.md).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnimind.engine import CycleResult
from omnimind.errors import VerificationError
from omnimind.ledger import Ledger, load_or_create_signer

if TYPE_CHECKING:
    from omnimind.lab.lab import Lab

LOG_KEY = "keys/ledger.key"
CYCLE_BATCH = 2048  # cycles per durable ledger transaction during a run


def origin_of(lab: Lab) -> str:
    """The log's C2SP origin line: unique per lab."""
    return f"omnimind.lab/{lab.config.id}"


def open_ledger(lab: Lab) -> Ledger:
    """The lab's ledger, its Ed25519 key created (0600) on first use."""
    from omnimind.lab.privacy import note_debug_mode, payload_codec

    signer = load_or_create_signer(lab.path / LOG_KEY, origin_of(lab))
    codec = payload_codec(lab)  # sensitive fields encrypted under per-subject keys (docs/privacy.md)
    ledger = Ledger(lab.db, signer, origin_of(lab), payload_codec=codec)
    note_debug_mode(lab, codec, ledger, current_actor())
    return ledger


def current_actor() -> str:
    """Who is acting: $OMNIMIND_USER, else the OS user."""
    return os.environ.get("OMNIMIND_USER") or getpass.getuser()


class CycleLogger:
    """After-cycle hook: one ledger entry per cycle (cycle, state digest, inputs digest), batched.

    On a resumed run, cycles the ledger already holds are not logged again: their digests are checked
    against the log instead, so a resume that diverged from the original run is caught at once.
    """

    def __init__(self, ledger: Ledger, run_id: str, submit: Callable[[Callable[[], Any]], None],
                 start_cycle: int, tenant: str = "default") -> None:
        self.ledger, self.run_id, self._submit, self.tenant = ledger, run_id, submit, tenant
        logged = ledger.last_cycle(run_id)
        self._known = ledger.cycle_digests(run_id, start_cycle + 1, logged) if logged > start_cycle else {}
        self._known_until = logged if logged > start_cycle else start_cycle
        self._batch: list[tuple[int, str, str]] = []

    def __call__(self, r: CycleResult) -> None:
        if r.cycle <= self._known_until:
            want = self._known.get(r.cycle)
            if want is not None and want != r.state_digest.hex():
                raise VerificationError(
                    f"run {self.run_id} diverged from its audit log at cycle {r.cycle}",
                    "the code, the platform or the stored state differs from the original run; "
                    "run `omnimind audit verify --full`")
            return
        self._batch.append((r.cycle, r.state_digest.hex(), r.inputs_digest.hex()))
        if len(self._batch) >= CYCLE_BATCH:
            self.flush()

    def flush(self) -> None:
        """Hand the batch to the run's ordered background writer."""
        if self._batch:
            batch, self._batch = self._batch, []
            self._submit(lambda: self.ledger.append_cycles(self.run_id, batch, tenant=self.tenant))


def log(lab: Lab, category: str, action: str, payload: dict[str, Any], *, run: str | None = None,
        cycle: int | None = None, actor: str | None = None, subject: str | None = None) -> int:
    """Append one entry now (durable on return)."""
    return lab.ledger.append(category, action, payload, actor=actor or current_actor(), run=run, cycle=cycle,
                             subject=subject)


def export_bundle(lab: Lab, run: str | None, dest: Path) -> Path:
    """Write an offline-verifiable ledger bundle (the whole log, or one run's entries with proofs); gated."""
    from omnimind.lab.governance import lab_resource, require
    from omnimind.ledger import write_bundle

    require(lab, "audit.export", lab_resource(lab, "Run", run) if run else None)
    write_bundle(lab.ledger.export(run), dest)
    log(lab, "run" if run else "system", "audit.export", {"path": str(dest), "run": run}, run=run)
    return dest
