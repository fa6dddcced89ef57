"""Picking an owner for a prospect: the first rule whose condition holds names a team and a
strategy, and the strategy names a rep of that team.

Pure: the caller hands over the config, the contact's snapshot, the routing state and the
time; :meth:`Router.assign` returns the :class:`Assignment` and the new state, leaving the
one it was given untouched, so that the storage layer can persist the new one with the
assignment (or drop both).

Round robin is weighted by capacity and *smooth*: the state holds nginx's current weights
(each turn every candidate gains its capacity and the chosen one gives back the total). Among
the candidates whose current weight is positive (those who would not get ahead of their
share by taking this one), the one that would otherwise first fall a whole prospect behind
its share is chosen, ties in the order of ``routing.yaml``. That is the Balinski-Young quota
method written in nginx's terms: over every prefix of assignments each rep's count stays
within one of its capacity share, where nginx's own choice (the largest current weight)
strays past one for some capacities, e.g. ``[1, 2, 3, 1, 1, 10, 94, 7, 82]``. Equal
capacities take turns.

The state is plain data (JSON as it stands)::

    {"weights": {pool: {user_id: current_weight}},   # pool: "emea", "emea/territory/ES",
                                                      #   "emea/industry/software"
     "today": {user_id: {"day": local_date_ordinal, "count": assignments_that_day}}}

A count from another day than the user's local day at ``now`` counts as 0, so quotas reset
at each rep's own midnight. A pool whose members changed since its weights were saved starts
again from zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict
from zoneinfo import ZoneInfo

from leadflow.routing.config import RoutingConfig, Rule, Strategy, User
from leadflow.rules import Snapshot, matches
from leadflow.rules.vocabulary import fold


class DayCount(TypedDict):
    day: int  # the user's local date, as date.toordinal()
    count: int


class RoutingState(TypedDict):
    weights: dict[str, dict[str, int]]  # pool -> user id -> current weight
    today: dict[str, DayCount]  # user id -> assignments on their local day


def new_state() -> RoutingState:
    return {"weights": {}, "today": {}}


@dataclass(frozen=True)
class Assignment:
    """Who gets the prospect, and why; ``user_id`` None: nobody now (the caller queues it)."""

    user_id: str | None
    rule: str | None  # the rule that matched (None: none did)
    strategy: Strategy | None
    reason: str
    team: str | None = None


@dataclass(frozen=True)
class _Member:
    id: str
    capacity: int
    quota: int | None
    zone: ZoneInfo


@dataclass(frozen=True)
class _Pool:
    """Reps who take turns together, and the state key of their current weights."""

    key: str
    label: str  # for reasons: "team emea", "team emea covering ES"
    turns: tuple[tuple[str, int], ...]  # (user id, capacity) in routing.yaml's order (ties)
    ids: frozenset[str]
    total: int  # of the capacities
    quotas: tuple[tuple[str, int, ZoneInfo], ...]  # (user id, quota, zone) of those with one
    reason: str  # when one of them is chosen


def _pool(key: str, label: str, members: tuple[_Member, ...]) -> _Pool:
    turns = tuple((m.id, m.capacity) for m in members)
    quotas = tuple((m.id, m.quota, m.zone) for m in members if m.quota is not None)
    return _Pool(
        key,
        label,
        turns,
        frozenset(m.id for m in members),
        sum(m.capacity for m in members),
        quotas,
        f"round robin in {label}",
    )


class _Days:
    """Local dates at ``now``, one ``astimezone`` per zone and call."""

    def __init__(self, now: datetime, today: Mapping[str, DayCount]) -> None:
        self._now = now
        self._today = today
        self._days: dict[ZoneInfo, int] = {}

    def day(self, zone: ZoneInfo) -> int:
        day = self._days.get(zone)
        if day is None:
            day = self._days[zone] = self._now.astimezone(zone).toordinal()
        return day

    def count(self, user_id: str, zone: ZoneInfo) -> int:
        entry = self._today.get(user_id)
        return entry["count"] if entry is not None and entry["day"] == self.day(zone) else 0

    def full(self, member: _Member) -> bool:
        return member.quota is not None and self.count(member.id, member.zone) >= member.quota

    def at_quota(self, pool: _Pool) -> set[str]:
        today, full = self._today, set()
        for user, quota, zone in pool.quotas:
            entry = today.get(user)
            # The count first: most reps are below quota, and the day costs a zone lookup.
            if entry is not None and entry["count"] >= quota and entry["day"] == self.day(zone):
                full.add(user)
        return full


class Router:
    """Assignment for one config. Building it indexes the config once (pools per team,
    territory and industry; time zones), so that each assignment only looks things up."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        zones = {tz: ZoneInfo(tz) for tz in {u.timezone for u in config.users}}
        self._members = {u.id: _member(u, zones) for u in config.users}
        self._active = frozenset(u.id for u in config.users if u.active)
        self._teams: dict[str, _Pool] = {}
        self._territories: dict[tuple[str, str], _Pool] = {}
        self._industries: dict[tuple[str, str], _Pool] = {}
        for team in config.teams:
            reps = [u for u in config.users if u.team == team.id and u.assignable]
            if reps:
                self._index_team(team.id, reps)

    def _index_team(self, team: str, reps: list[User]) -> None:
        members = self._members
        self._teams[team] = _pool(team, f"team {team}", tuple(members[u.id] for u in reps))
        for country in dict.fromkeys(c for u in reps for c in u.territories):
            covering = tuple(members[u.id] for u in reps if country in u.territories)
            label = f"team {team} covering {country}"
            self._territories[team, country] = _pool(f"{team}/territory/{country}", label, covering)
        for industry in dict.fromkeys(fold(i) for u in reps for i in u.industries):
            serving = tuple(members[u.id] for u in reps if industry in map(fold, u.industries))
            label = f"team {team} for {industry}"
            self._industries[team, industry] = _pool(f"{team}/industry/{industry}", label, serving)

    def assign(
        self,
        snapshot: Snapshot,
        state: RoutingState,
        *,
        now: datetime,
        account_owner: str | None = None,
        country: str | None = None,
        industry: str | None = None,
        exclude: frozenset[str] = frozenset(),
    ) -> tuple[Assignment, RoutingState]:
        """The owner for one prospect by the first rule that matches ``snapshot``, and the
        state after it (``state`` itself is not changed). ``now`` must be timezone-aware.
        ``exclude`` sits reps out as if at quota (a reassignment away from a late owner)."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        rule = next((r for r in self.config.rules if _matches(r, snapshot)), None)
        if rule is None:
            return Assignment(None, None, None, "no routing rule matches"), state
        days = _Days(now, state["today"])
        keeps = rule.strategy is Strategy.ACCOUNT_OWNER and account_owner not in exclude
        if keeps and account_owner in self._active:
            return self._keep_owner(rule, account_owner or "", state, days)
        pool, why = self._candidates(rule, country, industry, account_owner)
        if pool is None:
            return _nobody(rule, f"team {rule.team} has no active sales user"), state
        return self._round_robin(rule, pool, why, state, days, exclude)

    def _candidates(
        self, rule: Rule, country: str | None, industry: str | None, owner: str | None
    ) -> tuple[_Pool | None, str]:
        """The reps who take turns for this prospect, and what led there (for the reason)."""
        team = self._teams.get(rule.team)
        if rule.strategy is Strategy.TERRITORY:
            code = (country or "").strip().upper()
            found = self._territories.get((rule.team, code))
            return (found, "") if found else (team, f"nobody covers {code or 'no country'}; ")
        if rule.strategy is Strategy.INDUSTRY:
            name = fold((industry or "").strip())
            found = self._industries.get((rule.team, name))
            return (found, "") if found else (team, f"nobody serves {name or 'no industry'}; ")
        if rule.strategy is Strategy.ACCOUNT_OWNER:
            why = f"owner {owner} is not an active user; " if owner else "no account owner; "
            return team, why
        return team, ""

    def _keep_owner(
        self, rule: Rule, owner: str, state: RoutingState, days: _Days
    ) -> tuple[Assignment, RoutingState]:
        member = self._members[owner]
        if days.full(member):
            # Queued for the owner rather than split the account across reps.
            return _nobody(rule, f"account owner {owner} is at their daily quota"), state
        done = Assignment(owner, rule.name, rule.strategy, f"{owner} owns the account", rule.team)
        return done, _counted(state, member, days)

    def _round_robin(
        self,
        rule: Rule,
        pool: _Pool,
        why: str,
        state: RoutingState,
        days: _Days,
        exclude: frozenset[str] = frozenset(),
    ) -> tuple[Assignment, RoutingState]:
        full = days.at_quota(pool) | (exclude & pool.ids)
        if len(full) == len(pool.turns):
            reason = f"{why}every owner of {pool.label} is at their daily quota"
            if exclude & pool.ids:
                reason = f"{why}no other owner in {pool.label} can take it"
            return _nobody(rule, reason), state
        weights = state["weights"].get(pool.key)
        if weights is None or weights.keys() != pool.ids:
            weights = dict.fromkeys(pool.ids, 0)
        chosen, weights = _turn(pool, weights, full)
        reason = f"{why}round robin in {pool.label}" if why else pool.reason
        done = Assignment(chosen, rule.name, rule.strategy, reason, rule.team)
        after = _counted(state, self._members[chosen], days)
        after["weights"] = {**state["weights"], pool.key: weights}
        return done, after


def _member(user: User, zones: Mapping[str, ZoneInfo]) -> _Member:
    return _Member(user.id, user.capacity, user.daily_quota, zones[user.timezone])


def _matches(rule: Rule, snapshot: Snapshot) -> bool:
    return rule.condition is None or matches(rule.condition, snapshot)


def _nobody(rule: Rule, reason: str) -> Assignment:
    return Assignment(None, rule.name, rule.strategy, reason, rule.team)


def _turn(pool: _Pool, weights: dict[str, int], full: set[str]) -> tuple[str, dict[str, int]]:
    """One round-robin turn among the members not ``full``, who keep their weights (a rep
    at quota neither takes a turn nor banks one for tomorrow). This runs for every
    assignment, hence the plain loop over prepared pairs."""
    turns, total = pool.turns, pool.total
    if full:
        turns = tuple((user, capacity) for user, capacity in turns if user not in full)
        total = sum(capacity for _, capacity in turns)
    after = dict(weights)
    chosen, soonest = "", math.inf
    for user, capacity in turns:
        current = after[user] + capacity
        after[user] = current
        if current > 0:
            # Turns until this member falls a whole prospect behind its share if passed over.
            wait = (total - current) / capacity
            if wait < soonest:
                chosen, soonest = user, wait
    if not chosen:  # no weight above 0: possible only while reps sit out at their quota
        chosen = max((user for user, _ in turns), key=after.__getitem__)
    after[chosen] -= total
    return chosen, after


def _counted(state: RoutingState, member: _Member, days: _Days) -> RoutingState:
    """``state`` with one more assignment on ``member``'s local day."""
    day = days.day(member.zone)
    count = days.count(member.id, member.zone) + 1
    today = {**state["today"], member.id: DayCount(day=day, count=count)}
    return {"weights": state["weights"], "today": today}
