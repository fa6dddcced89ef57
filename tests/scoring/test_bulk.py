"""The set-based path: the array engine against replaying events through decay.apply, and a
whole-workspace rescore (read through ADBC on SQLite) against the incremental scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import leadflow.scoring.bulk as bulk
import leadflow.scoring.rewrite as rewrite
from leadflow.activity.inputs import EventInput
from leadflow.activity.service import record_events
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import AccountInput, ContactInput
from leadflow.contacts.models import contacts
from leadflow.contacts.service import capture_contact
from leadflow.scoring.columnar import rule_sums
from leadflow.scoring.decay import EMPTY, apply, to_micros
from leadflow.scoring.model import Cap
from leadflow.scoring.models import contact_scores
from leadflow.scoring.service import active_model, current_score, rescore
from leadflow.scoring.state import load_state
from leadflow.workspace import Workspace
from tests.scoring.models import GRADES, GROUPS, RULES

T0 = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)  # near midnight: events fall on two days


@st.composite
def occurrences(draw: st.DrawFn) -> list[tuple[int, int]]:
    """(contact, microseconds after T0) in recorded order: late events included."""
    return draw(
        st.lists(
            st.tuples(
                st.integers(1, 4),
                st.integers(0, 3 * 86_400_000_000),
            ),
            max_size=60,
        )
    )


@settings(max_examples=300, deadline=None)
@given(
    events=occurrences(),
    per_day=st.sampled_from([None, 1, 2]),
    total=st.sampled_from([None, 1, 3, 10]),
    half_life=st.sampled_from([None, 3_600_000_000, 86_400_000_000]),
    points=st.sampled_from([1.0, 2.5, -15.0]),
    spread=st.sampled_from([1, 2**60]),  # ids too far apart to pack take the lexsort path
)
def test_the_array_engine_equals_replaying_each_occurrence(
    events: list[tuple[int, int]],
    per_day: int | None,
    total: int | None,
    half_life: int | None,
    points: float,
    spread: int,
):
    events = [(c * spread, m) for c, m in events]
    contact = np.array([c for c, _ in events], dtype=np.int64)
    at = np.array([to_micros(T0) + m for _, m in events], dtype=np.int64)
    found = rule_sums(contact, at, points=points, per_day=per_day, total=total, half_life=half_life)
    cap = Cap(per_day=per_day, total=total)
    life = timedelta(microseconds=half_life) if half_life is not None else None
    expected: dict[int, Any] = {}
    for c, m in events:
        expected[c] = apply(
            expected.get(c, EMPTY), T0 + timedelta(microseconds=m), points, cap, life
        )
    assert found.contacts.tolist() == sorted(expected)
    for i, c in enumerate(found.contacts.tolist()):
        state = expected[c]
        assert found.total[i] == state.total
        assert found.ref[i] == to_micros(state.ref)
        assert found.value[i] == pytest.approx(state.value, rel=1e-12, abs=1e-12)
        days = found.day_contacts == c
        mine = dict(zip(found.days[days].tolist(), found.day_counts[days].tolist(), strict=True))
        assert mine == (dict(state.days) if per_day is not None else {})


def test_no_occurrences_give_no_sums():
    empty = np.empty(0, dtype=np.int64)
    found = rule_sums(empty, empty, points=1.0, per_day=2, total=3, half_life=10)
    assert found.contacts.size == found.value.size == found.day_counts.size == 0


TEXT = GROUPS + RULES + GRADES
TYPES = ("pricing_page_view", "demo_requested", "email_bounced", "page_view", "email_opened")


@pytest.fixture
def arrow_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole-workspace reads take the Arrow path (on SQLite) however small the workspace,
    fit is read in pages of a few contacts, and the states' JSON is made on two threads."""
    monkeypatch.setattr(bulk, "ARROW_READ_MIN", 0)
    monkeypatch.setattr(bulk, "FIT_PAGE", 4)
    monkeypatch.setattr(rewrite, "THREADED_TEXTS_MIN", 0)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    stream=st.lists(
        st.tuples(
            st.integers(0, 5),
            st.sampled_from(TYPES),
            st.integers(0, 20 * 86_400_000_000),
            st.sampled_from(["/pricing", "/jobs"]),
        ),
        max_size=40,
    ),
)
def test_a_whole_workspace_rescore_equals_the_incremental_scores(
    workspace: Workspace, clock: FrozenClock, arrow_reads: None, stream: Any
):
    db = workspace.db
    rescore(db, clock, TEXT, filename="scoring.yaml")
    run = next(_runs)
    people = [f"w{run}-{n}@acme.example" for n in range(6)]
    for n, email in enumerate(people):
        account = AccountInput(industry="Software" if n % 2 else "Retail")
        capture_contact(db, clock, ContactInput(email=email, account=account))
    events = [
        EventInput(
            type=kind,
            email=people[who],
            occurred_at=clock.now() - timedelta(microseconds=micros),
            properties={"path": path},
            idempotency_key=f"w{run}-{i}",
        )
        for i, (who, kind, micros, path) in enumerate(stream)
    ]
    if events:
        record_events(db, clock, events)
    incremental = {email: current_score(db, email, now=clock.now()).score for email in people}

    # The same model under another version (a comment added): every row is rewritten.
    rescore(db, clock, TEXT + "\n# again\n", filename="scoring.yaml")

    for email in people:
        again = current_score(db, email, now=clock.now()).score
        mine, theirs = again, incremental[email]
        for name in ("fit", "engagement", "total"):
            assert getattr(mine, name) == pytest.approx(getattr(theirs, name), rel=1e-9, abs=1e-9)
        assert mine.grade == theirs.grade


_runs = iter(range(10**6))


def test_stored_states_read_back_as_the_objects_the_set_based_path_builds(
    workspace: Workspace, clock: FrozenClock, arrow_reads: None
):
    db = workspace.db
    rescore(db, clock, TEXT, filename="scoring.yaml")
    capture_contact(db, clock, ContactInput(email="ann@acme.example", seniority="vp"))
    events = [
        EventInput(
            type="pricing_page_view",
            email="ann@acme.example",
            occurred_at=clock.now() - timedelta(hours=h),
            idempotency_key=f"ann-{h}",
        )
        for h in (50, 49, 30, 2, 1)
    ]
    record_events(db, clock, events)
    rescore(db, clock, TEXT + "\n# again\n", filename="scoring.yaml")
    with db.read() as conn:
        model = active_model(conn)
        assert model is not None
        stored = conn.execute(select(contact_scores.c.contact_id, contact_scores.c.state)).one()
        built = bulk.compute_states(conn, model, clock.now(), [stored.contact_id])
    assert load_state(stored.state) == built[stored.contact_id]


def test_a_regex_filter_runs_in_the_parent_and_gives_the_same_scores(
    workspace: Workspace, clock: FrozenClock, arrow_reads: None
):
    """A where: filter with a regex needs Python's re: the children cannot run it, so the
    parent reads the ids it keeps; the scores match the incremental ones all the same."""
    db = workspace.db
    plain = "{properties.form: {eq: demo-request}}"
    text = TEXT.replace(plain, "{properties.form: {regex: '^demo'}}")
    assert text != TEXT
    now = clock.now()
    assert "demo" in bulk._filters_in_sql(model_of(TEXT), now)
    assert "demo" not in bulk._filters_in_sql(model_of(text), now)
    rescore(db, clock, text, filename="scoring.yaml")
    capture_contact(db, clock, ContactInput(email="rex@acme.example"))
    forms = ["demo-request", "contact", "demo-2", "demo"]
    events = [
        EventInput(
            type="demo_requested",
            email="rex@acme.example",
            occurred_at=now - timedelta(hours=10 - i),
            properties={"form": form},
            idempotency_key=f"rex-{i}",
        )
        for i, form in enumerate(forms)
    ]
    record_events(db, clock, events)
    before = current_score(db, "rex@acme.example", now=now).score
    rescore(db, clock, text + "\n# again\n", filename="scoring.yaml")
    after = current_score(db, "rex@acme.example", now=now).score
    assert after.engagement == pytest.approx(before.engagement, rel=1e-9)
    assert after.engagement > 0


@pytest.mark.parametrize("page", [1, 3, 50_000])
def test_fit_read_in_pages_covers_every_active_contact_once(
    workspace: Workspace, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, page: int
):
    db = workspace.db
    rescore(db, clock, TEXT, filename="scoring.yaml")
    for n in range(7):
        industry = "Software" if n % 2 else "Retail"
        email = f"page{n}@firm{n}.example"
        capture_contact(
            db, clock, ContactInput(email=email, account=AccountInput(industry=industry))
        )
    monkeypatch.setattr(bulk, "FIT_PAGE", page)
    with db.read() as conn:
        model = active_model(conn)
        assert model is not None
        ids, hits = bulk.fit_matrix(conn, model, clock.now(), None)
        active = (
            conn.execute(
                select(contacts.c.id).where(contacts.c.status == "active").order_by(contacts.c.id)
            )
            .scalars()
            .all()
        )
        one_page = bulk.fit_matrix(conn, model, clock.now(), active)
    assert ids.tolist() == active
    assert hits.tolist() == one_page[1].tolist()


def model_of(text: str) -> Any:
    from leadflow.scoring.parse import parse_model

    return parse_model(text, filename="scoring.yaml")


@pytest.mark.parametrize("spread", [1, 10_000_000])
def test_day_count_texts_by_table_and_one_by_one_agree(spread: int):
    from leadflow.scoring.rewrite import _pairs, _small_ints

    day = np.array([738_000, 738_001, 738_000 + spread], dtype=np.int64)
    count = np.array([1, 3, 2], dtype=np.int64)
    assert _pairs(day, count).to_pylist() == [f'"{d}":{c}' for d, c in zip(day, count, strict=True)]
    assert _small_ints(day).to_pylist() == [str(d) for d in day]
