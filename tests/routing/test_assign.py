"""Picking an owner: rules in order, the four strategies, fairness at every prefix, quotas
on each rep's own local day, and a state that is plain data."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.routing.assign import Assignment, Router, RoutingState, new_state
from leadflow.routing.config import (
    Role,
    RoutingConfig,
    Rule,
    Strategy,
    Team,
    User,
    parse_config,
)
from leadflow.rules import Snapshot, parse_condition

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def rep(user_id: str, **overrides: Any) -> User:
    values: dict[str, Any] = {
        "name": user_id.title(),
        "email": f"{user_id}@example.com",
        "role": Role.SALES,
        "team": "emea",
        "capacity": 1,
        "timezone": "UTC",
        **overrides,
    }
    return User(user_id, **values)


def router(*users: User, rules: tuple[Rule, ...] | None = None) -> Router:
    teams = dict.fromkeys(u.team for u in users if u.team)
    return Router(
        RoutingConfig(
            users=users,
            teams=tuple(Team(t, lead=users[0].id) for t in teams),
            rules=rules or (Rule("everyone", "emea"),),
        )
    )


def snapshot(now: datetime = NOW, **account: Any) -> Snapshot:
    return Snapshot(
        contact={"country": "ES", "properties": {}},
        now=now,
        account={"employee_count": 10, "industry": "Software", "properties": {}, **account},
    )


def run(
    routing: Router, count: int, state: RoutingState | None = None, **kwargs: Any
) -> tuple[list[str | None], RoutingState]:
    """Who gets each of ``count`` prospects in a row."""
    state = state if state is not None else new_state()
    kwargs.setdefault("now", NOW)
    owners = []
    for _ in range(count):
        done, state = routing.assign(snapshot(kwargs["now"]), state, **kwargs)
        owners.append(done.user_id)
    return owners, state


def assert_fair_at_every_prefix(owners: list[str | None], capacities: dict[str, int]) -> None:
    """After every assignment, each rep's count is within one of its capacity share
    (compared in whole numbers: |count * total - n * capacity| < total)."""
    total = sum(capacities.values())
    counts = dict.fromkeys(capacities, 0)
    for n, owner in enumerate(owners, 1):
        assert owner is not None
        counts[owner] += 1
        for user, capacity in capacities.items():
            assert abs(counts[user] * total - n * capacity) < total, (n, user, counts)


# -- round robin ----------------------------------------------------------------------------


def test_ten_thousand_assignments_stay_within_one_of_each_share_at_every_prefix():
    capacities = dict(zip("abcde", [1, 2, 3, 5, 1], strict=True))
    routing = router(*(rep(u, capacity=c) for u, c in capacities.items()))

    owners, _ = run(routing, 10_000)

    assert_fair_at_every_prefix(owners, capacities)
    assert Counter(owners) == {"a": 833, "b": 1667, "c": 2500, "d": 4167, "e": 833}


def test_capacities_where_nginx_own_choice_strays_past_one_stay_within_one():
    capacities = {f"r{i}": c for i, c in enumerate([1, 2, 3, 1, 1, 10, 94, 7, 82])}
    routing = router(*(rep(u, capacity=c) for u, c in capacities.items()))

    owners, _ = run(routing, 3 * sum(capacities.values()))

    assert_fair_at_every_prefix(owners, capacities)


@settings(max_examples=200, deadline=None)
@given(
    capacities=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=9),
    count=st.integers(min_value=1, max_value=600),
)
def test_any_capacities_stay_within_one_of_their_share_at_every_prefix(
    capacities: list[int], count: int
):
    shares = {f"r{i}": c for i, c in enumerate(capacities)}
    routing = router(*(rep(u, capacity=c) for u, c in shares.items()))

    owners, _ = run(routing, count)

    assert_fair_at_every_prefix(owners, shares)


def test_equal_capacities_take_turns():
    routing = router(rep("ana"), rep("bob"), rep("cy"))

    owners, _ = run(routing, 30)

    assert owners == ["ana", "bob", "cy"] * 10


def test_the_state_is_plain_data_that_survives_json_and_is_never_changed_in_place():
    routing = router(rep("ana", capacity=2), rep("bob", daily_quota=50))
    first, state = run(routing, 7)
    before = copy.deepcopy(state)

    reloaded = json.loads(json.dumps(state))
    through_json, _ = run(routing, 5, reloaded)
    direct, _ = run(routing, 5, state)

    assert through_json == direct
    assert state == before
    assert set(state) == {"weights", "today"}
    assert set(state["weights"]["emea"]) == {"ana", "bob"}
    assert state["today"]["bob"] == {"day": NOW.date().toordinal(), "count": first.count("bob")}


def test_a_pool_whose_members_changed_starts_again_from_zero():
    _, state = run(router(rep("ana"), rep("bob")), 1)

    owners, _ = run(router(rep("ana"), rep("bob"), rep("cy")), 3, state)

    assert owners == ["ana", "bob", "cy"]


def test_inactive_reps_and_other_roles_are_never_assigned():
    routing = router(
        rep("ana"), rep("bob", active=False), rep("dee", role=Role.MARKETING, capacity=0)
    )

    owners, _ = run(routing, 4)

    assert owners == ["ana"] * 4


def test_now_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        router(rep("ana")).assign(snapshot(), new_state(), now=datetime(2026, 11, 2, 9))


# -- daily quotas ---------------------------------------------------------------------------


def test_a_rep_at_quota_is_skipped_without_losing_a_turn():
    routing = router(rep("ana", daily_quota=2), rep("bob"), rep("cy"))

    owners, _ = run(routing, 8)

    # ana takes 2, then bob and cy share; ana's skipped turns are neither used nor owed.
    assert owners == ["ana", "bob", "cy", "ana", "bob", "cy", "bob", "cy"]


def test_when_every_rep_is_at_quota_nobody_is_assigned_and_the_reason_says_so():
    routing = router(rep("ana", daily_quota=1), rep("bob", daily_quota=2))
    _, state = run(routing, 3)

    done, after = routing.assign(snapshot(), state, now=NOW)

    assert done == Assignment(
        None,
        "everyone",
        Strategy.ROUND_ROBIN,
        "every owner of team emea is at their daily quota",
        "emea",
    )
    assert after == state


def test_quotas_reset_at_each_reps_own_midnight():
    # At 10:30 UTC on 2 Nov it is 23:30 in Auckland (UTC+13) and 02:30 in Los Angeles.
    evening = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
    routing = router(
        rep("kiri", daily_quota=1, timezone="Pacific/Auckland"),
        rep("lee", daily_quota=1, timezone="America/Los_Angeles"),
    )
    owners, state = run(routing, 3, now=evening)
    assert owners == ["kiri", "lee", None]

    # An hour later it is a new day in Auckland only.
    owners, state = run(routing, 2, state, now=evening + timedelta(hours=1))
    assert owners == ["kiri", None]

    # At 08:00 UTC on 3 Nov it is midnight in Los Angeles, still 3 Nov in Auckland.
    owners, _ = run(routing, 2, state, now=datetime(2026, 11, 3, 8, 0, tzinfo=UTC))
    assert owners == ["lee", None]


# -- territory, industry, account owner ----------------------------------------------------


def test_territory_round_robin_among_the_reps_covering_the_country():
    routing = router(
        rep("ana", territories=("ES", "PT")),
        rep("bob", territories=("ES",)),
        rep("cy", territories=("FR",)),
        rules=(Rule("by_country", "emea", Strategy.TERRITORY),),
    )

    spain, _ = run(routing, 4, country="es")
    france, _ = run(routing, 2, country="FR")

    assert spain == ["ana", "bob", "ana", "bob"]
    assert france == ["cy", "cy"]


def test_territory_falls_back_to_the_whole_team_when_nobody_covers_the_country():
    routing = router(
        rep("ana", territories=("ES",)),
        rep("bob", territories=("FR",)),
        rules=(Rule("by_country", "emea", Strategy.TERRITORY),),
    )

    done, _ = routing.assign(snapshot(), new_state(), now=NOW, country="DE")
    owners, _ = run(routing, 4, country=None)

    assert done.reason == "nobody covers DE; round robin in team emea"
    assert owners == ["ana", "bob", "ana", "bob"]


def test_industry_matches_whatever_the_case():
    routing = router(
        rep("ana", industries=("Software",)),
        rep("bob", industries=("Retail", "software")),
        rep("cy", industries=("Banking",)),
        rules=(Rule("by_industry", "emea", Strategy.INDUSTRY),),
    )

    software, _ = run(routing, 4, industry="SOFTWARE")
    done, _ = routing.assign(snapshot(), new_state(), now=NOW, industry="Mining")

    assert software == ["ana", "bob", "ana", "bob"]
    assert done.reason == "nobody serves mining; round robin in team emea"


def owner_router(*extra: User) -> Router:
    return router(
        rep("ana"),
        rep("bob"),
        rep("old", active=False),
        *extra,
        rules=(Rule("keep_owner", "emea", Strategy.ACCOUNT_OWNER),),
    )


def test_the_account_owner_keeps_the_account_from_any_team():
    routing = owner_router(rep("zoe", team="amer"))

    done, state = routing.assign(snapshot(), new_state(), now=NOW, account_owner="zoe")

    assert (done.user_id, done.reason) == ("zoe", "zoe owns the account")
    assert state["today"]["zoe"]["count"] == 1
    assert state["weights"] == {}


@pytest.mark.parametrize(
    ("owner", "why"),
    [
        ("old", "owner old is not an active user; "),
        ("ghost", "owner ghost is not an active user; "),
        (None, "no account owner; "),
    ],
)
def test_without_an_active_owner_the_team_takes_turns(owner: str | None, why: str):
    routing = owner_router()

    owners, _ = run(routing, 3, account_owner=owner)
    done, _ = routing.assign(snapshot(), new_state(), now=NOW, account_owner=owner)

    assert owners == ["ana", "bob", "ana"]
    assert done.reason == f"{why}round robin in team emea"


def test_an_owner_at_quota_keeps_the_account_in_the_queue():
    routing = owner_router(rep("zoe", daily_quota=1))
    _, state = routing.assign(snapshot(), new_state(), now=NOW, account_owner="zoe")

    done, _ = routing.assign(snapshot(), state, now=NOW, account_owner="zoe")

    assert (done.user_id, done.reason) == (None, "account owner zoe is at their daily quota")


# -- rules ----------------------------------------------------------------------------------

CONFIG = """\
users:
  - {id: ana, name: Ana, email: ana@example.com, role: sales, team: big, timezone: UTC}
  - {id: bob, name: Bob, email: bob@example.com, role: sales, team: big, timezone: UTC}
  - {id: cy, name: Cy, email: cy@example.com, role: sales, team: rest, timezone: UTC}
teams:
  - {id: big, lead: ana}
  - {id: rest, lead: cy}
rules:
  - name: spanish_enterprise
    when:
      all:
        - {account.employee_count: {gte: 1000}}
        - {contact.country: {in: [ES, PT]}}
    team: big
  - name: pricing_visitors
    when: {activity: {type: page_view, where: {properties.path: {starts_with: /pricing}}}}
    team: big
  - name: everyone_else
    team: rest
"""


def test_the_first_rule_whose_condition_holds_wins():
    routing = Router(parse_config(CONFIG))

    big, _ = routing.assign(snapshot(employee_count=5000), new_state(), now=NOW)
    small, _ = routing.assign(snapshot(employee_count=50), new_state(), now=NOW)

    assert (big.rule, big.team, big.user_id) == ("spanish_enterprise", "big", "ana")
    assert (small.rule, small.team, small.user_id) == ("everyone_else", "rest", "cy")


def test_conditions_mean_what_they_mean_in_the_condition_language():
    routing = Router(parse_config(CONFIG))
    visit = {"id": 1, "type": "page_view", "occurred_at": NOW, "source": None}
    visitor = Snapshot(
        contact={"country": "FR", "properties": {}},
        now=NOW,
        account={"employee_count": 5000, "properties": {}},
        activities=[{**visit, "properties": {"path": "/Pricing/teams"}}],
    )

    done, _ = routing.assign(visitor, new_state(), now=NOW)

    assert done.rule == "pricing_visitors"
    assert routing.config.rules[1].condition == parse_condition(
        {
            "activity": {
                "type": "page_view",
                "where": {"properties.path": {"starts_with": "/pricing"}},
            }
        }
    )


def test_no_matching_rule_assigns_nobody():
    only_big = (
        Rule("big", "emea", condition=parse_condition({"account.employee_count": {"gte": 1000}})),
    )
    routing = router(rep("ana"), rules=only_big)

    done, state = routing.assign(snapshot(), new_state(), now=NOW)

    assert done == Assignment(None, None, None, "no routing rule matches")
    assert state == new_state()


def test_an_excluded_rep_sits_out_without_using_a_turn_or_quota():
    routing = router(rep("ann", daily_quota=5), rep("bob"))

    owners, state = run(routing, 4, exclude=frozenset({"ann"}))

    assert owners == ["bob"] * 4
    assert "ann" not in state["today"]
    alone = router(rep("ann"))
    done, _ = alone.assign(snapshot(), new_state(), now=NOW, exclude=frozenset({"ann"}))
    assert (done.user_id, done.reason) == (None, "no other owner in team emea can take it")
