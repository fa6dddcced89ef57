"""Reading webhook subscriptions from the workspace: a ``webhooks.yaml`` file, or else the
``webhooks:`` section of ``leadflow.yaml``. Every problem is located ``file:line`` and all
are raised together.

The format (the same in both files)::

    webhooks:
      - name: crm-sync                  # lowercase slug (a-z, 0-9, _ and -), unique
        url: https://hooks.example.com/leadflow   # https; plain http only to loopback
        topics: [contact.created, stage.changed]  # see leadflow.webhooks.engine.TOPICS
        secret_env: LEADFLOW_WEBHOOK_CRM_SECRET   # the variable holding the signing secret
        active: true                    # optional (true)

The secret itself is never written in the file (files get committed and shared): it is read
from the environment variable ``secret_env`` names when ``leadflow webhooks load`` runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as _field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TypeVar

from leadflow.errors import ConfigError, ConfigProblems, LocatedConfigError
from leadflow.rules import Node, from_yaml
from leadflow.rules.source import Entry, mapping_entries
from leadflow.scoring.model import content_version
from leadflow.webhooks.engine import MIN_SECRET, SLUG, check_topics, check_url

T = TypeVar("T")
WEBHOOKS_FILE = "webhooks.yaml"
MAIN_FILE = "leadflow.yaml"
SUBSCRIPTION_KEYS = ("name", "url", "topics", "secret_env", "active")
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class WebhookConfigProblem(StrEnum):
    """What is wrong in a webhooks section; the values are the stable codes."""

    SHAPE = "webhooks_shape"
    UNKNOWN_KEY = "webhooks_unknown_key"
    MISSING = "webhooks_missing"
    BAD_VALUE = "webhooks_bad_value"
    UNKNOWN_TOPIC = "webhooks_unknown_topic"
    DUPLICATE_NAME = "webhooks_duplicate_name"
    SECRET_IN_FILE = "webhooks_secret_in_file"
    SECRET_UNSET = "webhooks_secret_unset"


P = WebhookConfigProblem


class WebhooksConfigError(ConfigProblems):
    """Every problem found in one file's webhooks, in the order of their lines."""

    code = "webhooks_invalid"


@dataclass(frozen=True)
class SubscriptionSpec:
    name: str
    url: str
    topics: tuple[str, ...]
    secret_env: str
    active: bool = True
    at: str = _field(default="", compare=False)
    secret_at: str = _field(default="", compare=False)  # the secret_env: line


@dataclass(frozen=True)
class WebhooksConfig:
    subscriptions: tuple[SubscriptionSpec, ...]
    file: str  # where they were read: webhooks.yaml or leadflow.yaml
    version: str = ""

    def secrets(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Each subscription's secret, read from the environment; every variable that is
        unset or too short raises together, located at its ``secret_env:`` line."""
        found: dict[str, str] = {}
        problems: list[LocatedConfigError] = []
        for spec in self.subscriptions:
            value = environ.get(spec.secret_env, "")
            if len(value) < MIN_SECRET:
                state = "is not set" if not value else f"holds fewer than {MIN_SECRET} characters"
                message = f"webhook {spec.name!r}: environment variable {spec.secret_env} {state}"
                problems.append(LocatedConfigError(P.SECRET_UNSET, spec.secret_at, message))
            found[spec.name] = value
        if problems:
            raise WebhooksConfigError(tuple(problems))
        return found


def find_config(root: Path) -> WebhooksConfig | None:
    """The workspace's webhooks: ``webhooks.yaml`` if there is one, else the ``webhooks:``
    section of ``leadflow.yaml``; None when neither says anything."""
    own = root / WEBHOOKS_FILE
    if own.is_file():
        return parse_webhooks(_read(own), filename=WEBHOOKS_FILE, section=False)
    main = root / MAIN_FILE
    if not main.is_file():
        return None
    return parse_webhooks(_read(main), filename=MAIN_FILE, section=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot read: {exc.strerror}") from None


def parse_webhooks(source: str, *, filename: str, section: bool) -> WebhooksConfig | None:
    """Subscriptions in ``source``. ``section``: the text is leadflow.yaml, whose other keys
    belong to others (None when it has no ``webhooks:``); otherwise only ``webhooks:`` may
    be at the top."""
    problems: list[LocatedConfigError] = []
    entry = _collect(problems, lambda: _top(source, filename, section))
    if entry is None:
        if problems:
            raise WebhooksConfigError(tuple(problems))
        return None
    nodes = _items(entry, problems)
    specs: list[SubscriptionSpec] = []
    names: dict[str, str] = {}
    for node in nodes:
        spec = _collect(problems, partial(_subscription, node))
        if spec is None:
            continue
        if spec.name in names:
            message = f"webhook name {spec.name!r} is already used at {names[spec.name]}"
            problems.append(LocatedConfigError(P.DUPLICATE_NAME, spec.at, message))
            continue
        names[spec.name] = spec.at
        specs.append(spec)
    if problems:
        ordered: list[LocatedConfigError] = sorted(problems, key=_line)
        raise WebhooksConfigError(ordered)
    return WebhooksConfig(tuple(specs), filename, version=content_version(source))


def _top(source: str, filename: str, section: bool) -> Entry | None:
    root = from_yaml(source, filename)
    if section:
        if root.kind != "mapping":
            return None  # leadflow.yaml's own loader says what is wrong with its shape
        return next((e for e in root.entries if e.key == "webhooks"), None)
    parts = mapping_entries(root, ("webhooks",), filename, _shape_error, required=("webhooks",))
    return parts["webhooks"]


def _items(entry: Entry, problems: list[LocatedConfigError]) -> tuple[Node, ...]:
    node = entry.value
    if node.kind == "scalar" and node.value is None:
        return ()  # `webhooks:` with nothing under it: no subscriptions
    if node.kind != "list":
        problems.append(LocatedConfigError(P.SHAPE, entry.at, "webhooks: must be a list"))
        return ()
    return node.items


def _subscription(node: Node) -> SubscriptionSpec:
    if node.kind == "mapping" and any(e.key == "secret" for e in node.entries):
        at = next(e.at for e in node.entries if e.key == "secret")
        message = (
            "do not write the secret in the file; set an environment variable and name it "
            "with secret_env:"
        )
        raise LocatedConfigError(P.SECRET_IN_FILE, at, message)
    parts = mapping_entries(
        node, SUBSCRIPTION_KEYS, "a webhook", _shape_error, required=SUBSCRIPTION_KEYS[:4]
    )
    return SubscriptionSpec(
        name=_matching(parts["name"], SLUG, "use lowercase letters, digits, _ and -"),
        url=_checked(parts["url"], lambda e: check_url(_text(e)), P.BAD_VALUE),
        topics=_checked(parts["topics"], _topics, P.UNKNOWN_TOPIC),
        secret_env=_matching(parts["secret_env"], VARIABLE, "an environment variable name"),
        active=_bool(parts["active"]) if "active" in parts else True,
        at=node.at,
        secret_at=parts["secret_env"].at,
    )


def _shape_error(kind: str, where: str, message: str) -> LocatedConfigError:
    code = {"shape": P.SHAPE, "unknown_key": P.UNKNOWN_KEY, "missing": P.MISSING}[kind]
    return LocatedConfigError(code, where, message)


def _text(entry: Entry) -> str:
    value = entry.value.value
    if entry.value.kind != "scalar" or not isinstance(value, str) or not value.strip():
        raise LocatedConfigError(P.SHAPE, entry.at, f"{entry.key}: expected text, got {value!r}")
    return value.strip()


def _matching(entry: Entry, pattern: re.Pattern[str], advice: str) -> str:
    value = _text(entry)
    if not pattern.fullmatch(value):
        raise LocatedConfigError(P.BAD_VALUE, entry.at, f"{entry.key} {value!r}: {advice}")
    return value


def _topics(entry: Entry) -> tuple[str, ...]:
    node = entry.value
    if node.kind != "list":
        raise LocatedConfigError(P.SHAPE, entry.at, "topics: expected a list, e.g. [stage.changed]")
    return check_topics([item.value for item in node.items])


def _checked(entry: Entry, read: Callable[[Entry], T], code: str) -> T:
    try:
        return read(entry)
    except ValueError as exc:
        raise LocatedConfigError(code, entry.at, f"{entry.key}: {exc}") from None


def _bool(entry: Entry) -> bool:
    value = entry.value.value
    if not isinstance(value, bool):
        message = f"{entry.key}: expected true or false, got {value!r}"
        raise LocatedConfigError(P.SHAPE, entry.at, message)
    return value


def _collect(problems: list[LocatedConfigError], read: Callable[[], T]) -> T | None:
    try:
        return read()
    except LocatedConfigError as exc:  # ours, or the YAML syntax (a condition error)
        problems.append(exc)
    return None


def _line(problem: LocatedConfigError) -> int:
    _, _, line = problem.where.rpartition(":")
    return int(line) if line.isdigit() else 0
