"""The experiment spec: one pydantic model, read from and written to YAML, with errors that point at lines."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from omnimind.canonical import canonical_json, json_digest
from omnimind.engine import EngineSpec, ModuleSpec, WorkspaceSpec, embed_lines
from omnimind.errors import SpecError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StimuliSpec(_Section):
    """External stimuli for sensory units: none, an array file (.npy/.csv, rows × dims), or text lines."""

    source: Literal["none", "array", "text"] = "none"
    path: str | None = Field(None, description="file path, relative to the spec file")
    hold: int = Field(1, ge=1, description="cycles each stimulus row is presented")
    embedding_dim: int = Field(16, ge=1, le=4096, description="text only: dimension of the hashing embedder")
    subject: str | None = Field(None, min_length=1, max_length=128,
                                description="pseudonym of the person the stimuli come from (never a real identity)")
    purpose: str = Field("research", min_length=1, max_length=64,
                         description="processing purpose; a run with a subject needs consent for it")

    @model_validator(mode="after")
    def _path_needed(self) -> StimuliSpec:
        if self.source != "none" and not self.path:
            raise ValueError(f"stimuli.source is {self.source!r} but no stimuli.path is given")
        return self


RecordedArray = Literal["states", "attention", "ignition", "winner", "surprise"]
ALL_ARRAYS: tuple[RecordedArray, ...] = ("states", "attention", "ignition", "winner", "surprise")


class RecordingSpec(_Section):
    """What the run stores in the lab, and how often."""

    arrays: list[RecordedArray] = Field(default_factory=lambda: list(ALL_ARRAYS))
    every: int = Field(1, ge=1, description="record every k-th cycle")
    chunk_rows: int | None = Field(None, ge=16, le=1_000_000,
                                   description="rows per stored chunk (default: about 8 MiB of states)")


class MetricsSpec(_Section):
    """Windowed integration measures computed during the run (see docs/metrics.md)."""

    enabled: bool = True
    measures: list[str] = Field(default_factory=lambda: ["phi", "lz_complexity", "metastability"],
                                description="names in the metric registry")
    window: int = Field(2000, ge=16, description="cycles per analysis window")
    every: int = Field(10_000, ge=1, description="compute every k cycles (on the last `window` cycles)")
    pca_k: int | None = Field(4, ge=1, description="reduce each module to k principal components (null: no)")
    surrogates: int = Field(19, ge=0, le=10_000, description="surrogate series per window (0: none)")
    surrogate_kind: Literal["circular", "shuffle"] = "circular"
    sensitive: bool = Field(False, description="metric values are personal data (encrypted in the ledger)")


class RetentionSpec(_Section):
    """Which of a run's snapshots to keep as it goes (restic `forget` semantics; 0 = off, -1 = all)."""

    last: int = Field(0, ge=-1)
    hourly: int = Field(0, ge=-1)
    daily: int = Field(0, ge=-1)
    weekly: int = Field(0, ge=-1)
    monthly: int = Field(0, ge=-1)
    yearly: int = Field(0, ge=-1)
    within: str | None = Field(None, description="keep everything within this duration, e.g. 2d3h")
    tags: list[list[str]] = Field(default_factory=list)

    def enabled(self) -> bool:
        """Whether any rule is set (an empty policy keeps everything, it is never applied)."""
        return bool(self.last or self.hourly or self.daily or self.weekly or self.monthly or self.yearly
                    or self.within or self.tags)


class SnapshotSpec(_Section):
    """When the run snapshots its whole state into the lab's snapshot store."""

    every_cycles: int | None = Field(5000, ge=1, description="every K cycles (null: off)")
    every_seconds: float | None = Field(None, gt=0, description="and/or every T seconds (null: off)")
    on_interrupt: bool = True
    at_end: bool = True
    tags: list[str] = Field(default_factory=list, description="tags put on every snapshot of the run")
    keep: RetentionSpec = Field(default_factory=lambda: RetentionSpec(last=10, tags=[["final"], ["interrupted"]]))


def _default_modules() -> list[ModuleSpec]:
    kinds = ["echo_state", "echo_state", "echo_state", "integrator", "integrator", "sensory", "sensory",
             "predictor"]
    names = ["echo-a", "echo-b", "echo-c", "memory-a", "memory-b", "sensory-a", "sensory-b", "predictor"]
    return [ModuleSpec.model_validate({"name": n, "kind": k, "dim": 16}) for n, k in zip(names, kinds, strict=True)]


class ExperimentSpec(_Section):
    """A whole experiment: what to build, how long to run it, which seed, what to feed and record."""

    name: str = Field("default", min_length=1, max_length=200)
    seed: int = Field(42, ge=0, lt=2**63)
    cycles: int = Field(10_000, ge=1, le=10**12)
    workspace: WorkspaceSpec = WorkspaceSpec()
    modules: list[ModuleSpec] = Field(default_factory=_default_modules, min_length=1)
    stimuli: StimuliSpec = StimuliSpec()
    recording: RecordingSpec = RecordingSpec()
    snapshots: SnapshotSpec = SnapshotSpec()
    metrics: MetricsSpec = MetricsSpec()
    human_participants: bool = Field(False, description="stimuli or inputs come from people")
    protocol_id: str | None = Field(None, description="ethics protocol the experiment runs under (needed, and "
                                                      "listed in lab.toml approved_protocols, with human_participants)")

    @model_validator(mode="after")
    def _engine_valid(self) -> ExperimentSpec:
        EngineSpec(workspace=self.workspace, modules=self.modules)
        return self

    @model_validator(mode="after")
    def _window_fits_history(self) -> ExperimentSpec:
        if self.metrics.enabled and self.metrics.window > self.workspace.history:
            raise ValueError(f"metrics.window ({self.metrics.window}) is longer than workspace.history "
                             f"({self.workspace.history}); raise workspace.history or shorten the window")
        return self

    @property
    def engine(self) -> EngineSpec:
        """The engine's part of the spec."""
        return EngineSpec(workspace=self.workspace, modules=self.modules)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (what is stored, hashed and shown)."""
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """Hex SHA-256 of the canonical JSON form: identifies the spec in the run table and the ledger."""
        return json_digest(self.to_json())

    def to_yaml(self) -> str:
        """YAML text that `load_spec` reads back to an equal spec."""
        return yaml.safe_dump(self.to_json(), sort_keys=False, allow_unicode=True)

    def canonical(self) -> bytes:
        """Canonical JSON bytes."""
        return canonical_json(self.to_json())


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML node at pydantic location `loc` (the closest existing ancestor)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if getattr(k, "value", None) == key]
            if not match:
                break
            line = match[0][0].start_mark.line + 1
            node = match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _describe(exc: ValidationError, text: str | None, source: str) -> SpecError:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "literal_error" and loc and loc[-1] == "kind":
        hint = "module kind must be one of: echo_state, integrator, sensory, predictor"
    elif err["type"] == "extra_forbidden":
        hint = f"remove or rename {loc[-1]!r}; `omnimind spec show` prints every valid field"
    else:
        hint = "`omnimind spec show` prints a complete valid spec to start from"
    line = _line_of(text, loc) if text is not None else None
    at = f"{source}, line {line}" if line else source
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    return SpecError(f"{at}: {where}: {msg}{more}", hint)


def parse_spec(text: str, source: str = "<spec>") -> ExperimentSpec:
    """Parse YAML text into a validated spec; every problem becomes a SpecError naming the line."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{source}{line}: malformed YAML: {exc.problem}", "fix the YAML syntax there") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: malformed YAML: {exc}", "fix the YAML syntax") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a spec must be a YAML mapping, got {type(data).__name__}",
                        "start from `omnimind spec show`")
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise _describe(exc, text, source) from exc


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read a spec file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecError(f"spec file {p} does not exist", "check the path, or run without a spec for the default")\
            from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec file {p}: {exc}", "check the file's permissions and encoding") from exc
    return parse_spec(text, str(p))


def spec_from_json(data: dict[str, Any]) -> ExperimentSpec:
    """Rebuild a spec stored as JSON (runs table, snapshots)."""
    return ExperimentSpec.model_validate(data)


def load_stimuli(spec: StimuliSpec, base: Path | None = None) -> NDArray[np.float64] | None:
    """The stimulus array (rows × dims) the spec asks for, or None; file problems become SpecErrors."""
    if spec.source == "none":
        return None
    assert spec.path is not None
    path = Path(spec.path)
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise SpecError(f"stimulus file {path} does not exist", "check stimuli.path (relative to the spec file)")
    if spec.source == "text":
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not lines:
            raise SpecError(f"stimulus file {path} has no non-empty lines", "put one stimulus text per line")
        return embed_lines(lines, spec.embedding_dim)
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif path.suffix == ".csv":
            rows = [r for r in csv.reader(io.StringIO(path.read_text(encoding="utf-8"))) if r]
            arr = np.array([[float(x) for x in r] for r in rows])
        else:
            raise SpecError(f"stimulus file {path} has an unknown type {path.suffix!r}",
                            "use a .npy or .csv array file, or source: text for a text file")
    except (ValueError, OSError) as exc:
        raise SpecError(f"cannot read stimulus array {path}: {exc}",
                        "a .npy of floats or a .csv of numbers, one stimulus per row") from exc
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise SpecError(f"stimulus array {path} has shape {arr.shape}", "it must be 2-D: rows × dims, ≥ 1 row")
    if not np.isfinite(arr).all():
        raise SpecError(f"stimulus array {path} contains NaN or infinite values", "clean the data first")
    return arr
