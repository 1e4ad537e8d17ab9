"""The consciousness engine: modules, SharedWorkspace, IntegrationLoop. Pure computation, no I/O."""

from omnimind.engine.embed import embed_lines, embed_text
from omnimind.engine.loop import CycleResult, EngineState, IntegrationLoop
from omnimind.engine.modules import KIND_DEFAULTS, BuiltinModule, Inputs, Module
from omnimind.engine.rng import Streams
from omnimind.engine.spec import MODULE_KINDS, EngineSpec, ModuleParams, ModuleSpec, WorkspaceSpec
from omnimind.engine.workspace import SharedWorkspace

__all__ = [
    "KIND_DEFAULTS",
    "MODULE_KINDS",
    "BuiltinModule",
    "CycleResult",
    "EngineSpec",
    "EngineState",
    "Inputs",
    "IntegrationLoop",
    "Module",
    "ModuleParams",
    "ModuleSpec",
    "SharedWorkspace",
    "Streams",
    "WorkspaceSpec",
    "embed_lines",
    "embed_text",
]
