"""Run reports: one self-contained HTML page and a JSON twin whose numbers are the metrics table's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from omnimind.engine import IntegrationLoop
from omnimind.errors import MetricError
from omnimind.lab.analysis import MetricsHook, analyze_run, metrics_for
from omnimind.lab.lab import Lab
from omnimind.lab.report import FORMAT, array_digest, build_report
from omnimind.spec import ExperimentSpec

SPEC = ExperimentSpec.model_validate({
    "seed": 1, "cycles": 3000, "snapshots": {"every_cycles": 10**9, "at_end": False, "on_interrupt": False},
    "metrics": {"window": 1000, "every": 1000, "surrogates": 3}})


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Any, Path, Path]]:
    root = tmp_path_factory.mktemp("report")
    lab = Lab.init(root / "lab")
    run = lab.run(SPEC)
    analyze_run(lab, run.id, measures=["phi", "psi", "lz_complexity", "metastability"])
    html_path, json_path = build_report(lab, run.id, root / "out")
    yield lab, run, html_path, json_path
    lab.close()


def test_html_is_self_contained_and_names_what_matters(reported: tuple[Lab, Any, Path, Path]) -> None:
    _, run, html_path, _ = reported
    page = html_path.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page, re.I)
    assert "<script" not in page and "<link" not in page
    srcs = re.findall(r"""src="([^"]*)\"""", page)
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    for needle in (run.id, run.spec.digest(), run.final_digest, f"seed {run.seed}", "phi", "psi",
                   "lz_complexity", "metastability", "1. Question and hypothesis", "2. Setup", "3. Results",
                   "4. Interpretation", "5. Provenance and integrity", "6. Deviations", "can be negative",
                   "is flawed", "d₁d₂/(2T)", "docs/metrics.md"):
        assert needle in page, needle
    assert sorted(p.name for p in html_path.parent.iterdir()) == ["report.html", "report.json", "spec.yaml"]


def test_json_round_trips_and_equals_the_metrics_table(reported: tuple[Lab, Any, Path, Path]) -> None:
    lab, run, _, json_path = reported
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["format"] == FORMAT
    assert json.loads(json.dumps(data)) == data
    assert data["run"]["id"] == run.id and data["run"]["spec_digest"] == run.spec.digest()
    assert data["analysis"]["source"] == "analyze" and not data["analysis"]["computed_for_report"]
    rows = metrics_for(lab, run.id, "analyze")
    assert list(data["measures"]) == ["phi", "psi", "lz_complexity", "metastability"]
    n = 0
    for r in rows:
        w = next(w for w in data["measures"][r["measure"]]["windows"] if w["cycle"] == r["cycle"])
        s = r["details"]["surrogate"]
        assert (w["value"], w["null_mean"], w["null_std"], w["ci"], w["corrected"], w["corrected_ci"],
                w["p_value"]) == (r["value"], s["null_mean"], s["null_std"], s["ci"], s["corrected"],
                                  s["corrected_ci"], s["p_value"])
        n += 1
    assert n == 12
    for name, d in data["data_digests"].items():
        assert d["sha256"] == array_digest(run.array(name))
    spec_file = json_path.parent / "spec.yaml"
    assert ExperimentSpec.model_validate(yaml.safe_load(spec_file.read_text())).digest() == run.spec.digest()
    ws = data["workspace"]
    assert 0.0 <= ws["ignition_rate"] <= 1.0 and abs(sum(ws["winner_share"].values()) - 1.0) < 1e-9


def test_report_without_metrics_computes_them_and_says_so(tmp_path: Path) -> None:
    spec = ExperimentSpec.model_validate({**SPEC.to_json(), "metrics": {**SPEC.to_json()["metrics"], "enabled": False}})
    with Lab.init(tmp_path / "lab") as lab:
        run = lab.run(spec)
        assert not metrics_for(lab, run.id)
        with pytest.raises(MetricError, match="no `run` metrics") as exc:
            build_report(lab, run.id, tmp_path / "out", source="run")
        assert "omnimind analyze" in exc.value.hint
        html_path, json_path = build_report(lab, run.id, tmp_path / "out")
        data = json.loads(json_path.read_text())
        assert data["analysis"]["computed_for_report"] is True and data["analysis"]["source"] == "analyze"
        assert "computed for this report" in html_path.read_text()
        assert len(metrics_for(lab, run.id, "analyze")) == 9


def test_report_of_in_run_metrics(tmp_path: Path) -> None:
    with Lab.init(tmp_path / "lab") as lab:
        run = lab.run(SPEC)
        if not metrics_for(lab, run.id, "run"):  # runner not wired to the hook yet: drive it ourselves
            loop = IntegrationLoop(SPEC.engine, SPEC.seed)
            hook = MetricsHook(lab.db, run.id, loop, SPEC.metrics, SPEC.seed)
            loop.after_cycle.append(hook)
            loop.run(SPEC.cycles)
            hook.flush()
        _, json_path = build_report(lab, run.id, tmp_path / "out")
        data = json.loads(json_path.read_text())
        assert data["analysis"]["source"] == "run" and not data["analysis"]["computed_for_report"]
        rows = metrics_for(lab, run.id, "run")
        assert [w["value"] for w in data["measures"]["phi"]["windows"]] == [r["value"] for r in rows
                                                                            if r["measure"] == "phi"]


def test_short_run_gets_one_window(tmp_path: Path) -> None:
    spec = ExperimentSpec.model_validate({**SPEC.to_json(), "cycles": 1500,
                                          "metrics": {"window": 1000, "every": 10000, "surrogates": 0}})
    with Lab.init(tmp_path / "lab") as lab:
        run = lab.run(spec)
        _, json_path = build_report(lab, run.id, tmp_path / "out")
        data = json.loads(json_path.read_text())
        assert [w["cycle"] for w in data["measures"]["phi"]["windows"]] == [1500]
        assert "shorter than one analysis period" in data["analysis"]["note"]
