"""What every benchmark shares: the result shape, timing, isolated runs, scratch folders."""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import resource
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCRATCH = Path(__file__).with_name(".work")
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass
class Result:
    """One benchmark's outcome. ``ratio`` is ours over the floor's, oriented so that
    higher is better for rates and the floor's time over ours for durations."""

    name: str
    value: float
    unit: str
    floor: float
    ratio: float
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def describe(self) -> str:
        lines = [
            f"{self.name}: {self.value:,.2f} {self.unit} "
            f"(floor {self.floor:,.2f} {self.unit}, ratio {self.ratio:.3f})"
        ]
        lines += [f"  {k}: {v}" for k, v in self.params.items()]
        return "\n".join(lines)


def machine() -> str:
    cpus = os.cpu_count()
    return f"{platform.node()} {platform.machine()}, {cpus} cpu, python {platform.python_version()}"


@contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A fresh folder under bench/.work, removed afterwards."""
    path = SCRATCH / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - start


def peak_rss() -> int:
    """This process's peak resident memory in bytes.

    Linux's ``VmHWM`` belongs to the process's own memory since its ``exec``; ``ru_maxrss``
    also keeps the high-water mark of the process it was forked from, so a child spawned by
    a large parent would report at least the parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _child(fn: Callable[..., Any], args: tuple[Any, ...], queue: Any) -> None:
    try:
        value = fn(*args)
        queue.put(("ok", value, peak_rss()))
    except BaseException as exc:  # report any failure to the parent
        queue.put(("error", repr(exc), 0))


def run_isolated(fn: Callable[..., Any], *args: Any) -> tuple[Any, int]:
    """Run ``fn(*args)`` in a fresh process; return its result and peak RSS in bytes.

    A fresh process is the only honest way to report the peak memory of one piece of work.
    """
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(fn, args, queue))
    process.start()
    status, value, peak = queue.get()
    process.join()
    if status != "ok":
        raise RuntimeError(f"benchmark child failed: {value}")
    return value, peak
