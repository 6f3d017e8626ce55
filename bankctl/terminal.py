"""What every bankctl command group shares: where the project is, the two consoles, and how bad input ends
a command (a message naming the problem, then exit 2 — the code CI reads as "bad input")."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from model.errors import ConfigurationError

PROJECT_DIR = Path(__file__).resolve().parent.parent

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    err.print(message, markup=False, highlight=False)
    raise typer.Exit(code)


def platform_or_exit(stack: str):
    """The stack's validated deployment, or exit 2 with every problem listed."""
    from model.platform import load_stack_platform

    try:
        return load_stack_platform(PROJECT_DIR, stack)
    except ConfigurationError as exc:
        fail(str(exc))
