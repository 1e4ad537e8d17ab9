"""`lab.toml`: the lab's identity and settings (pydantic model, read with tomllib, written atomically)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from omnimind.errors import LabError
from omnimind.fsutil import atomic_write_bytes

LAB_FORMAT = 1
CONFIG_NAME = "lab.toml"


class LabConfig(BaseModel):
    """Settings of one lab. `database_url` empty means the embedded SQLite database in the lab directory."""

    model_config = ConfigDict(extra="forbid")

    format: int = LAB_FORMAT
    id: str
    name: str
    created: str
    database_url: str = ""
    production: bool = Field(False, description="a production lab refuses debug-only options")
    tenant: str = Field("default", description="the lab's home tenant (owner of lab-wide resources)")
    approved_protocols: list[str] = Field(default_factory=list,
                                          description="ethics protocol ids experiments with people may run under")
    users: dict[str, list[str]] = Field(default_factory=dict,
                                        description="user name -> roles (admin, researcher, reviewer, auditor)")

    def to_toml(self) -> str:
        """TOML text: scalar and list keys first, then the `[users]` table."""
        lines = ["# OmniMind lab configuration. See docs/lab.md.", ""]
        data = self.model_dump()
        users = data.pop("users")
        for key, value in data.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines += ["", "[users]"] + [f"{json.dumps(name)} = {_toml_value(roles)}" for name, roles in users.items()]
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def read_config(lab_dir: Path) -> LabConfig:
    """Parse `lab.toml`; a missing or broken file is a LabError that says what to do."""
    path = lab_dir / CONFIG_NAME
    if not path.is_file():
        raise LabError(f"{lab_dir} is not an OmniMind lab (no {CONFIG_NAME})",
                       f"create one with `omnimind init {lab_dir}` or point --lab at an existing lab")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        cfg = LabConfig.model_validate(data)
    except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError) as exc:
        raise LabError(f"{path} is damaged: {str(exc).splitlines()[0]}", "restore lab.toml from a backup") from exc
    if cfg.format > LAB_FORMAT:
        raise LabError(f"lab format {cfg.format} is newer than this OmniMind understands ({LAB_FORMAT})",
                       "upgrade omnimind")
    return cfg


def write_config(lab_dir: Path, cfg: LabConfig) -> None:
    """Write `lab.toml` atomically."""
    atomic_write_bytes(lab_dir / CONFIG_NAME, cfg.to_toml().encode())


def effective_database_url(cfg: LabConfig, lab_dir: Path) -> str:
    """OMNIMIND_DATABASE_URL, else the lab's `database_url`, else the embedded SQLite file."""
    from omnimind.storage import sqlite_url

    return os.environ.get("OMNIMIND_DATABASE_URL") or cfg.database_url or sqlite_url(lab_dir / "omnimind.db")
