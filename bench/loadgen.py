"""A small HTTP/1.1 load generator, run as its own process by ``bench/http.py``.

``wrk`` measures the top rate of single-event POSTs; this measures what it cannot: latency
at a fixed offered rate (open loop: each request's latency counts from when it was due, so
a slow server is not excused by a client that waits for it), and batches of events whose
bodies must be unique. Hand-written over asyncio streams rather than httpx because a client
that costs more per request than the server would measure itself.

    python -m bench.loadgen rate URL BODIES.jsonl --rate 500 --seconds 10
    python -m bench.loadgen closed URL BODIES.jsonl --connections 2

Each line of BODIES is one request body; a header ``X-API-Key`` comes from
``LOADGEN_API_KEY``. Prints one JSON object: counts by status, seconds, latencies (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit


class Connection:
    """One keep-alive connection sending POSTs and reading their responses."""

    def __init__(self, host: str, port: int, path: str, key: str) -> None:
        self.host, self.port, self.path, self.key = host, port, path, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, body: bytes) -> int:
        assert self.reader is not None
        assert self.writer is not None
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nX-API-Key: {self.key}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _connections(url: str, count: int, key: str) -> list[Connection]:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    made = [Connection(host, port, parts.path, key) for _ in range(count)]
    await asyncio.gather(*(c.open() for c in made))
    return made


async def fixed_rate(
    url: str, bodies: list[bytes], rate: float, seconds: float, key: str
) -> dict[str, Any]:
    """Offer ``rate`` requests a second for ``seconds``; latency from each one's due time."""
    total = min(len(bodies), int(rate * seconds))
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for c in await _connections(url, 64, key):
        idle.put_nowait(c)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    start = time.perf_counter()

    async def one(index: int) -> None:
        due = start + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        conn = await idle.get()
        try:
            statuses[await conn.post(bodies[index])] += 1
        finally:
            idle.put_nowait(conn)
        latencies.append(time.perf_counter() - due)

    await asyncio.gather(*(one(i) for i in range(total)))
    return _report(statuses, latencies, time.perf_counter() - start)


async def closed_loop(url: str, bodies: list[bytes], connections: int, key: str) -> dict[str, Any]:
    """Send every body as fast as ``connections`` keep-alive connections allow."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []

    async def worker(conn: Connection) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            sent = time.perf_counter()
            statuses[await conn.post(body)] += 1
            latencies.append(time.perf_counter() - sent)
        conn.close()

    conns = await _connections(url, connections, key)
    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    return _report(statuses, latencies, time.perf_counter() - start)


def _report(statuses: Counter[int], latencies: list[float], seconds: float) -> dict[str, Any]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    return {
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "requests": len(latencies),
        "seconds": round(seconds, 3),
        "p50_ms": pct(0.50) if ordered else None,
        "p99_ms": pct(0.99) if ordered else None,
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("mode", choices=("rate", "closed"))
    parser.add_argument("url")
    parser.add_argument("bodies")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=2)
    args = parser.parse_args(argv)
    with open(args.bodies, "rb") as f:
        bodies = [line.rstrip(b"\n") for line in f if line.strip()]
    key = os.environ.get("LOADGEN_API_KEY", "")
    if args.mode == "rate":
        result = asyncio.run(fixed_rate(args.url, bodies, args.rate, args.seconds, key))
    else:
        result = asyncio.run(closed_loop(args.url, bodies, args.connections, key))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
