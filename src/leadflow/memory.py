"""Pausing Python's cyclic garbage collector around bulk work.

A bulk rescore holds millions of tuples at once (rows read, rows to write). Each full
collection walks every one of them, and their creation triggers collections: at a million
contacts that was seconds of a rescore for nothing, since none of these objects form cycles
(reference counting frees them). The collector runs again on leaving, as before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection inside; the previous state restored after (nested uses too)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
