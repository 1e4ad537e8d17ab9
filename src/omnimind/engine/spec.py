"""The engine's part of an experiment spec: modules and workspace (pydantic, validated, JSON/YAML-able)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

ModuleKind = Literal["echo_state", "integrator", "sensory", "predictor"]
MODULE_KINDS: tuple[str, ...] = ("echo_state", "integrator", "sensory", "predictor")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModuleParams(_Strict):
    """Dynamics parameters; unset fields take the kind's default (see docs/engine.md)."""

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # None means "the kind's default" here, so leaving it out is the same spec, shown shorter.
        return {k: v for k, v in handler(self).items() if v is not None}

    leak: float | None = Field(None, gt=0, le=1, description="fraction of the state replaced per cycle")
    spectral_radius: float | None = Field(None, ge=0, lt=1.5, description="of the recurrent matrix")
    input_scale: float | None = Field(None, ge=0, description="gain on the broadcast input")
    stimulus_scale: float | None = Field(None, ge=0, description="gain on the external stimulus")
    noise: float | None = Field(None, ge=0, description="std of the Gaussian noise inside the update")
    gain: float = Field(1.0, ge=0, description="salience gain in the workspace competition")
    learning_rate: float | None = Field(None, ge=0, le=1, description="predictor's NLMS step size")
    surprise_gain: float | None = Field(None, ge=0, description="predictor: salience added per unit surprise")


class ModuleSpec(_Strict):
    """One module: a unique name, a built-in kind, a state dimension."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
    kind: ModuleKind
    dim: int = Field(16, ge=1, le=4096)
    params: ModuleParams = ModuleParams()


class WorkspaceSpec(_Strict):
    """Global-workspace competition and history."""

    dim: int = Field(16, ge=1, le=4096, description="dimension of the broadcast content")
    temperature: float = Field(0.03, gt=0, description="softmax temperature of the competition")
    broadcast: Literal["weighted", "winner"] = "weighted"
    ignition_threshold: float = Field(0.5, gt=0, le=1, description="max attention weight that counts as ignition")
    adaptation: float = Field(0.2, ge=0, description="salience lost per unit of fatigue (0 disables)")
    adaptation_time: float = Field(20.0, ge=1, description="cycles over which fatigue averages attention")
    history: int = Field(4096, ge=2, le=10_000_000, description="rows in the history ring buffer")


class EngineSpec(_Strict):
    """Everything the engine needs to build a loop (the seed comes separately)."""

    workspace: WorkspaceSpec = WorkspaceSpec()
    modules: list[ModuleSpec] = Field(min_length=1)

    @field_validator("modules")
    @classmethod
    def _unique_names(cls, mods: list[ModuleSpec]) -> list[ModuleSpec]:
        seen: set[str] = set()
        for m in mods:
            if m.name in seen:
                raise ValueError(f"module name {m.name!r} is used twice; names must be unique")
            seen.add(m.name)
        return mods

    @model_validator(mode="after")
    def _predictor_only_params(self) -> EngineSpec:
        for m in self.modules:
            if m.kind != "predictor" and (
                m.params.learning_rate is not None or m.params.surprise_gain is not None
            ):
                raise ValueError(f"module {m.name!r}: learning_rate/surprise_gain apply to predictors only")
        return self

    @property
    def state_dim(self) -> int:
        """Total dimension of all module states, concatenated in module order."""
        return sum(m.dim for m in self.modules)
