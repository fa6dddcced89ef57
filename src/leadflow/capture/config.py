"""Reading a workspace's ``forms.yaml``: the public forms a website posts to, and the sites
the tracking snippet runs on. Every problem is located ``forms.yaml:LINE`` and all are
raised together.

The format::

    sites:                        # where the snippet runs: <script data-site="KEY">
      www:
        key: site_3kq9XbT2        # public; 8-64 letters, digits, _ or -
        origins: [https://www.example.com]
        rate_limit: {per_ip: 120/minute}
    forms:
      contact-us:                 # the form's name: a lowercase slug
        key: form_7Hx2pQ9w        # public: the form posts to /f/<key>
        origins: [https://www.example.com]   # only pages there may post it
        fields:                   # form field -> where its answer goes
          email: contact.email    # contact.<field>, account.<field>,
          company: account.name   # qualification.<criterion> (lifecycle.yaml's capture:),
          budget: qualification.budget
          colour: property.favourite_colour  # or property.<name> (a custom property)
        required: [email]
        consent:                  # optional: a checkbox, recorded with the text shown
          field: newsletter
          text: "Send me the monthly product newsletter."
          required: false
          purpose: marketing
        honeypot: website         # a hidden field people leave empty; bots fill it
        max_body: 16kb            # larger posts are refused (413); 1mb at most
        redirect: https://www.example.com/thanks   # where an HTML post goes next
        channel: web_form         # the touch's channel and campaign
        campaign: spring-launch
        rate_limit: {per_ip: 10/minute, per_form: 600/hour}

Rate limits are the ``limits`` package's notation (``10/minute``, ``100 per hour``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as _field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TypeVar, cast
from urllib.parse import urlsplit

from limits import parse as parse_limit

from leadflow.contacts.inputs import CHANNELS
from leadflow.errors import ConfigError, ConfigProblems, LocatedConfigError
from leadflow.lifecycle.config import LifecycleConfig
from leadflow.rules import Node, from_yaml
from leadflow.rules.errors import did_you_mean
from leadflow.rules.source import Entry, mapping_entries

T = TypeVar("T")
FORMS_FILE = "forms.yaml"
TOP_KEYS = ("sites", "forms")
SITE_KEYS = ("key", "origins", "rate_limit")
FORM_KEYS = (
    *("key", "origins", "fields", "required", "consent", "honeypot", "max_body"),
    *("redirect", "channel", "campaign", "rate_limit"),
)
CONSENT_KEYS = ("field", "text", "required", "purpose")
LIMIT_KEYS = ("per_ip", "per_form")
CONTACT_FIELDS = (
    *("email", "phone", "first_name", "last_name", "title", "seniority", "company"),
    *("country", "timezone", "language"),
)
ACCOUNT_FIELDS = ("domain", "name", "industry", "employee_count", "annual_revenue", "country")
TARGET_KINDS = ("contact", "account", "qualification", "property")
# Field names the snippet adds to a form (the anonymous id, UTM, landing page, referrer).
RESERVED_PREFIX = "lf_"
SLUG = re.compile(r"[a-z][a-z0-9_-]{0,63}")
FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_.\-\[\]]{0,99}")
PUBLIC_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")
SIZE = re.compile(r"([0-9]+)\s*(b|kb|mb)?", re.IGNORECASE)
DEFAULT_MAX_BODY = 16 * 1024
MAX_BODY = 1024 * 1024
DEFAULT_FORM_LIMITS = ("10/minute", "600/minute")
DEFAULT_SITE_LIMIT = "120/minute"


class FormsProblem(StrEnum):
    """What is wrong in a forms file; the value is the stable ``code``."""

    SHAPE = "forms_shape"
    UNKNOWN_KEY = "forms_unknown_key"
    MISSING = "forms_missing"
    BAD_VALUE = "forms_bad_value"
    DUPLICATE_KEY = "forms_duplicate_key"  # a public key used twice
    BAD_TARGET = "forms_bad_target"  # a field mapped to something that does not exist
    NO_IDENTITY = "forms_no_identity"  # no field gives an email or phone
    UNKNOWN_FIELD = "forms_unknown_field"  # required: names a field the form does not map


P = FormsProblem


class FormsError(LocatedConfigError):
    """One problem in a forms file, located ``file:line``."""

    def __init__(self, problem: FormsProblem, where: str, message: str) -> None:
        super().__init__(problem.value, where, message)


class FormsConfigError(ConfigProblems):
    """Every problem found in one forms file, in the order of their lines."""

    code = "forms_invalid"


@dataclass(frozen=True)
class Target:
    """Where a form field's answer goes: ``kind`` is one of TARGET_KINDS."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.name}"


@dataclass(frozen=True)
class Consent:
    field: str
    text: str  # exactly as the page shows it; stored with each opt-in
    required: bool = False
    purpose: str = "marketing"


@dataclass(frozen=True)
class Limits:
    per_ip: str
    per_form: str | None = None  # sites have no whole-site limit


FORM_LIMITS = Limits(*DEFAULT_FORM_LIMITS)


@dataclass(frozen=True)
class Form:
    name: str
    key: str
    origins: tuple[str, ...]
    fields: Mapping[str, Target]
    required: tuple[str, ...] = ()
    consent: Consent | None = None
    honeypot: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    redirect: str | None = None
    channel: str = "web_form"
    campaign: str | None = None
    limits: Limits = FORM_LIMITS
    at: str = _field(default="", compare=False)


@dataclass(frozen=True)
class Site:
    name: str
    key: str
    origins: tuple[str, ...]
    limits: Limits = Limits(DEFAULT_SITE_LIMIT)
    at: str = _field(default="", compare=False)


@dataclass(frozen=True)
class FormsConfig:
    forms: tuple[Form, ...] = ()
    sites: tuple[Site, ...] = ()
    version: str = ""

    def form(self, key: str) -> Form | None:
        return next((f for f in self.forms if f.key == key), None)

    def site(self, key: str) -> Site | None:
        return next((s for s in self.sites if s.key == key), None)


def load_forms(path: Path, lifecycle: LifecycleConfig | None = None) -> FormsConfig:
    """Read a forms file (none: no forms); every problem raises together."""
    if not path.exists():
        return FormsConfig()
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot read: {exc.strerror}") from None
    return parse_forms(source, filename=path.name, lifecycle=lifecycle)


def parse_forms(
    source: str, *, filename: str = FORMS_FILE, lifecycle: LifecycleConfig | None = None
) -> FormsConfig:
    """``lifecycle`` checks ``qualification.*`` targets; without one they are not checked."""
    problems: list[LocatedConfigError] = []
    root = _collect(problems, lambda: from_yaml(source, filename))
    if root is not None and root.kind == "scalar" and root.value is None:
        return FormsConfig()  # nothing but comments (the file `leadflow init` writes)
    parts = _collect(problems, lambda: _entries(root, TOP_KEYS, "the forms file")) if root else None
    if parts is None:
        raise FormsConfigError(tuple(problems))
    sites = _each(parts.get("sites"), problems, _site)
    forms = _each(parts.get("forms"), problems, lambda e: _form(e, lifecycle))
    problems += _repeated_keys([*sites, *forms])
    if problems:
        ordered: list[LocatedConfigError] = sorted(problems, key=_line)
        raise FormsConfigError(ordered)
    version = hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
    return FormsConfig(forms=tuple(forms), sites=tuple(sites), version=version)


def _each(
    entry: Entry | None, problems: list[LocatedConfigError], read: Callable[[Entry], T]
) -> list[T]:
    if entry is None:
        return []
    if entry.value.kind != "mapping":
        problems.append(FormsError(P.SHAPE, entry.at, f"{entry.key}: expected a mapping of names"))
        return []
    found = [_collect(problems, partial(read, item)) for item in entry.value.entries]
    return [item for item in found if item is not None]


def _repeated_keys(items: list[Form | Site]) -> list[LocatedConfigError]:
    seen: dict[str, str] = {}
    problems: list[LocatedConfigError] = []
    for item in items:
        if item.key in seen:
            message = f"key {item.key!r} is already used by {seen[item.key]}"
            problems.append(FormsError(P.DUPLICATE_KEY, item.at, message))
        seen.setdefault(item.key, repr(item.name))
    return problems


def _collect(problems: list[LocatedConfigError], read: Callable[[], T]) -> T | None:
    try:
        return read()
    except FormsConfigError as exc:
        # A forms file's problems are all located (FormsError or the YAML syntax).
        problems.extend(cast(tuple[LocatedConfigError, ...], exc.problems))
    except LocatedConfigError as exc:  # ours, or the YAML syntax
        problems.append(exc)
    return None


def _line(problem: LocatedConfigError) -> int:
    _, _, line = problem.where.rpartition(":")
    return int(line) if line.isdigit() else 0


# -- sites and forms ------------------------------------------------------------------------


def _site(entry: Entry) -> Site:
    name = _name(entry)
    parts = _entries(entry.value, SITE_KEYS, f"site {name!r}", ("key", "origins"))
    per_ip = DEFAULT_SITE_LIMIT
    if "rate_limit" in parts:
        per_ip = _limits(parts["rate_limit"], (DEFAULT_SITE_LIMIT,), ("per_ip",)).per_ip
    return Site(
        name=name,
        key=_public_key(parts["key"]),
        origins=_origins(parts["origins"]),
        limits=Limits(per_ip),
        at=entry.at,
    )


def _form(entry: Entry, lifecycle: LifecycleConfig | None) -> Form:
    name = _name(entry)
    what = f"form {name!r}"
    parts = _entries(entry.value, FORM_KEYS, what, ("key", "origins", "fields"))
    fields = _fields(parts["fields"], lifecycle)
    consent = _consent(parts["consent"], fields) if "consent" in parts else None
    honeypot = _field_name(parts["honeypot"]) if "honeypot" in parts else None
    if honeypot is not None and honeypot in fields:
        message = f"honeypot {honeypot!r} is also a mapped field; use a field people never see"
        raise FormsError(P.BAD_VALUE, parts["honeypot"].at, message)
    limits = parts.get("rate_limit")
    return Form(
        name=name,
        key=_public_key(parts["key"]),
        origins=_origins(parts["origins"]),
        fields=fields,
        required=_required(parts.get("required"), fields, consent),
        consent=consent,
        honeypot=honeypot,
        max_body=_size(parts["max_body"]) if "max_body" in parts else DEFAULT_MAX_BODY,
        redirect=_url(parts["redirect"]) if "redirect" in parts else None,
        channel=_channel(parts["channel"]) if "channel" in parts else "web_form",
        campaign=_text(parts["campaign"]) if "campaign" in parts else None,
        limits=_limits(limits, DEFAULT_FORM_LIMITS, LIMIT_KEYS) if limits else FORM_LIMITS,
        at=entry.at,
    )


def _fields(entry: Entry, lifecycle: LifecycleConfig | None) -> dict[str, Target]:
    if entry.value.kind != "mapping" or not entry.value.entries:
        raise FormsError(P.SHAPE, entry.at, "fields: expected a mapping of form field -> target")
    fields = {}
    for item in entry.value.entries:
        name = _field_name(Entry(item.key, item.at, Node(item.key, item.at, "scalar")))
        fields[name] = _target(item, lifecycle)
    if not any(t.kind == "contact" and t.name in ("email", "phone") for t in fields.values()):
        message = "no field maps to contact.email or contact.phone, so no submission names a person"
        raise FormsError(P.NO_IDENTITY, entry.at, message)
    return fields


def _target(entry: Entry, lifecycle: LifecycleConfig | None) -> Target:
    text = _text(entry)
    kind, _, name = text.partition(".")
    if kind not in TARGET_KINDS or not name:
        message = f"{entry.key}: {text!r} is not a target; use {', '.join(TARGET_KINDS)}.<name>"
        raise FormsError(P.BAD_TARGET, entry.at, message)
    known: tuple[str, ...] | None = None
    if kind == "contact":
        known = CONTACT_FIELDS
    elif kind == "account":
        known = ACCOUNT_FIELDS
    elif kind == "qualification" and lifecycle is not None:
        known = tuple(c.criterion for c in lifecycle.captures)
    if known is not None and name not in known:
        hint = did_you_mean(name, known)
        what = "criteria lifecycle.yaml's capture: fills" if kind == "qualification" else "fields"
        message = f"{entry.key}: unknown {kind} field {name!r}{hint}; {what}: {', '.join(known)}"
        raise FormsError(P.BAD_TARGET, entry.at, message)
    if kind == "property" and not SLUG.fullmatch(name):
        message = f"{entry.key}: property {name!r}: use lowercase letters, digits, _ and -"
        raise FormsError(P.BAD_TARGET, entry.at, message)
    return Target(kind, name)


def _consent(entry: Entry, fields: Mapping[str, Target]) -> Consent:
    parts = _entries(entry.value, CONSENT_KEYS, "consent", ("field", "text"))
    name = _field_name(parts["field"])
    if name in fields:
        message = f"consent field {name!r} is also mapped in fields:; the checkbox is its own"
        raise FormsError(P.BAD_VALUE, parts["field"].at, message)
    return Consent(
        field=name,
        text=_text(parts["text"]),
        required=_bool(parts["required"]) if "required" in parts else False,
        purpose=_slug(_text(parts["purpose"]), parts["purpose"].at)
        if "purpose" in parts
        else "marketing",
    )


def _required(
    entry: Entry | None, fields: Mapping[str, Target], consent: Consent | None
) -> tuple[str, ...]:
    if entry is None:
        return ()
    if entry.value.kind != "list":
        raise FormsError(P.SHAPE, entry.at, "required: expected a list of form fields")
    names = []
    for item in entry.value.items:
        name = _text(Entry("required", item.at, item))
        if name not in fields:
            hint = did_you_mean(name, fields)
            note = (
                "; the consent box is required with consent: required: true"
                if (consent and name == consent.field)
                else ""
            )
            message = f"required: {name!r} is not one of the form's fields{hint}{note}"
            raise FormsError(P.UNKNOWN_FIELD, item.at, message)
        names.append(name)
    return tuple(names)


# -- values ---------------------------------------------------------------------------------


def _entries(
    node: Node, allowed: tuple[str, ...], what: str, required: tuple[str, ...] = ()
) -> dict[str, Entry]:
    return mapping_entries(node, allowed, what, _shape_error, required=required)


def _shape_error(kind: str, where: str, message: str) -> FormsError:
    problem = {"shape": P.SHAPE, "unknown_key": P.UNKNOWN_KEY, "missing": P.MISSING}
    return FormsError(problem[kind], where, message)


def _text(entry: Entry) -> str:
    value = entry.value.value
    if entry.value.kind != "scalar" or not isinstance(value, str) or not value.strip():
        raise FormsError(P.SHAPE, entry.value.at, f"{entry.key}: expected text, got {value!r}")
    return value.strip()


def _name(entry: Entry) -> str:
    """A site's or form's name: the key it is written under."""
    return _slug(entry.key, entry.at)


def _slug(value: str, at: str) -> str:
    if not SLUG.fullmatch(value):
        message = f"{value!r}: use lowercase letters, digits, _ and - (starting with a letter)"
        raise FormsError(P.BAD_VALUE, at, message)
    return value


def _field_name(entry: Entry) -> str:
    value = _text(entry)
    if not FIELD.fullmatch(value) or value.startswith(RESERVED_PREFIX):
        message = (
            f"form field {value!r}: use letters, digits, _ . - [ ] (at most 100), "
            f"not starting with {RESERVED_PREFIX!r} (the snippet's own fields)"
        )
        raise FormsError(P.BAD_VALUE, entry.at, message)
    return value


def _public_key(entry: Entry) -> str:
    value = _text(entry)
    if not PUBLIC_KEY.fullmatch(value):
        message = f"key {value!r}: use 8 to 64 letters, digits, _ or -"
        raise FormsError(P.BAD_VALUE, entry.at, message)
    return value


def _origins(entry: Entry) -> tuple[str, ...]:
    node = entry.value
    items = node.items if node.kind == "list" else ()
    if not items:
        raise FormsError(P.SHAPE, entry.at, "origins: expected a list of origins, not empty")
    return tuple(_origin(Entry("origins", item.at, item)) for item in items)


def _origin(entry: Entry) -> str:
    """``scheme://host[:port]`` as browsers send it in the Origin header, lower-cased."""
    value = _text(entry).lower().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        message = f"origin {value!r}: write scheme://host[:port], e.g. https://www.example.com"
        raise FormsError(P.BAD_VALUE, entry.at, message)
    return value


def _url(entry: Entry) -> str:
    value = _text(entry)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FormsError(P.BAD_VALUE, entry.at, f"redirect {value!r}: use an http(s) URL")
    return value


def _size(entry: Entry) -> int:
    value = entry.value.value
    match = SIZE.fullmatch(str(value).strip()) if isinstance(value, str | int) else None
    if match is None or isinstance(value, bool):
        message = f"max_body {value!r}: write bytes, or a size such as 16kb or 1mb"
        raise FormsError(P.BAD_VALUE, entry.at, message)
    unit = (match.group(2) or "b").lower()
    size = int(match.group(1)) * {"b": 1, "kb": 1024, "mb": 1024**2}[unit]
    if not 0 < size <= MAX_BODY:
        raise FormsError(P.BAD_VALUE, entry.at, f"max_body {value!r}: use more than 0, up to 1mb")
    return size


def _channel(entry: Entry) -> str:
    value = _text(entry)
    if value not in CHANNELS:
        hint = did_you_mean(value, CHANNELS)
        message = f"unknown channel {value!r}{hint}; use {', '.join(CHANNELS)}"
        raise FormsError(P.BAD_VALUE, entry.at, message)
    return value


def _bool(entry: Entry) -> bool:
    value = entry.value.value
    if not isinstance(value, bool):
        raise FormsError(P.SHAPE, entry.at, f"{entry.key}: expected true or false, got {value!r}")
    return value


def _limits(entry: Entry, defaults: tuple[str, ...], keys: tuple[str, ...]) -> Limits:
    parts = _entries(entry.value, keys, "rate_limit")
    found = [_limit(parts[k]) if k in parts else d for k, d in zip(keys, defaults, strict=True)]
    return Limits(found[0], found[1] if len(found) > 1 else None)


def _limit(entry: Entry) -> str:
    value = _text(entry)
    try:
        parse_limit(value)
    except ValueError:
        message = f"{entry.key}: {value!r} is not a rate limit; write e.g. 10/minute or 100/hour"
        raise FormsError(P.BAD_VALUE, entry.at, message) from None
    return value
