"""The columnar evaluator decides each value as holds() does, whatever mix of JSON types a
property column holds (the agreement property test covers the rest)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadflow.rules.ast import Field, Kind, Op, Predicate, Scope
from leadflow.rules.columnar import Columns, evaluate_columns
from leadflow.rules.evaluate import holds
from leadflow.rules.parse import parse_condition

NOW = datetime(2026, 11, 1, tzinfo=UTC)
FLAG = Field(Scope.CONTACT, "properties", Kind.PROPERTY, key="flag")
MIXED = [True, ["pro"], 1, 1.0, "pro", "PRO", None, {"a": 1}, False, 0]


def columns(values: dict[Field, list[object]], *, factorised: bool) -> Columns:
    """Columns decided value by value, or factorised whatever their values."""
    found = Columns(values, len(next(iter(values.values()))))
    found.SAMPLE = 0 if factorised else found.SAMPLE
    return found


@pytest.mark.parametrize("operand", ["pro", True, 1.0, False, ("pro", 1.0)])
@pytest.mark.parametrize("op", [Op.EQ, Op.NE])
def test_booleans_numbers_lists_and_texts_in_one_column(op: Op, operand: object):
    if isinstance(operand, tuple):
        op = Op.IN
    predicate = Predicate(FLAG, op, operand)  # type: ignore[arg-type]
    found = evaluate_columns(predicate, Columns({FLAG: MIXED}, len(MIXED)), NOW)
    assert found.tolist() == [holds(predicate, v, NOW) for v in MIXED]


@pytest.mark.parametrize("factorised", [False, True])
def test_a_column_without_lists_keeps_true_apart_from_one(factorised: bool):
    values = [True, 1, 1.0, None, True, 1]
    predicate = Predicate(FLAG, Op.EQ, True)
    found = evaluate_columns(predicate, columns({FLAG: values}, factorised=factorised), NOW)
    assert found.tolist() == [True, False, False, False, True, False]


def test_few_distinct_values_are_decided_once_each(monkeypatch: pytest.MonkeyPatch):
    industry = Field(Scope.ACCOUNT, "industry", Kind.TEXT)
    values = ["Software", "Retail", None, "software"] * 1_000
    asked: list[object] = []

    def counting(predicate: Predicate, value: object, now: datetime) -> bool:
        asked.append(value)
        return holds(predicate, value, now)

    monkeypatch.setattr("leadflow.rules.columnar.holds", counting)
    predicate = Predicate(industry, Op.IN, ("software",))
    found = evaluate_columns(predicate, Columns({industry: values}, len(values)), NOW)
    assert found.tolist() == [True, False, False, True] * 1_000
    assert sorted(asked, key=str) == [None, "Retail", "Software", "software"]


@pytest.mark.parametrize("factorised", [False, True])
def test_text_tests_fold_each_field_once_and_skip_non_text(factorised: bool):
    condition = parse_condition(
        {"any": [{"contact.title": {"regex": "^vp"}}, {"contact.title": {"contains": "SALES"}}]}
    )
    title = Field(Scope.CONTACT, "title", Kind.TEXT)
    values = ["VP Marketing", "Head of Sales", None, "engineer"]
    found = evaluate_columns(condition, columns({title: values}, factorised=factorised), NOW)
    assert found.tolist() == [True, True, False, False]
