from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from leadflow.contacts.models import contacts
from leadflow.contacts.wire import _wire


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()])
def test_the_wire_converts_as_the_column_types_do(dialect: object):
    wire = _wire(dialect)  # building it checks every other written column needs no conversion
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    bind = contacts.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)

    assert wire.time(at) == bind(at)
    # All but merged_into_id and owner_id (routing sets them).
    assert wire.insert_contacts.count(wire.mark) == len(contacts.c) - 2


def test_the_wire_gives_each_properties_dict_its_own_json():
    dialect = sqlite.dialect()
    wire = _wire(dialect)
    bind = contacts.c.properties.type.dialect_impl(dialect).bind_processor(dialect)
    # Equal as cache keys but not as JSON: True == 1 == 1.0; and item order is kept.
    values = [{"a": True}, {"a": 1}, {"a": 1.0}, {"a": "1"}, {"a": "x", "b": "y"}]
    values += [{"b": "y", "a": "x"}, {"a": {"b": "c"}}, {}]

    for value in values + values:
        assert wire.json(value) == bind(value)
