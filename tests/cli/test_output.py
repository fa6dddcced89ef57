"""Rendering values the services hand back: dates, money and nested data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from leadflow.cli.output import Format, render_one


def test_json_renders_dates_times_and_money(capsys: pytest.CaptureFixture[str]):
    render_one(
        {
            "renewal": date(2027, 1, 31),
            "at": datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
            "amount": Decimal("12500.50"),
            "precise": Decimal("0.1000000000000000000001"),
        },
        Format.json,
    )

    data = json.loads(capsys.readouterr().out)
    assert data["renewal"] == "2027-01-31"
    assert data["at"] == "2026-11-24T09:30:00+00:00"
    assert data["amount"] == 12500.5  # a number
    assert data["precise"] == "0.1000000000000000000001"  # a float would lose digits


def test_tables_render_dates(capsys: pytest.CaptureFixture[str]):
    render_one({"renewal": date(2027, 1, 31), "amount": Decimal("99.90")}, Format.table)

    out = capsys.readouterr().out
    assert "2027-01-31" in out
    assert "99.90" in out
