"""The pure part of webhooks: the signature a receiver checks (and the requests it must
refuse: another secret, a changed body, a replayed old timestamp), the retry schedule and
its 72-hour end, URLs and topics."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from leadflow.channels.webhook import sign, verify_signature
from leadflow.webhooks import engine
from leadflow.webhooks.engine import (
    FIRST_RETRY,
    LONGEST_WAIT,
    RETRY_WINDOW,
    SignatureError,
    encode_body,
    next_attempt,
    retry_delay,
    signature_header,
    verify,
)

SECRET = "whsec_test_secret_0123456789"
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
T = int(AT.timestamp())
BODY = encode_body(7, "stage.changed", AT, {"contact_id": 3, "to_stage": "mql"})


def test_a_signed_body_verifies_and_gives_its_timestamp():
    header = signature_header(SECRET, BODY, timestamp=T)

    assert header.startswith(f"t={T},v1=")
    assert verify(SECRET, BODY, header, now=T + 10) == T


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()

    assert signature_header(SECRET, BODY, timestamp=T) == f"t={T},v1={expected}"


def test_another_secret_is_refused():
    header = signature_header("another_secret_of_enough_length", BODY, timestamp=T)

    with pytest.raises(SignatureError) as caught:
        verify(SECRET, BODY, header, now=T)
    assert caught.value.code == "signature_mismatch"


def test_a_tampered_body_is_refused():
    header = signature_header(SECRET, BODY, timestamp=T)
    tampered = BODY.replace(b'"mql"', b'"sql"')

    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, tampered, header, now=T)


def test_a_replayed_old_request_is_refused_though_its_signature_holds():
    header = signature_header(SECRET, BODY, timestamp=T)

    with pytest.raises(SignatureError) as caught:
        verify(SECRET, BODY, header, now=T + 301)
    assert caught.value.code == "signature_expired"
    assert "replayed" in str(caught.value)


def test_a_timestamp_moved_forward_to_pass_the_window_breaks_the_signature():
    header = signature_header(SECRET, BODY, timestamp=T)
    moved = header.replace(f"t={T}", f"t={T + 3600}")

    with pytest.raises(SignatureError) as caught:
        verify(SECRET, BODY, moved, now=T + 3600)
    assert caught.value.code == "signature_mismatch"


def test_a_timestamp_from_the_future_beyond_the_tolerance_is_refused():
    header = signature_header(SECRET, BODY, timestamp=T + 1000)

    with pytest.raises(SignatureError, match="replayed or delayed"):
        verify(SECRET, BODY, header, now=T)


def test_the_tolerance_can_be_chosen():
    header = signature_header(SECRET, BODY, timestamp=T)

    assert verify(SECRET, BODY, header, now=T + 500, tolerance=600) == T
    with pytest.raises(SignatureError):
        verify(SECRET, BODY, header, now=T + 61, tolerance=60)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "signature_missing"),
        ("", "signature_missing"),
        ("v1=abc", "signature_malformed"),
        (f"t={T}", "signature_malformed"),
        ("t=soon,v1=abc", "signature_malformed"),
        (f"t={T},t={T},v1=abc", "signature_malformed"),
        (f"t={T},v1=\u00e9\u00e9", "signature_mismatch"),
    ],
)
def test_malformed_headers_are_refused_with_a_code_not_a_crash(header: str | None, code: str):
    with pytest.raises(SignatureError) as caught:
        verify(SECRET, BODY, header, now=T)
    assert caught.value.code == code
    assert caught.value.field == "Leadflow-Signature"


def test_any_of_several_v1_values_may_match_while_a_secret_rotates():
    good = signature_header(SECRET, BODY, timestamp=T).split(",")[1]

    assert verify(SECRET, BODY, f"t={T},v1=00ff,{good}", now=T) == T


def test_the_body_is_the_event_envelope_in_a_stable_encoding():
    body = encode_body(7, "stage.changed", AT, {"b": 1, "a": [1, 2]})

    assert json.loads(body) == {
        "id": 7,
        "topic": "stage.changed",
        "created_at": "2026-11-02T09:00:00+00:00",
        "data": {"a": [1, 2], "b": 1},
    }
    assert body == encode_body(7, "stage.changed", AT, {"a": [1, 2], "b": 1})


def test_notices_sign_with_the_same_hmac_as_webhooks():
    header = signature_header(SECRET, BODY, timestamp=T)

    assert sign(SECRET, str(T), BODY) == header.split(",")[1]
    assert verify_signature(SECRET, str(T), BODY, sign(SECRET, str(T), BODY), now=T)


# -- retries ----------------------------------------------------------------------------


def test_retry_delays_double_from_thirty_seconds_up_to_six_hours():
    without_jitter = [retry_delay(n, jitter=1.0) for n in range(1, 14)]

    assert without_jitter[:4] == [FIRST_RETRY * k for k in (1, 2, 4, 8)]
    assert without_jitter[-1] == LONGEST_WAIT
    assert all(a <= b for a, b in itertools.pairwise(without_jitter))


def test_jitter_takes_off_at_most_half_of_the_delay():
    assert retry_delay(3, jitter=0.0) == FIRST_RETRY * 2
    assert retry_delay(3, jitter=0.5) == FIRST_RETRY * 3
    assert retry_delay(50, jitter=0.0) == LONGEST_WAIT / 2


def test_attempts_stop_after_72_hours_with_a_last_one_at_the_end():
    until = AT + RETRY_WINDOW
    now, attempts, schedule = AT, 1, []
    while (at := next_attempt(attempts, now=now, retry_until=until, jitter=1.0)) is not None:
        schedule.append(at)
        now, attempts = at, attempts + 1

    assert schedule[0] == AT + FIRST_RETRY
    assert schedule[-1] == until  # the last attempt, at the end of the window
    assert all(b - a <= LONGEST_WAIT for a, b in itertools.pairwise(schedule))
    assert 15 <= len(schedule) <= 25  # a few a minute at first, every six hours at the end
    assert (
        next_attempt(attempts, now=until + timedelta(seconds=1), retry_until=until, jitter=0)
        is None
    )


# -- urls and topics ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://example.com/hook", "ftp://example.com", "not a url", "https://"]
)
def test_urls_must_be_https_or_loopback(url: str):
    with pytest.raises(ValueError, match=r"must use https|not valid"):
        engine.check_url(url)


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x", "http://127.0.0.1:9/x", "http://localhost/x"]
)
def test_https_and_loopback_urls_are_accepted(url: str):
    assert engine.check_url(url).startswith(url.split(":")[0])


def test_topics_must_be_known_and_are_kept_once():
    assert engine.check_topics(["deal.won", "deal.won", "stage.changed"]) == (
        "deal.won",
        "stage.changed",
    )
    with pytest.raises(ValueError, match=r"unknown topic .stage\.change."):
        engine.check_topics(["stage.change"])
    with pytest.raises(ValueError, match="non-empty list"):
        engine.check_topics([])
