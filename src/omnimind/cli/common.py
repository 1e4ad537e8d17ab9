"""What every command shares: the console, the lab option, JSON output, error printing."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from omnimind.lab.lab import Lab, find_lab

# Not a terminal (pipes, CI, README captures): wide enough that digests and tables are never cut.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


class State:
    """Global options, set by the root callback."""

    lab: Path | None = None


@contextmanager
def open_lab() -> Iterator[Lab]:
    """Open the lab named by --lab / OMNIMIND_LAB / the current directory, closing it afterwards."""
    lab = Lab.open(find_lab(State.lab))
    try:
        yield lab
    finally:
        lab.close()


def print_json(data: Any) -> None:
    """Machine-readable output (stdout, one JSON document)."""
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
