"""The fake channel for tests: keeps what it sent, and fails on demand."""

from __future__ import annotations

from leadflow.channels.base import Channel, Delivery, Notice


class MemoryChannel(Channel):
    """Delivered notices go to ``sent``; after ``fail_next(n)`` the next ``n`` sends fail
    (those notices go to ``failed`` instead)."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.sent: list[Notice] = []
        self.failed: list[Notice] = []
        self._failures_left = 0
        self._failure_detail = ""

    def fail_next(self, count: int = 1, *, detail: str = "simulated failure") -> None:
        if count < 0:
            raise ValueError("count must be zero or more")
        self._failures_left = count
        self._failure_detail = detail

    def send(self, notice: Notice) -> Delivery:
        if self._failures_left > 0:
            self._failures_left -= 1
            self.failed.append(notice)
            return Delivery(ok=False, channel=self.name, detail=self._failure_detail)
        self.sent.append(notice)
        return Delivery(ok=True, channel=self.name, detail="stored in memory")
