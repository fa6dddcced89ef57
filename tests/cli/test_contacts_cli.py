"""``leadflow contacts``: list, show, merge, merges, duplicates, and their errors."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from leadflow.activity.inputs import EventInput
from leadflow.activity.service import record_event
from leadflow.cli.app import app
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput, TouchInput
from leadflow.contacts.merge import list_merges
from leadflow.contacts.queries import get_contact
from leadflow.contacts.service import capture_contact
from leadflow.storage.database import Database

runner = CliRunner()


@pytest.fixture
def people(db: Database, clock: FrozenClock) -> dict[str, int]:
    def capture(contact: ContactInput, channel: str = "web_form") -> int:
        return capture_contact(db, clock, contact, touch=TouchInput(channel)).contact_id

    ids = {
        "john": capture(
            ContactInput(
                email="john.smith@acme.com", first_name="John", last_name="Smith", country="US"
            )
        ),
        "jon": capture(
            ContactInput(email="jon@acme.com", first_name="Jon", last_name="Smith", title="CTO"),
            "webinar",
        ),
        "jane": capture(ContactInput(email="jane@globex.com", first_name="Jane", last_name="Doe")),
    }
    record_event(db, clock, EventInput(type="page_view", email="jon@acme.com"))
    return ids


def run(cli_env: dict[str, str], *args: str, input: str | None = None) -> Result:
    return runner.invoke(app, ["contacts", *args], env=cli_env, input=input)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_one_line_error(result: Result, text: str) -> None:
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert text in result.stderr


# -- list and show ---------------------------------------------------------------------------


def test_list_as_json_csv_and_table(cli_env: dict[str, str], people: dict[str, int]):
    rows = as_json(run(cli_env, "list", "--format", "json"))
    table = run(cli_env, "list", "--search", "jane")
    listed = run(cli_env, "list", "--format", "csv", "--channel", "webinar")

    assert [r["email"] for r in rows] == ["john.smith@acme.com", "jon@acme.com", "jane@globex.com"]
    assert rows[1]["first_channel"] == "webinar"
    assert table.exit_code == 0
    assert "Jane Doe" in table.stdout
    assert "John" not in table.stdout
    assert [r["email"] for r in csv.DictReader(io.StringIO(listed.stdout))] == ["jon@acme.com"]


def test_list_with_a_bad_sort_is_one_clear_line(cli_env: dict[str, str], people: dict[str, int]):
    assert_one_line_error(run(cli_env, "list", "--sort", "shoe_size"), "sort: 'shoe_size'")


def test_show_by_email_has_identities_and_touches(cli_env: dict[str, str], people: dict[str, int]):
    shown = as_json(run(cli_env, "show", "JON@acme.com", "--format", "json"))
    table = run(cli_env, "show", "jon@acme.com")

    assert shown["id"] == people["jon"]
    assert [i["value"] for i in shown["identities"]] == ["jon@acme.com"]
    assert [t["channel"] for t in shown["touches"]] == ["webinar"]
    assert table.exit_code == 0
    for heading in ("identities", "touches", "account"):
        assert heading in table.stdout


def test_show_unknown_contact_is_one_clear_line(cli_env: dict[str, str], people: dict[str, int]):
    assert_one_line_error(run(cli_env, "show", "404"), "no contact '404'")


# -- merge -----------------------------------------------------------------------------------


def test_merge_shows_the_plan_and_merges_when_confirmed(
    cli_env: dict[str, str], db: Database, people: dict[str, int]
):
    result = run(cli_env, "merge", str(people["john"]), "jon@acme.com", "--by", "ann", input="y\n")

    assert result.exit_code == 0, result.output
    assert f"merge contact {people['jon']} (Jon Smith <jon@acme.com>)" in result.stdout
    assert "moves 1 identities, 1 touches, 1 activities" in result.stdout
    assert "fills on contact 1: title, seniority" in result.stdout
    merged = get_contact(db, people["jon"])
    assert (merged["id"], merged["title"]) == (people["john"], "CTO")
    assert [m["merged_by"] for m in list_merges(db)] == ["ann"]


def test_merge_declined_changes_nothing(
    cli_env: dict[str, str], db: Database, people: dict[str, int]
):
    result = run(cli_env, "merge", str(people["john"]), str(people["jon"]), input="n\n")

    assert result.exit_code == 1
    assert "Aborted" in result.output
    assert list_merges(db) == []
    assert get_contact(db, people["jon"])["id"] == people["jon"]


def test_merge_with_yes_prints_the_result_as_json(cli_env: dict[str, str], people: dict[str, int]):
    result = run(
        cli_env,
        "merge",
        str(people["john"]),
        str(people["jon"]),
        "--yes",
        "--reason",
        "same person",
        "--format",
        "json",
    )

    body = as_json(result)
    assert (body["survivor_id"], body["merged_id"], body["reason"]) == (
        people["john"],
        people["jon"],
        "same person",
    )
    assert (body["moved_identities"], body["moved_touches"], body["moved_activities"]) == (1, 1, 1)


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        (("john", "john"), "cannot merge a contact into itself"),
        (("john", "nobody@acme.com"), "no contact 'nobody@acme.com'"),
        (("404", "jon"), "no contact '404'"),
    ],
)
def test_refused_merge_is_one_clear_line(
    cli_env: dict[str, str],
    db: Database,
    people: dict[str, int],
    refs: tuple[str, str],
    message: str,
):
    args = [str(people.get(r, r)) for r in refs]

    assert_one_line_error(run(cli_env, "merge", *args, "--yes"), message)
    assert list_merges(db) == []


def test_merging_an_already_merged_contact_names_its_survivor(
    cli_env: dict[str, str], people: dict[str, int]
):
    john, jon, jane = people["john"], people["jon"], people["jane"]
    run(cli_env, "merge", str(john), str(jon), "--yes")

    result = run(cli_env, "merge", str(jane), str(jon), "--yes")

    assert_one_line_error(result, f"contact {jon} is already merged into contact {john}")


def test_merges_lists_recorded_merges_and_show_notes_the_redirect(
    cli_env: dict[str, str], people: dict[str, int]
):
    john, jon, jane = people["john"], people["jon"], people["jane"]
    run(cli_env, "merge", str(john), str(jon), "--yes", "--by", "ann", "--reason", "typo")

    every = as_json(run(cli_env, "merges", "--format", "json"))
    of_jon = as_json(run(cli_env, "merges", str(jon), "--format", "json"))
    of_jane = as_json(run(cli_env, "merges", str(jane), "--format", "json"))
    shown = as_json(run(cli_env, "show", str(jon), "--format", "json"))

    assert [(m["survivor_id"], m["merged_id"], m["reason"]) for m in every] == [(john, jon, "typo")]
    assert every[0]["snapshot"]["contact"]["email"] == "jon@acme.com"
    assert of_jon == every
    assert of_jane == []
    assert (shown["id"], shown["note"]) == (john, f"contact {jon} was merged into {john}")


# -- duplicates ------------------------------------------------------------------------------


def test_duplicates_lists_likely_pairs(cli_env: dict[str, str], people: dict[str, int]):
    pairs = as_json(run(cli_env, "duplicates", "--format", "json"))
    table = run(cli_env, "duplicates")
    rows = list(csv.DictReader(io.StringIO(run(cli_env, "duplicates", "-f", "csv").stdout)))

    assert [(p["a_id"], p["b_id"], p["score"]) for p in pairs] == [
        (people["john"], people["jon"], 94)
    ]
    assert pairs[0]["reasons"] == "name similarity 94; same account"
    assert pairs[0]["a_company"] == "acme.com"
    assert "merge a pair with" in table.stdout
    assert [r["b_email"] for r in rows] == ["jon@acme.com"]


def test_duplicates_min_score_and_limit(cli_env: dict[str, str], people: dict[str, int]):
    strict = as_json(run(cli_env, "duplicates", "--min-score", "95", "--format", "json"))
    none = as_json(run(cli_env, "duplicates", "--limit", "1", "--format", "json"))

    assert strict == []
    assert len(none) == 1


def test_duplicates_min_score_out_of_range_is_refused(
    cli_env: dict[str, str], people: dict[str, int]
):
    result = run(cli_env, "duplicates", "--min-score", "150")

    assert result.exit_code == 2
    assert "--min-score" in result.stderr
