"""No consequential lab action bypasses the gate: with a deny-everything policy set, each one called
directly through the lab API fails with PolicyDenied and changes nothing but the governance record."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from govhelp import with_reviews
from omnimind.governance import PolicyDenied
from omnimind.lab import privacy
from omnimind.lab.audit import export_bundle
from omnimind.lab.governance import export_decisions, principal
from omnimind.lab.lab import Lab
from omnimind.lab.snapshotting import forget, open_store, prune
from omnimind.snapshots import ForgetPolicy
from omnimind.spec import ExperimentSpec
from omnimind.storage import metadata

DENY_ALL = '''
@id("deny-all")
@rationale("Bypass test: nothing may happen.")
@reason("test: every action is vetoed")
forbid (principal, action, resource);
'''


def fingerprint(lab: Lab) -> dict[str, Any]:
    """Everything an action could change, except the governance record itself."""
    out: dict[str, Any] = {}
    with lab.db.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name.startswith(("governance", "ledger", "policy", "review", "decision")):
                continue
            rows = conn.execute(sa.select(table)).all()
            out[table.name] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
        categories = conn.execute(sa.text("SELECT category, count(*) FROM ledger_entries GROUP BY category")).all()
    out["ledger_non_governance"] = {c: n for c, n in categories if c != "governance"}
    files = {}
    for p in sorted(lab.path.rglob("*")):
        if p.is_file() and not p.name.startswith("omnimind.db") and "locks" not in p.parts:
            files[str(p.relative_to(lab.path))] = hashlib.sha256(p.read_bytes()).hexdigest()
    out["files"] = files
    return out


@pytest.fixture()
def lab(tmp_path: Path) -> Any:
    stim = tmp_path / "stim.txt"
    stim.write_text("hello world\nanother line\n")
    with Lab.init(tmp_path / "lab") as lab:
        privacy.grant_consent(lab, "S1", "research")
        spec = ExperimentSpec.model_validate({"cycles": 600, "snapshots": {"every_cycles": 200},
                                              "metrics": {"enabled": False},
                                              "stimuli": {"source": "text", "path": str(stim), "subject": "S1"}})
        done = lab.run(spec)
        lab.ledger.checkpoint()
        key_backup = tmp_path / "keys.bak"
        privacy.backup_keys(lab, key_backup, "pw")
        version = with_reviews(lab, lambda: lab.gate.update_policies(DENY_ALL, principal(lab), note="bypass test"))
        assert version.version == 2
        yield lab, done, tmp_path, key_backup


def gated_actions(lab: Lab, run: Any, tmp: Path, key_backup: Path) -> dict[str, Callable[[], Any]]:
    snap = open_store(lab).list(run=run.id)[0]
    spec = ExperimentSpec.model_validate({"cycles": 10, "metrics": {"enabled": False}})
    return {
        "run": lambda: lab.run(spec),
        "resume": lambda: lab.resume(run.id),
        "restore (point in time)": lambda: lab.restore_at_cycle(run.id, 300),
        "restore (as run)": lambda: lab.restore_as_run(snap.id),
        "snapshot.forget": lambda: forget(lab, ForgetPolicy(last=1)),
        "snapshot.prune": lambda: prune(lab),
        "audit.export (run data)": lambda: run.export("npz", tmp / "out.npz"),
        "audit.export (ledger bundle)": lambda: export_bundle(lab, run.id, tmp / "bundle.json"),
        "audit.export (decisions)": lambda: export_decisions(lab, "jsonl", tmp / "decisions.jsonl"),
        "audit.erase": lambda: privacy.erase_subject(lab, "S1", "dpo"),
        "keys.rotate": lambda: privacy.rotate_keys(lab),
        "retention.apply": lambda: privacy.retention_apply(lab),
        "backup.restore (keys)": lambda: privacy.restore_keys(lab, key_backup, "pw"),
        "policy.update": lambda: lab.gate.update_policies(DENY_ALL + "\n// v3\n", principal(lab)),
    }


def test_every_gated_action_is_vetoed_and_changes_nothing(lab: Any) -> None:
    lab_, run, tmp, key_backup = lab
    # `resume` needs a run that is not completed: mark it interrupted the way Ctrl-C would leave it.
    from omnimind.storage.schema import runs

    with lab_.db.begin() as conn:
        conn.execute(sa.update(runs).where(runs.c.id == run.id).values(status="interrupted"))
    actions = gated_actions(lab_, run, tmp, key_backup)
    for name, action in actions.items():
        before = fingerprint(lab_)
        decisions_before = len(lab_.gate.decisions.list(limit=10_000))
        with pytest.raises(PolicyDenied, match="deny-all") as info:
            action()
        assert info.value.decision.outcome == "deny", name
        assert fingerprint(lab_) == before, f"{name} changed something although it was vetoed"
        decisions = lab_.gate.decisions.list(limit=10_000)
        assert len(decisions) == decisions_before + 1, name
        # the veto is in the ledger, with a valid inclusion proof
        shown = lab_.gate.decisions.show(decisions[0]["id"], proof=True)
        assert shown["record"]["decision"] == "deny"
        proof = lab_.ledger.prove_inclusion(shown["proof"]["index"])
        proof.verify(lab_.ledger.vkey)
    assert not any((tmp / f).exists() for f in ("out.npz", "bundle.json", "decisions.jsonl"))
    assert lab_.ledger.verify(full=True).ok
