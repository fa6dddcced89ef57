"""The evaluator and the compiled SQL agree on which contacts match, on random contacts and
random conditions from the whole vocabulary (on SQLite, and on PostgreSQL when the suite runs
there). ``LEADFLOW_RULES_PROFILE=rules-thorough`` runs many more examples."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from leadflow.rules.columnar import column_fields
from leadflow.rules.evaluate import evaluate, matches
from leadflow.rules.parse import parse_condition
from leadflow.scoring.parse import parse_model
from leadflow.storage.database import Database
from tests.rules.strategies import NOW, PROFILE, conditions, people
from tests.rules.world import (
    Person,
    columnar_matches,
    erase,
    snapshots,
    sql_matches,
    sql_matches_any_time,
    store,
)

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "src/leadflow/scoring/default_scoring.yaml"


@PROFILE
@given(
    world=st.lists(people(), min_size=1, max_size=4),
    drawn=st.lists(conditions, min_size=1, max_size=3),
)
def test_evaluator_and_sql_agree(db: Database, world: list[Person], drawn: list[dict]) -> None:
    ids = store(db, world)
    try:
        snaps = snapshots(db, ids, NOW)
        for data in drawn:
            condition = parse_condition(data)
            in_python = {i for i in ids if matches(condition, snaps[i])}
            traced = {i for i in ids if evaluate(condition, snaps[i]).matched}

            assert sql_matches(db, condition, ids, NOW) == in_python, str(condition)
            assert sql_matches_any_time(db, condition, ids, NOW) == in_python, str(condition)
            assert traced == in_python, str(condition)  # the traced and the quick answer
            on_columns = columnar_matches(db, condition, ids, NOW)
            assert on_columns in (None, in_python), str(condition)
    finally:
        erase(db, ids)


def test_the_default_fit_rules_are_decided_on_columns() -> None:
    """The shipped model's fit rules all take the columnar path (no per-row SQL callback)."""
    model = parse_model(DEFAULT_MODEL.read_text(), filename="scoring.yaml")
    assert all(column_fields(rule.condition) is not None for rule in model.fit_rules)
    touch = parse_condition({"first_touch.channel": {"eq": "web_form"}})
    assert column_fields(touch) is None
