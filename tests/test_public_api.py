"""The library's public surface: what ``import leadflow`` gives, and what it must not pull in."""

from __future__ import annotations

import subprocess
import sys

import leadflow


def test_all_names_exist():
    missing = [name for name in leadflow.__all__ if not hasattr(leadflow, name)]

    assert missing == []


def test_public_names_are_exported_in_all():
    public = {n for n in dir(leadflow) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(leadflow, n)).__name__ == "module"}

    assert public - modules - set(leadflow.__all__) == set()


def test_importing_the_library_loads_no_adapter_or_demo_code():
    code = (
        "import sys, leadflow; "
        "bad = [m for m in sys.modules if m.startswith(('leadflow.cli', 'leadflow.demo', "
        "'fastapi', 'uvicorn', 'faker', 'typer'))]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


def test_every_exported_name_has_a_home_to_load_it_from():
    assert set(leadflow._HOME) == set(leadflow.__all__) - {"__version__"}


def test_importing_the_library_loads_its_parts_only_when_used():
    code = "import sys, leadflow; print('leadflow.activity.service' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "False"
