"""`omnimind analyze` and `omnimind report`: through a Typer app that registers them (as main.py does), and
through the real `omnimind` subprocess once main.py wires them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from omnimind.cli.analysis import register
from omnimind.errors import MetricError, NotFoundError
from omnimind.lab.lab import Lab
from omnimind.spec import ExperimentSpec

SPEC = ExperimentSpec.model_validate({
    "seed": 1, "cycles": 2000, "snapshots": {"every_cycles": 10**9, "at_end": False, "on_interrupt": False},
    "metrics": {"window": 1000, "every": 1000, "surrogates": 2}})


def make_app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    return app


@pytest.fixture()
def lab_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    path = tmp_path / "lab"
    with Lab.init(path) as lab:
        run_id = lab.run(SPEC).id
    monkeypatch.setenv("OMNIMIND_LAB", str(path))
    yield path, run_id


def test_analyze_json_and_table(lab_run: tuple[Path, str]) -> None:
    _, run_id = lab_run
    runner = CliRunner()
    res = runner.invoke(make_app(), ["analyze", run_id[:6], "--measure", "phi", "-m", "tdmi", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [(r["cycle"], r["measure"]) for r in rows] == [(1000, "phi"), (1000, "tdmi"), (2000, "phi"),
                                                          (2000, "tdmi")]
    assert all(r["source"] == "analyze" and r["details"]["surrogate"]["n"] == 2 for r in rows)
    res = runner.invoke(make_app(), ["analyze", run_id, "--every", "2000", "--pca-k", "0", "--surrogates", "0"])
    assert res.exit_code == 0, res.output
    assert "phi" in res.stdout and "metastability" in res.stdout and "3 values over 1 windows" in res.stdout


def test_report_writes_into_the_lab_by_default(lab_run: tuple[Path, str], tmp_path: Path) -> None:
    path, run_id = lab_run
    res = CliRunner().invoke(make_app(), ["report", run_id, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert Path(out["html"]) == path / "data" / "reports" / run_id / "report.html"
    assert json.loads(Path(out["json"]).read_text())["run"]["id"] == run_id
    res = CliRunner().invoke(make_app(), ["report", run_id, "--out", str(tmp_path / "elsewhere")])
    assert res.exit_code == 0 and (tmp_path / "elsewhere" / "report.html").is_file()


def test_expected_failures_are_omnimind_errors_with_hints(lab_run: tuple[Path, str]) -> None:
    _, run_id = lab_run
    runner = CliRunner()
    for args, err, text in ((["analyze", "nosuchrun"], NotFoundError, "no run"),
                            (["analyze", run_id, "--measure", "phii"], MetricError, "unknown measure"),
                            (["analyze", run_id, "--window", "99999"], MetricError, "recorded states"),
                            (["report", run_id, "--source", "x"], MetricError, "unknown metrics source")):
        res = runner.invoke(make_app(), args)
        assert isinstance(res.exception, err), (args, res.output)
        assert text in res.exception.message and res.exception.hint


def _om(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "omnimind", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_real_command(lab_run: tuple[Path, str]) -> None:
    path, run_id = lab_run
    env = {"OMNIMIND_LAB": str(path)}
    done = _om("analyze", run_id, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 6
    done = _om("report", run_id, "--json", env=env)
    assert done.returncode == 0 and Path(json.loads(done.stdout)["html"]).is_file()
    bad = _om("analyze", run_id, "--window", "99999", env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "error:" in bad.stderr and "hint:" in bad.stderr
