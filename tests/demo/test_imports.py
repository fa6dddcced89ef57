"""Faker is for the demo only: neither the library nor the CLI's start-up imports it."""

from __future__ import annotations

import subprocess
import sys


def test_importing_leadflow_and_its_cli_leaves_faker_out():
    code = "import sys, leadflow, leadflow.cli.app; print('faker' in sys.modules)"

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"
