"""A real webhook receiver on a loopback port: it checks each request's signature as a
receiver should (against a clock the test holds) and keeps what it was sent.

It can be down: its socket is bound (so the port is ours) but not listening, and a
connection is refused, as when the receiving service is stopped."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from leadflow.clock import Clock
from leadflow.webhooks.engine import SIGNATURE_HEADER, SignatureError, verify


@dataclass
class Received:
    delivery_id: int
    event_id: int
    topic: str
    body: dict[str, Any]
    verified: bool


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    secret: str
    clock: Clock
    # What to answer each request with, in turn; the last one repeats.
    answers: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0  # seconds before answering (a slow receiver)
    received: list[Received] = field(default_factory=list)
    requests: int = 0
    started: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def up(self) -> None:
        """Start listening and answering (until the test ends)."""
        self.server.server_activate()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.started = True

    def answer(self, body: bytes, header: str | None, headers: Any) -> int:
        try:
            verify(self.secret, body, header, now=self.clock.now().timestamp())
            verified = True
        except SignatureError:
            verified = False
        with self.lock:
            status = self.answers[min(self.requests, len(self.answers) - 1)]
            self.requests += 1
            if verified and 200 <= status < 300:
                self.received.append(
                    Received(
                        int(headers["Leadflow-Delivery"]),
                        int(headers["Leadflow-Event"]),
                        headers["Leadflow-Topic"],
                        json.loads(body),
                        verified,
                    )
                )
        return status if verified else 400


def _handler(receiver: Callable[[], Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            me = receiver()
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if me.delay:
                time.sleep(me.delay)
            status = me.answer(body, self.headers.get(SIGNATURE_HEADER), self.headers)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    return Handler


@contextmanager
def receiver_down(secret: str, clock: Clock) -> Iterator[Receiver]:
    """A receiver whose port is taken but refuses connections until ``up()``."""
    holder: list[Receiver] = []
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), _handler(lambda: holder[0]), bind_and_activate=False
    )
    server.daemon_threads = True
    server.server_bind()
    holder.append(Receiver(server, secret, clock))
    try:
        yield holder[0]
    finally:
        if holder[0].started:
            server.shutdown()
        server.server_close()


@contextmanager
def receiver_up(secret: str, clock: Clock) -> Iterator[Receiver]:
    with receiver_down(secret, clock) as receiver:
        receiver.up()
        yield receiver
