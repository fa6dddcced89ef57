"""The incremental path gives the reference's answer: random models and event streams, replayed
one event at a time and scored from the whole snapshot, agree to 1e-9, caps and decay included."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.rules import Snapshot
from leadflow.scoring import (
    ContactState,
    Score,
    parse_model,
    read_score,
    record_event,
    score_contact,
    score_stream,
)
from leadflow.scoring.engine import fit_contributions
from leadflow.scoring.model import ScoringModel
from leadflow.scoring.state import StoredState, dump_state, fold_events
from tests.scoring.models import (
    GRADES,
    GROUPS,
    NOW,
    RULES,
    activity,
    contact,
    model,
    random_model_text,
)

TYPES = ("pricing_page_view", "demo_requested", "email_bounced", "page_view")


@st.composite
def models(draw: st.DrawFn) -> ScoringModel:
    text = random_model_text(
        draw(st.sampled_from(["1h", "2d", "10d", "45d", "none"])),
        draw(st.sampled_from(["", "per_day: 1", "per_day: 3"])),
        draw(st.sampled_from(["", "total: 2", "total: 7"])),
        draw(st.sampled_from([1, 2.5, 10])),
        draw(st.sampled_from([40, 1000])),
    )
    return parse_model(text, filename="scoring.yaml")


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events in recorded order (their ids); their dates wander, so some arrive late."""
    count = draw(st.integers(0, 40))
    events = []
    for id_ in range(1, count + 1):
        at = NOW - timedelta(minutes=draw(st.integers(0, 60 * 24 * 60)))
        path = draw(st.sampled_from(["/pricing", "/demo", "/jobs"]))
        events.append(activity(id_, draw(st.sampled_from(TYPES)), at, path=path))
    return events


def assert_same(incremental: Score, reference: Score) -> None:
    close = pytest.approx
    assert incremental.fit == close(reference.fit, rel=1e-9, abs=1e-9)
    assert incremental.engagement == close(reference.engagement, rel=1e-9, abs=1e-9)
    assert incremental.total == close(reference.total, rel=1e-9, abs=1e-9)
    for mine, theirs in zip(incremental.groups, reference.groups, strict=True):
        assert mine.value == close(theirs.value, rel=1e-9, abs=1e-9)
    rules = {c.rule: (c.occurrences, c.value) for c in reference.contributions if c.occurrences}
    for c in incremental.contributions:
        assert (c.occurrences, c.value) == (rules[c.rule][0], close(rules[c.rule][1], abs=1e-9))
    assert {c.rule for c in incremental.contributions} == set(rules)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=models(), events=streams(), later=st.integers(0, 90 * 24))
def test_replaying_events_one_by_one_equals_scoring_the_whole_history(
    model: ScoringModel, events: list[dict[str, Any]], later: int
):
    now = NOW + timedelta(hours=later)
    snapshot = contact(*events)

    assert_same(score_stream(model, snapshot, events, now), score_contact(model, snapshot, now))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=models(), events=streams(), cuts=st.lists(st.integers(0, 40), max_size=4))
def test_folding_batches_into_the_stored_form_equals_recording_the_events_one_by_one(
    model: ScoringModel, events: list[dict[str, Any]], cuts: list[int]
):
    # The ingest path folds each batch into the state as stored (JSON between batches);
    # the replay path records event by event into objects. Same stored state, exactly.
    state = ContactState()
    for event in events:
        state = record_event(model, state, event)
    stored: dict[str, Any] = {"fit": [], "rules": {}}
    bounds = [0, *sorted(c for c in cuts if c < len(events)), len(events)]
    for start, end in pairwise(bounds):
        stored = orjson.loads(orjson.dumps(stored))
        fold_events(model, stored["rules"], events[start:end])

    assert stored == dump_state(StoredState((), state))


def test_folding_reports_whether_anything_scored():
    current = model(GROUPS, RULES, GRADES)
    rules: dict[str, Any] = {}

    assert fold_events(current, rules, [activity(1, "pricing_page_view", NOW, path="/pricing")])
    assert not fold_events(current, rules, [activity(2, "no_rule_reads_this", NOW)])
    assert rules
    assert all(raw[2] == 1 for raw in rules.values())


def test_the_state_can_be_read_between_events():
    demo_on_path = RULES.replace(
        "properties.form: {eq: demo-request}", "properties.path: {eq: /demo}"
    )
    current = model(GROUPS, demo_on_path, GRADES)
    state = record_event(current, ContactState(), activity(1, "demo_requested", NOW, path="/demo"))
    fit = fit_contributions(current, Snapshot(contact={}, now=NOW))
    first = read_score(current, state, fit, NOW + timedelta(days=10))

    state = record_event(current, state, activity(2, "email_bounced", NOW + timedelta(days=10)))
    second = read_score(current, state, fit, NOW + timedelta(days=10))

    assert first.engagement == pytest.approx(15.0, rel=1e-12)
    assert second.engagement == pytest.approx(0.0, abs=1e-12)
