"""The benchmarks stay importable: they use the library's internals, which move."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__main__"))
def test_every_benchmark_module_imports(name: str):
    importlib.import_module(f"bench.{name}")
