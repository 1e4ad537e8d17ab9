"""The `omnimind` command as a user meets it: real subprocesses, real exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXE = [sys.executable, "-m", "omnimind"]


def om(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={**os.environ, **(env or {})})


def assert_user_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "error:" in proc.stderr and "hint:" in proc.stderr
    for n in needles:
        assert n in proc.stderr, proc.stderr


def test_init_run_list_show_export(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    assert om("init", str(lab)).returncode == 0
    done = om("--lab", str(lab), "run", "--cycles", "2000", "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["status"] == "completed" and info["cycles_done"] == 2000
    listed = json.loads(om("--lab", str(lab), "runs", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [info["id"]]
    shown = json.loads(om("--lab", str(lab), "runs", "show", info["id"][:6], "--json").stdout)
    assert shown["shapes"]["states"] == [2000, 128]
    out = tmp_path / "x.npz"
    assert om("--lab", str(lab), "runs", "export", info["id"], "--format", "npz", "-o", str(out)).returncode == 0
    assert out.stat().st_size > 0
    # the lab is found from the working directory too
    assert json.loads(om("runs", "list", "--json", cwd=lab).stdout)[0]["id"] == info["id"]


def test_spec_show_round_trips(tmp_path: Path) -> None:
    text = om("spec", "show").stdout
    (tmp_path / "s.yaml").write_text(text)
    again = om("spec", "show", str(tmp_path / "s.yaml"))
    assert again.returncode == 0 and again.stdout == text


@pytest.mark.parametrize(
    ("yaml_text", "needles"),
    [
        ("modules:\n  - {name: a, kind: quantum, dim: 4}\n", ["line 2", "modules.0.kind", "echo_state"]),
        ("modules:\n  - name: a\n    kind: echo_state\n    dim: 0\n", ["line 4", "modules.0.dim"]),
        ("seed: [1, 2\n", ["malformed YAML", "line 2"]),
        ("cycles: 10\nstimuli: {source: array, path: nothere.npy}\n", ["nothere.npy", "does not exist"]),
        ("workspace:\n  temprature: 2\n", ["line 2", "temprature"]),
    ],
)
def test_bad_spec_is_one_clear_error(tmp_path: Path, yaml_text: str, needles: list[str]) -> None:
    lab = tmp_path / "lab"
    om("init", str(lab))
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml_text)
    proc = om("--lab", str(lab), "run", str(spec))
    assert_user_error(proc, *needles)
    assert json.loads(om("--lab", str(lab), "runs", "list", "--json").stdout) == []


def test_not_a_lab_and_unreachable_database(tmp_path: Path) -> None:
    assert_user_error(om("--lab", str(tmp_path), "runs", "list"), "not an OmniMind lab", "omnimind init")
    proc = om("init", str(tmp_path / "pg"), "--database-url", "postgresql://nobody@127.0.0.1:1/x")
    assert_user_error(proc, "cannot reach database")
    assert not (tmp_path / "pg").exists()
    assert_user_error(om("spec", "show", str(tmp_path / "missing.yaml")), "does not exist")


def test_ctrl_c_marks_run_interrupted_and_keeps_data(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    om("init", str(lab))
    proc = subprocess.Popen([*EXE, "--lab", str(lab), "run", "--cycles", "100000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    cycles = 0
    while time.monotonic() < deadline and cycles < 5000:  # wait until some data is recorded
        listed = om("--lab", str(lab), "runs", "list", "--json")
        rows = json.loads(listed.stdout) if listed.returncode == 0 else []
        cycles = rows[0]["cycles_done"] if rows else 0
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    info = json.loads(om("--lab", str(lab), "runs", "list", "--json").stdout)[0]
    assert info["status"] == "interrupted"
    shown = json.loads(om("--lab", str(lab), "runs", "show", info["id"], "--json").stdout)
    assert shown["shapes"]["states"][0] == info["cycles_done"] >= 5000
