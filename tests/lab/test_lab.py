"""The lab on real SQLite and real PostgreSQL: init/open, runs, recording, interruption, export, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from omnimind.engine import IntegrationLoop
from omnimind.errors import LabError, NotFoundError, SpecError
from omnimind.lab.lab import Lab
from omnimind.spec import ExperimentSpec, parse_spec
from omnimind.storage.schema import runs

SMALL = ExperimentSpec.model_validate({"cycles": 3000, "recording": {"chunk_rows": 512}})


def test_init_creates_layout_and_reopens(lab_dir: Path) -> None:
    lab = Lab.init(lab_dir)
    lab.close()
    for sub in ("lab.toml", "omnimind.db", "data", "keys", "logs"):
        assert (lab_dir / sub).exists(), sub
    assert oct((lab_dir / "keys").stat().st_mode & 0o777) == "0o700"
    with Lab.open(lab_dir) as again:
        assert again.config.id == lab.config.id
    assert not [p for p in lab_dir.parent.iterdir() if p.name.startswith(".lab.init")]


def test_init_refuses_existing_lab_and_nonempty_dir(lab_dir: Path) -> None:
    Lab.init(lab_dir).close()
    with pytest.raises(LabError, match="already a lab"):
        Lab.init(lab_dir)
    other = lab_dir.parent / "other"
    other.mkdir()
    (other / "file.txt").write_text("x")
    with pytest.raises(LabError, match="not empty"):
        Lab.init(other)


def test_open_non_lab_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="not an OmniMind lab") as exc:
        Lab.open(tmp_path)
    assert "omnimind init" in exc.value.hint


def test_failed_init_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "lab"
    with pytest.raises(LabError, match="cannot reach database"):
        Lab.init(target, database_url="postgresql://nobody@127.0.0.1:1/none")
    assert list(tmp_path.iterdir()) == []


def test_run_records_every_cycle(lab_dir: Path) -> None:
    with Lab.init(lab_dir) as lab:
        run = lab.run(SMALL)
        assert run.status == "completed"
        assert run.cycles_done == 3000
        states = run.states
        assert states.shape == (3000, 128)
        assert run.array("attention").shape == (3000, 8)
        np.testing.assert_allclose(run.array("attention").sum(axis=1), 1.0)
        # The recorded states are exactly the engine's trajectory.
        loop = IntegrationLoop(SMALL.engine, SMALL.seed)
        expected = np.array([(loop.step(), loop.workspace.current.copy())[1] for _ in range(3000)])
        assert np.array_equal(states, expected)
        assert run.final_digest == loop.state_digest()
        assert [e.kind for e in run.events] == ["started", "snapshot", "completed"]  # final snapshot
        assert lab.get_run(run.id[:5]).id == run.id


def test_recording_every_k(lab_dir: Path) -> None:
    spec = ExperimentSpec.model_validate({"cycles": 1000, "recording": {"every": 10, "arrays": ["states"]}})
    with Lab.init(lab_dir) as lab:
        run = lab.run(spec)
        assert run.states.shape == (100, 128)
        assert run.array_names() == ["states"]
        assert run.cycles()[:3].tolist() == [10, 20, 30]


def test_interrupted_run_keeps_recorded_data(lab_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (KeyboardInterrupt) mid-run: status interrupted, every cycle up to the stop recorded."""
    from omnimind.lab import runner

    stop_at = 1234
    original = runner.drive

    def drive_with_interrupt(lab, run_id, loop, *args, **kwargs):  # type: ignore[no-untyped-def]
        def hook(cycle: int) -> None:
            if cycle == stop_at + 1:
                raise KeyboardInterrupt
        loop.before_cycle.append(hook)
        return original(lab, run_id, loop, *args, **kwargs)

    monkeypatch.setattr(runner, "drive", drive_with_interrupt)
    with Lab.init(lab_dir) as lab:
        with pytest.raises(KeyboardInterrupt):
            lab.run(SMALL)
        run = lab.runs()[0]
        assert run.status == "interrupted"
        assert run.cycles_done == stop_at
        assert run.states.shape == (stop_at, 128)
        assert [e.kind for e in run.events][-2:] == ["snapshot", "interrupted"]


def test_bad_stimulus_file_writes_nothing(lab_dir: Path, tmp_path: Path) -> None:
    spec = parse_spec("stimuli: {source: array, path: missing.npy}\n")
    with Lab.init(lab_dir) as lab:
        with pytest.raises(SpecError, match="does not exist"):
            lab.run(spec, spec_dir=tmp_path)
        with lab.db.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar() == 0


def test_stimuli_text_and_array_drive_sensory_units(lab_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "s.txt").write_text("a red square\n\nthe sound of rain\nquiet\n")
    np.save(tmp_path / "s.npy", np.eye(3))
    (tmp_path / "s.csv").write_text("1,0,0\n0,1,0\n0,0,1\n")
    with Lab.init(lab_dir) as lab:
        base = lab.run(ExperimentSpec.model_validate({"cycles": 200}))
        text = lab.run(parse_spec("cycles: 200\nstimuli: {source: text, path: s.txt, hold: 5}\n"), spec_dir=tmp_path)
        npy = lab.run(parse_spec("cycles: 200\nstimuli: {source: array, path: s.npy}\n"), spec_dir=tmp_path)
        csv = lab.run(parse_spec("cycles: 200\nstimuli: {source: array, path: s.csv}\n"), spec_dir=tmp_path)
        assert text.final_digest != base.final_digest
        assert npy.final_digest == csv.final_digest != base.final_digest


def test_export_formats_round_trip(lab_dir: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    with Lab.init(lab_dir) as lab:
        run = lab.run(ExperimentSpec.model_validate({"cycles": 300}))
        npz = np.load(run.export("npz", tmp_path / "r.npz"))
        assert np.array_equal(npz["states"], run.states)
        assert npz["cycle"][-1] == 300
        rows = run.export("csv", tmp_path / "r.csv").read_text().splitlines()
        header = rows[0].split(",")
        assert header[0] == "cycle" and header[1] == "attention.echo-a"
        first = [float(x) for x in rows[1].split(",")]
        col = header.index("states.echo-a[0]")
        assert first[col] == run.states[0, 0]  # repr() round-trips float64 exactly
        table = pq.read_table(run.export("parquet", tmp_path / "r.parquet"))
        assert table.num_rows == 300
        assert np.array_equal(table.column("states.predictor[15]").to_numpy(), run.states[:, 127])
        with pytest.raises(LabError, match="unknown export format"):
            run.export("xlsx", tmp_path / "r.xlsx")


def test_unknown_run(lab_dir: Path) -> None:
    with Lab.init(lab_dir) as lab, pytest.raises(NotFoundError, match="no run"):
        lab.get_run("nope")


def test_sqlite_and_postgres_give_identical_runs(lab_dir: Path, tmp_path: Path, pg_url: str) -> None:
    spec = ExperimentSpec.model_validate({"cycles": 2000, "seed": 11})
    with Lab.init(lab_dir) as a, Lab.init(tmp_path / "pg", database_url=pg_url) as b:
        assert b.db.dialect.name == "postgresql"
        ra, rb = a.run(spec), b.run(spec)
        assert ra.final_digest == rb.final_digest
        assert np.array_equal(ra.states, rb.states)
        other = b.run(ExperimentSpec.model_validate({"cycles": 2000, "seed": 12}))
        assert other.final_digest != ra.final_digest


def test_database_url_env_override_and_ownership(lab_dir: Path, tmp_path: Path, pg_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    Lab.init(lab_dir, database_url=pg_url).close()
    cfg = (lab_dir / "lab.toml").read_text()
    assert "search_path" in cfg
    # A second lab cannot claim the same database.
    with pytest.raises(LabError, match="another lab"):
        Lab.init(tmp_path / "second", database_url=pg_url)
    assert not (tmp_path / "second").exists()
    monkeypatch.setenv("OMNIMIND_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(LabError, match="cannot reach database"):
        Lab.open(lab_dir)
    monkeypatch.delenv("OMNIMIND_DATABASE_URL")
    with Lab.open(lab_dir) as lab:
        assert json.loads(json.dumps(lab.config.model_dump()))["database_url"] == pg_url
    assert os.environ.get("OMNIMIND_DATABASE_URL") is None
