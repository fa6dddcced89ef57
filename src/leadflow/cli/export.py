"""``leadflow export``: contacts to files."""

from __future__ import annotations

import typer

app = typer.Typer(help="Export contacts.", no_args_is_help=True)
