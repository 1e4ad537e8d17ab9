"""`omnimind keys|consent|retention|compliance` and `audit erase` end to end (subprocess, real lab)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def om(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "omnimind", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_privacy_commands(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    assert om("init", str(lab)).returncode == 0
    text = tmp_path / "s.txt"
    text.write_text("CLIMARKER one\nCLIMARKER two\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"cycles: 30\nstimuli:\n  source: text\n  path: {text}\n  subject: P7\n")
    refused = om("--lab", str(lab), "run", str(spec))
    assert refused.returncode == 2 and "has not consented" in refused.stderr and "consent grant P7" in refused.stderr
    assert om("--lab", str(lab), "consent", "grant", "P7", "--scope", '{"stimuli": "text"}').returncode == 0
    ran = om("--lab", str(lab), "run", str(spec), "--json")
    assert ran.returncode == 0, ran.stderr
    listed = json.loads(om("--lab", str(lab), "consent", "list", "--json").stdout)
    assert [c["status"] for c in listed] == ["granted"]

    before = json.loads(om("--lab", str(lab), "compliance", "report", "--format", "json").stdout)
    assert before["processing"]["subjects"] == 1 and before["ledger"]["ok"]
    rot = om("--lab", str(lab), "keys", "rotate", "--json")
    assert rot.returncode == 0, rot.stderr
    keys = json.loads(om("--lab", str(lab), "keys", "list", "--json").stdout)
    assert keys["kek"] == json.loads(rot.stdout)["kek"] and keys["data_keys"][0]["subject"] == "P7"

    no_pw = om("--lab", str(lab), "keys", "backup", str(tmp_path / "k.bak"))
    assert no_pw.returncode == 2 and "OMNIMIND_KEY_PASSPHRASE" in no_pw.stderr
    pw = {"OMNIMIND_KEY_PASSPHRASE": "s3cret pass"}
    assert om("--lab", str(lab), "keys", "backup", str(tmp_path / "k.bak"), env=pw).returncode == 0

    # Erasure escalates to two reviewers (default policy erasure-two-reviewers): the review flow, by hand.
    first = om("--lab", str(lab), "audit", "erase", "--subject", "P7", "--json")
    assert first.returncode == 2 and "needs review" in first.stderr, first.stderr
    request = first.stderr.split("request ")[1].split()[0]
    for reviewer in ("rev-a", "rev-b"):
        assert om("--lab", str(lab), "users", "set", reviewer, "--role", "reviewer").returncode == 0
    self_approve = om("--lab", str(lab), "review", "approve", request, "--reason", "mine")
    assert self_approve.returncode == 2, "the requester must not approve their own request"
    for reviewer in ("rev-a", "rev-b"):
        ok = om("--lab", str(lab), "review", "approve", request, "--reason", "consent withdrawn",
                env={"OMNIMIND_USER": reviewer})
        assert ok.returncode == 0, ok.stderr
    erased = om("--lab", str(lab), "audit", "erase", "--subject", "P7", "--json")
    assert erased.returncode == 0, erased.stderr
    again = om("--lab", str(lab), "audit", "erase", "--subject", "P7", "--json")
    assert again.returncode == 2 and "needs review" in again.stderr  # the approval was used exactly once
    assert len(json.loads(erased.stdout)["keys_destroyed"]) == 1
    restored = json.loads(om("--lab", str(lab), "keys", "restore", str(tmp_path / "k.bak"), "--json", env=pw).stdout)
    assert restored == {"restored": 0, "kept_destroyed": 1}
    assert om("--lab", str(lab), "audit", "verify", "--full").returncode == 0
    md = om("--lab", str(lab), "compliance", "report", "--format", "md").stdout
    assert "## Erasure requests" in md and "PENDING" not in md and "OK" in md

    (lab / "retention.toml").write_text("[retention]\nrun = 0\n")
    plan = json.loads(om("--lab", str(lab), "retention", "plan", "--json").stdout)
    applied = json.loads(om("--lab", str(lab), "retention", "apply", "--json").stdout)
    assert [c["category"] for c in plan["categories"]] == ["run"]
    assert plan["archive_from"] == applied["archive_from"] and plan["categories"][0]["keys"] == []
