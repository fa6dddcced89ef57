"""Normalisation takes its verdicts from the maintained libraries, whatever shortcut it takes."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

from leadflow.contacts.normalize import _validate_domain

validate_uncached = _validate_domain.__wrapped__

DOMAINS = ["acme.com", "ACME.Com", "a.b-c.io", "x" * 64 + ".com", "x" * 63 + ".com", "localhost"]
DOMAINS += ["-acme.com", "acme-.com", "acme..com", ".acme.com", "acme.com.", "ab--c.com"]
DOMAINS += ["xn--bcher-kva.de", "bücher.de", "acme.invalid", "acme.test", "1.2.3.4", "[1.2.3.4]"]
DOMAINS += ["a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61, "acme com", "", "a_b.com"]


def email_validator_says(domain: str) -> str:
    try:
        return validate_email(f"x@{domain}", check_deliverability=False).domain
    except EmailNotValidError as exc:
        return f"error: {exc}"


def ours(domain: str) -> str:
    try:
        return str(validate_uncached(domain))
    except EmailNotValidError as exc:
        return f"error: {exc}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_email_domains_get_email_validators_verdict(domain: str):
    assert ours(domain) == email_validator_says(domain)


@given(st.text(alphabet="abcXYZ019.-_ü", max_size=70))
def test_any_domain_gets_email_validators_verdict(domain: str):
    assert ours(domain) == email_validator_says(domain)
