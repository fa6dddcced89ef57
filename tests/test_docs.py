"""Documentation stays true: every setting and every CLI command is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from typer.main import get_command

from leadflow.cli.app import app
from leadflow.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_documented():
    text = (DOCS / "configuration.md").read_text()
    missing = [
        f"LEADFLOW_{name.upper()}"
        for name in Settings.model_fields
        if f"`LEADFLOW_{name.upper()}`" not in text
    ]

    assert missing == []


def _commands(command: Any, prefix: str = "leadflow") -> list[str]:
    found = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, f"{prefix} {name}")
    return found


def test_every_cli_command_is_documented():
    text = (DOCS / "cli.md").read_text()
    headings = set(re.findall(r"^#+ `(leadflow[^`]*)`", text, flags=re.MULTILINE))
    commands = _commands(get_command(app))

    assert [c for c in commands if c not in headings] == []
