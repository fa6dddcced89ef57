"""``leadflow demo``: build a demo workspace with realistic synthetic data."""

from __future__ import annotations

import typer

app = typer.Typer(help="Demo workspace.", invoke_without_command=True)
