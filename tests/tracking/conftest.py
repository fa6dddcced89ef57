"""The tracking tests use the capture tests' workspace forms and client."""

from __future__ import annotations

from tests.capture.conftest import public

__all__ = ["public"]
