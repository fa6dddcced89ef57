"""Reading a workspace's ``routing.yaml``: who sells, in which teams, and which rule sends a
prospect where. Every problem is located ``routing.yaml:LINE`` and all are raised together.

The format::

    users:
      - id: ana                 # lowercase slug (a-z, 0-9, _ and -), unique
        name: Ana Ruiz
        email: ana@example.com
        role: sales             # sales | marketing | admin
        team: emea              # required for sales users, optional for the others
        capacity: 3             # sales only: a whole number > 0, the round-robin weight (1)
        daily_quota: 20         # sales only, optional: at most this many per local day
        timezone: Europe/Madrid # an IANA zone; required for sales users (UTC for others)
        hours: {mon-fri: "09:00-17:00"}  # optional; read by routing.calendar, kept as written
        holidays: {country: ES}          # optional; likewise
        territories: [ES, PT]   # sales only, optional: countries (codes or names)
        industries: [Software]  # sales only, optional: account industries (case-insensitive)
        active: true            # optional (true); inactive users are never assigned
    teams:
      - id: emea                # lowercase slug, unique
        lead: bob               # a user (active)
        escalation: notify_lead # notify_lead (default) | reassign
    rules:                      # in order; the first whose when: holds routes the prospect
      - name: enterprise_emea   # lowercase slug, unique
        when: {account.employee_count: {gte: 1000}}  # a condition; none: every prospect
        team: emea
        strategy: round_robin   # round_robin (default) | territory | industry | account_owner
    sla:                        # optional, and so is each key
      first_touch: 4h           # in the owner's business hours
      follow_up: 2d             # in the owner's business hours
      recycle_after: 14d        # calendar time without a touch before a prospect is recycled

Durations are the condition language's (``90min``, ``4h``, ``2d``, ``1w``), so ``30m`` is
refused rather than guessed. A condition (``when:``) means exactly what it means in a
scoring rule. Every team needs an active sales user; a rule after one without ``when:`` (or
with the same ``when:`` as a rule above it) can never match and is refused as a conflict.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as _field
from datetime import timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TypeVar

from leadflow.contacts.normalize import normalize_country
from leadflow.errors import ConfigError, ConfigProblems, LocatedConfigError, ValidationError
from leadflow.rules import Condition, Node, Scope, from_yaml, parse_node
from leadflow.rules.errors import did_you_mean
from leadflow.rules.source import Entry, mapping_entries
from leadflow.rules.times import TimeSyntaxError, parse_duration
from leadflow.scoring.model import content_version

T = TypeVar("T")
ROUTING_FILE = "routing.yaml"
TOP_KEYS = ("users", "teams", "rules", "sla")
USER_KEYS = (
    *("id", "name", "email", "role", "team", "capacity", "daily_quota", "timezone"),
    *("hours", "holidays", "territories", "industries", "active"),
)
SALES_ONLY = ("capacity", "daily_quota", "territories", "industries")
TEAM_KEYS = ("id", "lead", "escalation")
RULE_KEYS = ("name", "when", "team", "strategy")
SLA_KEYS = ("first_touch", "follow_up", "recycle_after")
SLUG = re.compile(r"[a-z][a-z0-9_-]{0,63}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
MINUTES = re.compile(r"\s*[0-9]+\s*m\s*")


class Role(StrEnum):
    SALES = "sales"
    MARKETING = "marketing"
    ADMIN = "admin"


class Strategy(StrEnum):
    ROUND_ROBIN = "round_robin"
    TERRITORY = "territory"
    INDUSTRY = "industry"
    ACCOUNT_OWNER = "account_owner"


class Escalation(StrEnum):
    NOTIFY_LEAD = "notify_lead"
    REASSIGN = "reassign"


class RoutingProblem(StrEnum):
    """What is wrong in a routing file; the value is the stable ``code``."""

    SHAPE = "routing_shape"  # a list where a mapping belongs, text where a number belongs
    UNKNOWN_KEY = "routing_unknown_key"
    MISSING = "routing_missing"
    BAD_VALUE = "routing_bad_value"  # a bad id, email, timezone, country...
    DUPLICATE_ID = "routing_duplicate_id"
    UNKNOWN_ROLE = "routing_unknown_role"
    UNKNOWN_STRATEGY = "routing_unknown_strategy"
    UNKNOWN_TEAM = "routing_unknown_team"
    UNKNOWN_USER = "routing_unknown_user"  # a team lead who is not an (active) user
    BAD_CAPACITY = "routing_bad_capacity"
    BAD_QUOTA = "routing_bad_quota"
    EMPTY_TEAM = "routing_empty_team"  # no active sales user to assign to
    BAD_DURATION = "routing_bad_duration"
    CONFLICTING_RULES = "routing_conflicting_rules"  # a rule that can never match
    NOTHING_TO_MATCH = "routing_nothing_to_match"  # territory rule, no rep lists territories


P = RoutingProblem


class RoutingError(LocatedConfigError):
    """One problem in a routing file, located ``file:line``."""

    def __init__(self, problem: RoutingProblem, where: str, message: str) -> None:
        super().__init__(problem.value, where, message)


class RoutingConfigError(ConfigProblems):
    """Every problem found in one routing file (the reader goes on after the first),
    in the order of their lines."""

    code = "routing_invalid"


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str
    role: Role
    timezone: str = "UTC"  # an IANA zone: the user's local day and business hours
    team: str | None = None
    capacity: int = 0  # the round-robin weight; > 0 for sales users, 0 for the others
    daily_quota: int | None = None
    hours: Node | None = None  # as written, with lines, for routing.calendar to read
    holidays: Node | None = None
    territories: tuple[str, ...] = ()  # ISO 3166-1 alpha-2 codes
    industries: tuple[str, ...] = ()  # as written; matched case-insensitively
    active: bool = True
    at: str = _field(default="", compare=False)

    @property
    def assignable(self) -> bool:
        return self.active and self.role is Role.SALES and self.capacity > 0


@dataclass(frozen=True)
class Team:
    id: str
    lead: str
    escalation: Escalation = Escalation.NOTIFY_LEAD
    at: str = _field(default="", compare=False)


@dataclass(frozen=True)
class Rule:
    name: str
    team: str
    strategy: Strategy = Strategy.ROUND_ROBIN
    condition: Condition | None = None  # None: every prospect
    at: str = _field(default="", compare=False)


@dataclass(frozen=True)
class Sla:
    first_touch: timedelta | None = None  # business time of the owner
    follow_up: timedelta | None = None  # business time of the owner
    recycle_after: timedelta | None = None  # calendar time


@dataclass(frozen=True)
class RoutingConfig:
    users: tuple[User, ...]
    teams: tuple[Team, ...]
    rules: tuple[Rule, ...]  # in order: the first that matches routes the prospect
    sla: Sla = Sla()
    version: str = ""  # a hash of the file's text

    # Lookups for people and tools; assignment indexes the config once (routing.assign).
    def user(self, user_id: str) -> User | None:
        return next((u for u in self.users if u.id == user_id), None)

    def team(self, team_id: str) -> Team | None:
        return next((t for t in self.teams if t.id == team_id), None)


def load_config(path: Path) -> RoutingConfig:
    """Read a routing file; every problem in it raises together as a RoutingConfigError."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot read: {exc.strerror}") from None
    return parse_config(source, filename=path.name)


def parse_config(source: str, *, filename: str = ROUTING_FILE) -> RoutingConfig:
    problems: list[LocatedConfigError] = []
    parts = _collect(problems, lambda: _top(source, filename))
    if parts is None:
        raise RoutingConfigError(tuple(problems))
    nodes = {key: _items(parts[key], problems) for key in _REQUIRED}
    # Ids are gathered before the items are read, so that a reference to an item with a
    # problem of its own is not reported a second time as a reference to a missing one.
    claims = _user_teams(nodes["users"])
    team_ids = _team_ids(nodes["teams"])
    users = _read_all(problems, nodes["users"], partial(_user, teams=team_ids), _user_key)
    teams = _read_all(problems, nodes["teams"], partial(_team, users=claims), _team_key)
    rules = _read_all(problems, nodes["rules"], partial(_rule, teams=team_ids), _rule_key)
    sla = _collect(problems, lambda: _sla(parts.get("sla")))
    read = {u.id for u in users}
    broken_teams = {team for user, team in claims.items() if user not in read and team}
    problems += _team_problems(teams, users, broken_teams)
    problems += _rule_problems(rules, teams, users, broken_teams)
    if problems or sla is None:
        ordered: list[LocatedConfigError] = sorted(problems, key=_line)
        raise RoutingConfigError(ordered)
    return RoutingConfig(users, teams, rules, sla, version=content_version(source))


_REQUIRED = ("users", "teams", "rules")


def _top(source: str, filename: str) -> dict[str, Entry]:
    return _entries(from_yaml(source, filename), TOP_KEYS, "the routing file", _REQUIRED)


def _user_teams(nodes: tuple[Node, ...]) -> dict[str, str | None]:
    """Each user id written, and the team its entry names."""
    found: dict[str, str | None] = {}
    for values in map(_scalars, nodes):
        user, team = values.get("id"), values.get("team")
        if isinstance(user, str):
            found.setdefault(user, team if isinstance(team, str) else None)
    return found


def _team_ids(nodes: tuple[Node, ...]) -> frozenset[str]:
    return frozenset(v for v in (_scalars(n).get("id") for n in nodes) if isinstance(v, str))


def _scalars(node: Node) -> dict[str, object]:
    if node.kind != "mapping":
        return {}
    return {e.key: e.value.value for e in node.entries if e.value.kind == "scalar"}


def _read_all(
    problems: list[LocatedConfigError],
    nodes: tuple[Node, ...],
    read: Callable[[Node], T],
    key: Callable[[T], tuple[str, str, str]],
) -> tuple[T, ...]:
    """The items that read well, each id once (a repeated one is reported)."""
    kept: dict[str, str] = {}
    found: list[T] = []
    for node in nodes:
        item = _collect(problems, partial(read, node))
        if item is None:
            continue
        kind, name, at = key(item)
        if name in kept:
            message = f"{kind} {name!r} is already used at {kept[name]}"
            problems.append(RoutingError(P.DUPLICATE_ID, at, message))
            continue
        kept[name] = at
        found.append(item)
    return tuple(found)


def _user_key(user: User) -> tuple[str, str, str]:
    return "user id", user.id, user.at


def _team_key(team: Team) -> tuple[str, str, str]:
    return "team id", team.id, team.at


def _rule_key(rule: Rule) -> tuple[str, str, str]:
    return "rule name", rule.name, rule.at


def _collect(problems: list[LocatedConfigError], read: Callable[[], T]) -> T | None:
    try:
        return read()
    except LocatedConfigError as exc:  # ours, a condition's, the YAML syntax
        problems.append(exc)
    return None


def _line(problem: LocatedConfigError) -> int:
    _, _, line = problem.where.rpartition(":")
    return int(line) if line.isdigit() else 0


# -- reading values -------------------------------------------------------------------------


def _entries(
    node: Node, allowed: tuple[str, ...], what: str, required: tuple[str, ...] = ()
) -> dict[str, Entry]:
    """The keys of a mapping node, refusing unknown ones and requiring ``required``."""
    return mapping_entries(node, allowed, what, _shape_error, required=required)


def _shape_error(kind: str, where: str, message: str) -> RoutingError:
    problem = {"shape": P.SHAPE, "unknown_key": P.UNKNOWN_KEY, "missing": P.MISSING}
    return RoutingError(problem[kind], where, message)


def _items(entry: Entry, problems: list[LocatedConfigError]) -> tuple[Node, ...]:
    node = entry.value
    if node.kind != "list" or not node.items:
        problems.append(RoutingError(P.SHAPE, entry.at, f"{entry.key}: must be a list, not empty"))
        return ()
    return node.items


def _text(entry: Entry) -> str:
    value = entry.value.value
    if entry.value.kind != "scalar" or not isinstance(value, str) or not value.strip():
        raise RoutingError(P.SHAPE, entry.at, f"{entry.key}: expected text, got {value!r}")
    return value.strip()


def _slug(entry: Entry) -> str:
    value = _text(entry)
    if not SLUG.fullmatch(value):
        message = f"{entry.key} {value!r}: use lowercase letters, digits, _ and -"
        raise RoutingError(P.BAD_VALUE, entry.at, message)
    return value


def _choice(entry: Entry, choices: type[StrEnum], problem: RoutingProblem) -> str:
    value = _text(entry)
    allowed = [c.value for c in choices]
    if value not in allowed:
        hint = did_you_mean(value, allowed)
        message = f"unknown {entry.key} {value!r}{hint}; use {', '.join(allowed)}"
        raise RoutingError(problem, entry.at, message)
    return value


def _positive(entry: Entry, problem: RoutingProblem, advice: str) -> int:
    value = entry.value.value
    if entry.value.kind != "scalar" or isinstance(value, bool) or not isinstance(value, int):
        raise RoutingError(
            P.SHAPE, entry.at, f"{entry.key}: expected a whole number, got {value!r}"
        )
    if value < 1:
        raise RoutingError(problem, entry.at, f"{entry.key} {value} must be 1 or more ({advice})")
    return value


def _bool(entry: Entry) -> bool:
    value = entry.value.value
    if not isinstance(value, bool):
        raise RoutingError(P.SHAPE, entry.at, f"{entry.key}: expected true or false, got {value!r}")
    return value


def _list(entry: Entry | None, read: Callable[[Entry], T]) -> tuple[T, ...]:
    if entry is None:
        return ()
    if entry.value.kind != "list":
        raise RoutingError(P.SHAPE, entry.at, f"{entry.key}: expected a list")
    return tuple(read(Entry(entry.key, item.at, item)) for item in entry.value.items)


# -- users, teams, rules --------------------------------------------------------------------


def _user(node: Node, teams: frozenset[str]) -> User:
    parts = _entries(node, USER_KEYS, "a user", ("id", "name", "email", "role"))
    user_id = _slug(parts["id"])
    what = f"user {user_id!r}"
    role = Role(_choice(parts["role"], Role, P.UNKNOWN_ROLE))
    for key in SALES_ONLY if role is not Role.SALES else ():
        if key in parts:
            message = f"{what}: {key}: applies to sales users only"
            raise RoutingError(P.UNKNOWN_KEY, parts[key].at, message)
    return User(
        id=user_id,
        name=_text(parts["name"]),
        email=_email(parts["email"]),
        role=role,
        timezone=_timezone(parts, what, role),
        team=_user_team(parts, teams, what, role),
        capacity=_capacity(parts.get("capacity"), role),
        daily_quota=_quota(parts.get("daily_quota")),
        hours=parts["hours"].value if "hours" in parts else None,
        holidays=parts["holidays"].value if "holidays" in parts else None,
        territories=_list(parts.get("territories"), _country),
        industries=_list(parts.get("industries"), _text),
        active=_bool(parts["active"]) if "active" in parts else True,
        at=node.at,
    )


def _user_team(parts: dict[str, Entry], teams: frozenset[str], what: str, role: Role) -> str | None:
    if "team" not in parts:
        if role is Role.SALES:
            raise RoutingError(
                P.MISSING, parts["id"].at, f"{what} is a sales user and needs a team:"
            )
        return None
    team = _text(parts["team"])
    if team not in teams:
        message = f"{what} is in a missing team {team!r}{did_you_mean(team, teams)}"
        raise RoutingError(P.UNKNOWN_TEAM, parts["team"].at, message)
    return team


def _email(entry: Entry) -> str:
    value = _text(entry)
    if not EMAIL.fullmatch(value):
        raise RoutingError(P.BAD_VALUE, entry.at, f"email {value!r} is not an email address")
    return value


def _timezone(parts: dict[str, Entry], what: str, role: Role) -> str:
    if "timezone" not in parts:
        if role is Role.SALES:
            # A rep's local day (quotas) and business hours (SLAs) depend on it.
            raise RoutingError(
                P.MISSING, parts["id"].at, f"{what} is a sales user and needs a timezone:"
            )
        return "UTC"
    value = _text(parts["timezone"])
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        message = f"timezone {value!r} is not an IANA zone such as Europe/Madrid"
        raise RoutingError(P.BAD_VALUE, parts["timezone"].at, message) from None
    return value


def _capacity(entry: Entry | None, role: Role) -> int:
    if entry is None:
        return 1 if role is Role.SALES else 0
    # A zero weight never gets a turn yet counts as a member (Odoo's round robin crashed on
    # zero weights); a rep who should get nothing for a while is made inactive instead.
    return _positive(entry, P.BAD_CAPACITY, "set active: false to pause a rep")


def _quota(entry: Entry | None) -> int | None:
    return None if entry is None else _positive(entry, P.BAD_QUOTA, "or leave it out")


def _country(entry: Entry) -> str:
    value = _text(entry)
    try:
        return normalize_country(value)
    except ValidationError:
        raise RoutingError(P.BAD_VALUE, entry.at, f"territory {value!r} is not a country") from None


def _team(node: Node, users: Mapping[str, object]) -> Team:
    parts = _entries(node, TEAM_KEYS, "a team", ("id", "lead"))
    team_id = _slug(parts["id"])
    lead = _text(parts["lead"])
    if lead not in users:
        message = f"team {team_id!r}: lead {lead!r} is not a user{did_you_mean(lead, users)}"
        raise RoutingError(P.UNKNOWN_USER, parts["lead"].at, message)
    escalation = Escalation.NOTIFY_LEAD
    if "escalation" in parts:
        escalation = Escalation(_choice(parts["escalation"], Escalation, P.BAD_VALUE))
    return Team(team_id, lead, escalation, at=node.at)


def _rule(node: Node, teams: frozenset[str]) -> Rule:
    parts = _entries(node, RULE_KEYS, "a rule", ("name", "team"))
    name = _slug(parts["name"])
    team = _text(parts["team"])
    if team not in teams:
        hint = did_you_mean(team, teams)
        message = f"rule {name!r}: an assignment rule pointing at a missing team {team!r}{hint}"
        raise RoutingError(P.UNKNOWN_TEAM, parts["team"].at, message)
    strategy = Strategy.ROUND_ROBIN
    if "strategy" in parts:
        strategy = Strategy(_choice(parts["strategy"], Strategy, P.UNKNOWN_STRATEGY))
    when = parts.get("when")
    condition = parse_node(when.value, scope=Scope.CONTACT) if when is not None else None
    return Rule(name, team, strategy, condition, at=node.at)


# -- checks across items --------------------------------------------------------------------


def _team_problems(
    teams: tuple[Team, ...], users: tuple[User, ...], broken: set[str]
) -> list[LocatedConfigError]:
    """Teams nobody can be assigned in, or whose lead cannot be told of an escalation.
    (Teams named by users that did not read well are given the benefit of the doubt.)"""
    by_id = {u.id: u for u in users}
    problems: list[LocatedConfigError] = []
    for team in teams:
        lead = by_id.get(team.lead)
        if lead is not None and not lead.active:
            message = f"team {team.id!r}: lead {lead.id!r} is inactive"
            problems.append(RoutingError(P.UNKNOWN_USER, team.at, message))
        if team.id not in broken and not any(u.assignable and u.team == team.id for u in users):
            message = f"team {team.id!r} has no active sales user to assign to"
            problems.append(RoutingError(P.EMPTY_TEAM, team.at, message))
    return problems


def _rule_problems(
    rules: tuple[Rule, ...], teams: tuple[Team, ...], users: tuple[User, ...], broken: set[str]
) -> list[LocatedConfigError]:
    """Rules that can never match, and territory or industry rules with nothing to match
    on (they would quietly be plain round robin)."""
    problems = _unreachable(rules)
    known = {t.id for t in teams} - broken
    for rule in rules:
        if rule.team not in known or rule.strategy not in (Strategy.TERRITORY, Strategy.INDUSTRY):
            continue
        key = "territories" if rule.strategy is Strategy.TERRITORY else "industries"
        if not any(u.team == rule.team and u.assignable and getattr(u, key) for u in users):
            message = (
                f"rule {rule.name!r} routes by {rule.strategy} but no active sales user of "
                f"team {rule.team!r} lists {key}"
            )
            problems.append(RoutingError(P.NOTHING_TO_MATCH, rule.at, message))
    return problems


def _unreachable(rules: tuple[Rule, ...]) -> list[LocatedConfigError]:
    """Rules after one that takes every prospect, or repeating the condition of one above
    them (conditions compare equal wherever they are written)."""
    problems: list[LocatedConfigError] = []
    catch_all: Rule | None = None
    seen: dict[Condition, Rule] = {}
    for rule in rules:
        earlier = catch_all
        if earlier is None and rule.condition is not None:
            earlier = seen.get(rule.condition)
        if earlier is not None:
            why = "has no when:" if earlier.condition is None else "has the same when:"
            message = (
                f"conflicting rules: rule {rule.name!r} can never match; rule "
                f"{earlier.name!r} at {earlier.at} {why} and comes first"
            )
            problems.append(RoutingError(P.CONFLICTING_RULES, rule.at, message))
        elif rule.condition is None:
            catch_all = rule
        else:
            seen.setdefault(rule.condition, rule)
    return problems


# -- sla ------------------------------------------------------------------------------------


def _sla(entry: Entry | None) -> Sla:
    if entry is None:
        return Sla()
    parts = _entries(entry.value, SLA_KEYS, "sla:")
    return Sla(**{key: _duration(part) for key, part in parts.items()})


def _duration(entry: Entry) -> timedelta:
    value = entry.value.value
    if isinstance(value, str) and MINUTES.fullmatch(value):
        # The condition language refuses m (minutes or months?); say what to write here.
        message = f"sla {entry.key}: {value!r}: write minutes as min, e.g. 30min"
        raise RoutingError(P.BAD_DURATION, entry.at, message)
    try:
        return parse_duration(value)
    except TimeSyntaxError as exc:
        raise RoutingError(P.BAD_DURATION, entry.at, f"sla {entry.key}: {exc}") from None
