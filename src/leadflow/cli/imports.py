"""``leadflow import``: contacts and events from files."""

from __future__ import annotations

import typer

app = typer.Typer(help="Import contacts and events from files.", no_args_is_help=True)
