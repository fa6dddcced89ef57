"""Rate limits: the storage setting is checked at start-up; the limiter counts by key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as SettingsError

from leadflow.capture.guard import RateLimiter, RateLimitExceeded, request_origin
from leadflow.settings import Settings


@pytest.mark.parametrize("uri", ["bogus://x", "memory", "async+memory://"])
def test_an_unusable_rate_limit_storage_is_refused_at_start_up(uri):
    with pytest.raises(SettingsError) as caught:
        Settings(rate_limit_storage=uri)

    assert "rate_limit_storage" in str(caught.value)


def test_limits_count_per_key_and_say_when_to_retry():
    limiter = RateLimiter(Settings().rate_limit_storage)
    for _ in range(2):
        limiter.hit("2/minute", "form", "k", "ip", "1.2.3.4", what="from this address")
    limiter.hit("2/minute", "form", "k", "ip", "5.6.7.8", what="from this address")

    with pytest.raises(RateLimitExceeded) as caught:
        limiter.hit("2/minute", "form", "k", "ip", "1.2.3.4", what="from this address")

    assert 1 <= caught.value.retry_after <= 60
    assert caught.value.code == "rate_limited"


@pytest.mark.parametrize(
    ("origin", "referer", "found"),
    [
        ("https://WWW.example.com/", None, "https://www.example.com"),
        (None, "https://www.example.com/a/b?c=1", "https://www.example.com"),
        ("null", "http://127.0.0.1:8123/x", "http://127.0.0.1:8123"),
        (None, None, None),
        (None, "not a url", None),
    ],
)
def test_the_origin_of_a_post(origin, referer, found):
    assert request_origin(origin, referer) == found
