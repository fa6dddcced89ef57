"""Notice channels: the webhook (mock transport and a real loopback server), log, memory, config."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from leadflow.channels import (
    Channel,
    LogChannel,
    MemoryChannel,
    Notice,
    WebhookChannel,
    channel_from_config,
    verify_signature,
)
from leadflow.clock import FrozenClock

SECRET = "s3cret-for-tests"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
URL = "https://hooks.example.com/leadflow"


def make_notice(**overrides: Any) -> Notice:
    fields: dict[str, Any] = {
        "kind": "handoff",
        "recipient_user_id": "ana",
        "recipient_email": "ana@example.com",
        "subject": "New lead: Bo Li (Acme)",
        "body": "Bo Li is yours. First touch due by 11:00.",
        "idempotency_key": "notice-42",
        "data": {"contact_id": 42, "task_id": 9, "deadline": "2026-11-02T11:00:00+00:00"},
    }
    return Notice(**(fields | overrides))


def make_webhook(
    handler: Callable[[httpx.Request], httpx.Response], **overrides: Any
) -> tuple[WebhookChannel, list[float]]:
    """A webhook on a mock transport; returns it with the list its backoff sleeps go to."""
    sleeps: list[float] = []
    options: dict[str, Any] = {
        "client": httpx.Client(transport=httpx.MockTransport(handler)),
        "clock": FrozenClock(NOW),
        "sleep": sleeps.append,
    }
    return WebhookChannel(URL, SECRET, **(options | overrides)), sleeps


def answering(
    *statuses: int,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    """A handler giving ``statuses`` in turn (the last one repeats), and the requests it saw."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(statuses[min(len(seen), len(statuses)) - 1], text="nope")

    return handler, seen


# --- webhook: the request ----------------------------------------------------------------


def test_webhook_posts_the_notice_as_json_with_idempotency_and_signature_headers():
    handler, seen = answering(200)
    channel, _ = make_webhook(handler)

    delivery = channel.send(make_notice())

    assert delivery.ok
    assert (delivery.channel, delivery.detail, delivery.attempts) == ("webhook", "HTTP 200", 1)
    request = seen[0]
    assert (request.method, str(request.url)) == ("POST", URL)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "notice-42"
    assert request.headers["X-Leadflow-Timestamp"] == str(int(NOW.timestamp()))
    assert request.headers["X-Leadflow-Signature"].startswith("v1=")
    assert json.loads(request.content) == {
        "kind": "handoff",
        "recipient": {"user_id": "ana", "email": "ana@example.com"},
        "subject": "New lead: Bo Li (Acme)",
        "body": "Bo Li is yours. First touch due by 11:00.",
        "data": {"contact_id": 42, "task_id": 9, "deadline": "2026-11-02T11:00:00+00:00"},
        "idempotency_key": "notice-42",
    }


@pytest.fixture
def signed() -> tuple[str, bytes, str]:
    """The timestamp, body and signature header of one real webhook request."""
    handler, seen = answering(200)
    make_webhook(handler)[0].send(make_notice())
    request = seen[0]
    headers = request.headers
    return headers["X-Leadflow-Timestamp"], request.content, headers["X-Leadflow-Signature"]


def test_signature_verifies_with_the_shared_secret(signed: tuple[str, bytes, str]):
    timestamp, body, header = signed

    assert verify_signature(SECRET, timestamp, body, header, now=NOW.timestamp() + 60)


def test_signature_fails_with_the_wrong_secret(signed: tuple[str, bytes, str]):
    timestamp, body, header = signed

    assert not verify_signature("other-secret", timestamp, body, header, now=NOW.timestamp())


def test_signature_fails_once_the_timestamp_is_too_old(signed: tuple[str, bytes, str]):
    timestamp, body, header = signed

    assert not verify_signature(SECRET, timestamp, body, header, now=NOW.timestamp() + 301)


def test_signature_fails_for_a_tampered_body(signed: tuple[str, bytes, str]):
    timestamp, body, header = signed
    tampered = body.replace(b'"user_id":"ana"', b'"user_id":"bob"')

    assert tampered != body
    assert not verify_signature(SECRET, timestamp, tampered, header, now=NOW.timestamp())


def test_signature_fails_for_a_changed_timestamp(signed: tuple[str, bytes, str]):
    _, body, header = signed
    later = str(int(NOW.timestamp()) + 10)

    assert not verify_signature(SECRET, later, body, header, now=NOW.timestamp())


@pytest.mark.parametrize("header", ["", "v1=", "v1=00", "v1=é", "garbage"])
def test_signature_fails_for_malformed_headers_without_raising(
    signed: tuple[str, bytes, str], header: str
):
    timestamp, body, _ = signed

    assert not verify_signature(SECRET, timestamp, body, header, now=NOW.timestamp())


def test_signature_accepts_any_of_several_v1_values(signed: tuple[str, bytes, str]):
    timestamp, body, header = signed

    assert verify_signature(SECRET, timestamp, body, f"v1=00, {header}", now=NOW.timestamp())


def test_each_attempt_is_signed_with_its_own_time():
    clock = FrozenClock(NOW)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        clock.advance(timedelta(seconds=30))
        return httpx.Response(503 if len(seen) == 1 else 200)

    channel, _ = make_webhook(handler, clock=clock)
    channel.send(make_notice())

    stamps = [int(r.headers["X-Leadflow-Timestamp"]) for r in seen]
    assert stamps == [int(NOW.timestamp()), int(NOW.timestamp()) + 30]
    assert {r.headers["Idempotency-Key"] for r in seen} == {"notice-42"}


# --- webhook: retries --------------------------------------------------------------------


def test_webhook_retries_a_503_then_succeeds_without_really_sleeping():
    handler, seen = answering(503, 200)
    channel, sleeps = make_webhook(handler)

    delivery = channel.send(make_notice())

    assert (delivery.ok, delivery.detail, delivery.attempts) == (True, "HTTP 200", 2)
    assert len(seen) == 2
    assert sleeps == [0.5]


def test_webhook_gives_up_after_the_retries_with_the_last_answer():
    handler, seen = answering(429, 502, 503)
    channel, sleeps = make_webhook(handler, retries=2)

    delivery = channel.send(make_notice())

    assert (delivery.ok, delivery.detail, delivery.attempts) == (False, "HTTP 503: nope", 3)
    assert (len(seen), sleeps) == (3, [0.5, 1.0])


def test_webhook_does_not_retry_a_400():
    handler, seen = answering(400, 200)
    channel, sleeps = make_webhook(handler)

    delivery = channel.send(make_notice())

    assert (delivery.ok, delivery.detail, delivery.attempts) == (False, "HTTP 400: nope", 1)
    assert (len(seen), sleeps) == (1, [])


def test_webhook_does_not_follow_redirects():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"Location": "http://elsewhere.example/"})

    channel, _ = make_webhook(handler)

    delivery = channel.send(make_notice())

    assert (delivery.ok, delivery.detail, delivery.attempts) == (False, "HTTP 307", 1)


def test_connection_errors_are_retried_and_end_in_a_failed_delivery():
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    channel, sleeps = make_webhook(handler, retries=1)

    delivery = channel.send(make_notice())

    assert (delivery.ok, delivery.attempts) == (False, 2)
    assert delivery.detail == "ConnectError: connection refused"
    assert (len(calls), sleeps) == (2, [0.5])


def test_a_timeout_is_a_failed_delivery_too():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    channel, _ = make_webhook(handler, retries=0)

    delivery = channel.send(make_notice())

    assert (delivery.ok, delivery.detail, delivery.attempts) == (False, "ReadTimeout: timed out", 1)


# --- webhook: construction ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://hooks.example.com/x", "http://10.0.0.5/x", "ftp://example.com/x", "hooks"]
)
def test_webhook_refuses_urls_that_are_not_https_or_loopback(url: str):
    with pytest.raises(ValueError, match="must use https"):
        WebhookChannel(url, SECRET)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]:9000/"]
)
def test_webhook_allows_plain_http_on_loopback(url: str):
    channel = WebhookChannel(url, SECRET)
    channel.close()

    assert channel.url == url


def test_webhook_refuses_an_empty_secret():
    with pytest.raises(ValueError, match="secret is empty"):
        WebhookChannel(URL, "")


# --- webhook: a real server on loopback ----------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx honours HTTP(S)_PROXY from the environment; a CI proxy must not see loopback calls.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Handler", (_Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_webhook_delivers_to_a_real_server_over_the_real_transport(loopback_server):
    url, received = loopback_server
    channel = WebhookChannel(url, SECRET)
    try:
        delivery = channel.send(make_notice())
    finally:
        channel.close()

    assert (delivery.ok, delivery.detail, delivery.attempts) == (True, "HTTP 204", 1)
    headers, body = received[0]
    assert headers["Idempotency-Key"] == "notice-42"
    timestamp, signature = headers["X-Leadflow-Timestamp"], headers["X-Leadflow-Signature"]
    assert verify_signature(SECRET, timestamp, body, signature, now=float(timestamp))
    assert json.loads(body)["data"]["contact_id"] == 42


def unused_loopback_port() -> int:
    """A port nothing listens on: bound once by the OS, then released without listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_webhook_reports_a_refused_connection_on_the_real_transport():
    url = f"http://127.0.0.1:{unused_loopback_port()}/hook"
    channel = WebhookChannel(url, SECRET, retries=0, timeout=2.0)
    try:
        delivery = channel.send(make_notice())
    finally:
        channel.close()

    assert (delivery.ok, delivery.attempts) == (False, 1)
    assert delivery.detail.startswith("ConnectError")


# --- log ---------------------------------------------------------------------------------


def test_log_channel_writes_one_json_line_per_notice(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="leadflow.notices")

    delivery = LogChannel().send(make_notice(kind="escalation", subject="Overdue: 50% done"))

    assert (delivery.ok, delivery.channel) == (True, "log")
    [record] = caplog.records
    assert (record.name, record.levelno) == ("leadflow.notices", logging.INFO)
    assert json.loads(record.getMessage()) == {
        "kind": "escalation",
        "recipient": {"user_id": "ana", "email": "ana@example.com"},
        "subject": "Overdue: 50% done",
        "data": {"contact_id": 42, "task_id": 9, "deadline": "2026-11-02T11:00:00+00:00"},
        "idempotency_key": "notice-42",
    }


# --- memory ------------------------------------------------------------------------------


def test_memory_channel_keeps_what_it_sent():
    channel = MemoryChannel()
    notice = make_notice()

    delivery = channel.send(notice)

    assert (delivery.ok, delivery.channel) == (True, "memory")
    assert channel.sent == [notice]


def test_memory_channel_fails_the_next_n_sends_on_demand():
    channel = MemoryChannel()
    channel.fail_next(2, detail="mailbox full")
    notices = [make_notice(idempotency_key=f"n{i}") for i in range(3)]

    deliveries = [channel.send(n) for n in notices]

    assert [(d.ok, d.detail) for d in deliveries] == [
        (False, "mailbox full"),
        (False, "mailbox full"),
        (True, "stored in memory"),
    ]
    assert (channel.failed, channel.sent) == (notices[:2], notices[2:])


# --- notice ------------------------------------------------------------------------------


def test_a_notice_refuses_data_that_is_not_json():
    with pytest.raises(TypeError):
        make_notice(data={"when": NOW})


def test_a_notice_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown notice kind 'hello'"):
        make_notice(kind="hello")


def test_a_notice_keeps_its_own_copy_of_data():
    data: dict[str, Any] = {"contact_id": 1}
    notice = make_notice(data=data)
    data["contact_id"] = 2

    assert notice.data == {"contact_id": 1}
    assert hash(notice) == hash(make_notice(data={"contact_id": 3}))


# --- config ------------------------------------------------------------------------------


def test_config_builds_a_log_channel():
    assert isinstance(channel_from_config({"type": "log"}), LogChannel)


def test_config_builds_a_memory_channel():
    assert isinstance(channel_from_config({"type": "memory"}), MemoryChannel)


def test_config_builds_a_webhook_with_the_secret_from_the_environment():
    config = {"type": "webhook", "url": URL, "secret_env": "LEADFLOW_WEBHOOK_SECRET"}

    channel = channel_from_config(config, environ={"LEADFLOW_WEBHOOK_SECRET": SECRET})
    channel.close()

    assert isinstance(channel, WebhookChannel)
    assert channel.url == URL


def test_config_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOOK_SECRET_FOR_TEST", SECRET)

    channel = channel_from_config(
        {"type": "webhook", "url": URL, "secret_env": "HOOK_SECRET_FOR_TEST"}
    )
    channel.close()

    assert isinstance(channel, Channel)


def test_config_names_a_missing_secret_variable():
    config = {"type": "webhook", "url": URL, "secret_env": "LEADFLOW_WEBHOOK_SECRET"}

    with pytest.raises(ValueError, match="LEADFLOW_WEBHOOK_SECRET is not set"):
        channel_from_config(config, environ={})


def test_config_refuses_a_secret_written_in_the_file():
    config = {"type": "webhook", "url": URL, "secret": SECRET}

    with pytest.raises(ValueError, match="do not put the secret in the configuration"):
        channel_from_config(config, environ={})


def test_config_lists_the_known_types_for_an_unknown_one():
    with pytest.raises(
        ValueError, match="unknown channel type 'sms'; known types: log, memory, webhook"
    ):
        channel_from_config({"type": "sms"})


def test_config_refuses_unexpected_keys():
    with pytest.raises(ValueError, match=r"log channel: unexpected keys \['url'\]"):
        channel_from_config({"type": "log", "url": URL})


def test_config_applies_the_webhook_url_rule():
    config = {"type": "webhook", "url": "http://hooks.example.com", "secret_env": "S"}

    with pytest.raises(ValueError, match="must use https"):
        channel_from_config(config, environ={"S": SECRET})
