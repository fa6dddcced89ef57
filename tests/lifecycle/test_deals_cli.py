"""``leadflow deal``: open, stage, won, lost, list and health, run through the ``deal`` Typer
app on a test workspace (with its frozen clock), in every output format."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from leadflow.activity.inputs import EventInput
from leadflow.activity.service import record_events
from leadflow.cli.context import CliState
from leadflow.cli.deals import app
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import AccountInput, ContactInput
from leadflow.contacts.service import capture_contact
from leadflow.errors import Conflict, NotFound, ValidationError
from leadflow.lifecycle.engine import MoveNotAllowed
from leadflow.lifecycle.service import move_contact, stage_of
from leadflow.workspace import Workspace

runner = CliRunner()
ANN = "ann@acme.example"


def run(workspace: Workspace, *args: str) -> Result:
    # The workspace of the test, so that the commands run at the frozen clock's time.
    # A wide terminal, so that tables are not cut.
    return runner.invoke(
        app, list(args), obj=CliState(_workspace=workspace), env={"COLUMNS": "160"}
    )


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def ann(workspace: Workspace, clock: FrozenClock) -> int:
    """A prospect at Acme with no owner yet: a deal is owned by whoever opens it."""
    account = AccountInput(domain="acme.example", name="Acme")
    captured = ContactInput(email=ANN, first_name="Ann", account=account)
    contact_id = capture_contact(workspace.db, clock, captured).contact_id
    for stage in ("lead", "mql", "sql", "prospect"):
        move_contact(workspace.db, clock, contact_id, stage, by="sam", reason="setting up")
    return contact_id


def test_deal_open_makes_an_opportunity(workspace: Workspace, ann: int):
    shown = as_json(
        run(
            workspace,
            *("open", ANN, "--name", "Acme platform", "--amount", "12000.50"),
            *("--currency", "eur", "--close", "2026-12-15", "--stage", "proposal"),
            *("--by", "sam", "--format", "json"),
        )
    )

    assert shown == {
        "id": 1,
        "contact_id": ann,
        "account_id": shown["account_id"],
        "owner_id": "sam",
        "name": "Acme platform",
        "amount": "12000.50",
        "currency": "EUR",
        "expected_close": "2026-12-15",
        "stage": "proposal",
        "probability": 0.5,
        "status": "open",
        "reason": None,
        "renewal_date": None,
        "created_at": "2026-11-02T09:00:00+00:00",
        "closed_at": None,
    }
    assert stage_of(workspace.db, ann)[1] == "opportunity"


def test_deal_open_shows_a_table_by_default(workspace: Workspace, ann: int):
    result = run(workspace, "open", ANN, "--by", "sam")

    assert result.exit_code == 0, result.output
    assert "Acme" in result.stdout
    assert "qualification" in result.stdout


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("--amount", "12,50"), ValidationError, "amount: '12,50' is not a number"),
        (("--amount", "-5"), ValidationError, "amount: -5: use a number of 0 or more"),
        (("--currency", "XYZ"), ValidationError, "currency: 'XYZ' is not an ISO 4217"),
        (("--probability", "2"), ValidationError, "probability: 2.0: use a number from 0 to 1"),
    ],
)
def test_deal_open_refuses_bad_terms(
    workspace: Workspace, ann: int, args: tuple[str, ...], error: type[Exception], message: str
):
    result = run(workspace, "open", ANN, "--by", "sam", *args)

    assert result.exit_code == 1
    assert isinstance(result.exception, error)
    assert str(result.exception).startswith(message)
    assert as_json(run(workspace, "list", "--format", "json")) == []


def test_a_date_that_is_no_day_is_a_usage_error(workspace: Workspace, ann: int):
    result = run(workspace, "open", ANN, "--by", "sam", "--close", "15/12/2026")

    assert result.exit_code == 2
    assert "'15/12/2026' does not match the formats '%Y-%m-%d'" in result.output


def test_deal_open_for_a_contact_not_ready_is_refused(workspace: Workspace, clock: FrozenClock):
    capture_contact(workspace.db, clock, ContactInput(email="bo@beta.example"))

    result = run(workspace, "open", "bo@beta.example", "--by", "sam")

    assert result.exit_code == 1
    assert isinstance(result.exception, MoveNotAllowed)


def test_deal_stage_won_and_a_second_close_refused(workspace: Workspace, ann: int):
    run(workspace, "open", ANN, "--by", "sam")

    staged = as_json(run(workspace, "stage", "1", "negotiation", "--format", "json"))
    assert (staged["stage"], staged["probability"]) == ("negotiation", 0.75)
    won = as_json(
        run(
            workspace,
            *("won", "1", "--reason", "signed", "--by", "sam"),
            *("--renewal", "2027-12-01", "--format", "json"),
        )
    )
    assert (won["status"], won["probability"], won["renewal_date"]) == ("won", 1.0, "2027-12-01")
    assert stage_of(workspace.db, ann)[1] == "customer"

    again = run(workspace, "lost", "1", "--reason", "oops", "--by", "sam")
    assert again.exit_code == 1
    assert isinstance(again.exception, Conflict)
    assert str(again.exception) == "deal 1 is won already"


def test_deal_won_defaults_the_renewal_to_a_year_on(workspace: Workspace, ann: int):
    run(workspace, "open", ANN, "--by", "sam")

    won = as_json(run(workspace, "won", "1", "--reason", "signed", "--by", "sam", "-f", "json"))

    assert won["renewal_date"] == "2027-11-02"


def test_deal_lost_makes_the_contact_lost(workspace: Workspace, ann: int):
    run(workspace, "open", ANN, "--by", "sam")

    lost = as_json(
        run(workspace, "lost", "1", "--reason", "no budget", "--by", "sam", "-f", "json")
    )

    assert (lost["status"], lost["reason"], lost["probability"]) == ("lost", "no budget", 0.0)
    assert stage_of(workspace.db, ann)[1] == "lost"


def test_closing_needs_a_reason(workspace: Workspace, ann: int):
    run(workspace, "open", ANN, "--by", "sam")

    assert run(workspace, "won", "1", "--by", "sam").exit_code == 2  # --reason is required
    blank = run(workspace, "won", "1", "--reason", " ", "--by", "sam")
    assert isinstance(blank.exception, ValidationError)
    missing = run(workspace, "won", "9", "--reason", "signed", "--by", "sam")
    assert isinstance(missing.exception, NotFound)


def test_deal_list_filters_and_renders_csv(workspace: Workspace, ann: int):
    run(workspace, "open", ANN, "--by", "sam", "--amount", "100")
    run(workspace, "open", ANN, "--by", "sam", "--name", "Add-on", "--owner", "pat")
    run(workspace, "won", "1", "--reason", "signed", "--by", "sam")

    listed = run(workspace, "list", "--status", "open", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert [(r["id"], r["name"], r["owner_id"], r["status"]) for r in rows] == [
        ("2", "Add-on", "pat", "open")
    ]
    assert rows[0]["amount"] == ""
    owned = as_json(run(workspace, "list", "--owner", "sam", "--format", "json"))
    assert [(d["id"], d["amount"], d["renewal_date"]) for d in owned] == [
        (1, "100.00", "2027-11-02")
    ]
    table = run(workspace, "list")
    assert table.exit_code == 0, table.output
    assert "Add-on" in table.stdout
    assert isinstance(run(workspace, "list", "--status", "closed").exception, ValidationError)


def test_deal_health_explains_itself(workspace: Workspace, clock: FrozenClock, ann: int):
    ago = clock.now() - timedelta(days=3)
    nps = EventInput("nps_submitted", ago, email=ANN, properties={"score": 3})
    [event_id] = record_events(workspace.db, clock, [nps]).event_ids

    shown = as_json(run(workspace, "health", ANN, "--format", "json"))
    table = run(workspace, "health", ANN)

    assert shown == {
        "status": "at_risk",
        "score": 0.0,
        "reasons": [
            "score 0 (at_risk): 50 + 50 x the weighted mean of 1 signal(s)",
            "NPS 3 (detractor) on 2026-10-30: -1 x 2",
        ],
        "evidence": [event_id],
    }
    assert table.stdout.splitlines() == [
        f"{ANN}: at_risk, score 0",
        "  score 0 (at_risk): 50 + 50 x the weighted mean of 1 signal(s)",
        "  NPS 3 (detractor) on 2026-10-30: -1 x 2",
        f"evidence: activities {event_id}",
    ]


def test_deal_health_without_signals_is_unknown(workspace: Workspace, ann: int):
    result = run(workspace, "health", ANN)

    assert result.stdout.splitlines() == [
        f"{ANN}: unknown, no score",
        "  no NPS, feedback or support signal in 180 days",
    ]
