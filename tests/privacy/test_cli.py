"""``leadflow privacy export`` and ``leadflow privacy erase``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from leadflow.cli.app import app
from leadflow.storage.database import Database
from tests.privacy.conftest import EMAIL, Person, traces_in

runner = CliRunner()


def run(cli_env: dict[str, str], *args: str, input: str | None = None) -> Result:
    return runner.invoke(app, ["privacy", *args], env=cli_env, input=input)


def test_export_by_email_writes_the_json_export(cli_env: dict[str, str], person: Person):
    result = run(cli_env, "export", EMAIL)

    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)
    assert exported["contact"]["id"] == person.id
    assert [c["id"] for c in exported["merged_contacts"]] == [person.merged_id]


def test_export_to_a_file(cli_env: dict[str, str], person: Person, tmp_path: Path):
    target = tmp_path / "zeb.json"

    result = run(cli_env, "export", str(person.id), "--output", str(target))

    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text(encoding="utf-8"))["contact"]["last_name"] == "Quixote"
    assert f"exported contact {person.id} to {target}" in result.stderr


def test_export_to_a_folder_that_does_not_exist_is_one_line(
    cli_env: dict[str, str], person: Person, tmp_path: Path
):
    result = run(cli_env, "export", EMAIL, "-o", str(tmp_path / "nowhere" / "zeb.json"))

    assert result.exit_code == 1
    assert "cannot write" in result.stderr
    assert result.stderr.count("\n") == 1


def test_erase_asks_first_and_a_no_changes_nothing(
    cli_env: dict[str, str], db: Database, person: Person
):
    result = run(cli_env, "erase", EMAIL, input="n\n")

    assert result.exit_code == 1
    assert f"erase contact {person.id} (Zebulon Quixote <{EMAIL}>)" in result.stdout
    assert f"and the contacts merged into it: {person.merged_id}" in result.stdout
    assert "removes 6 identities" in result.stdout
    assert traces_in(db) != []


def test_erase_with_yes_erases_and_reports_counts(
    cli_env: dict[str, str], db: Database, person: Person
):
    result = run(cli_env, "erase", str(person.merged_id), "--yes", "--by", "dpo", "-f", "json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["contact_id"], report["merged_ids"]) == (person.id, [person.merged_id])
    assert (report["requested_by"], report["removed_identities"]) == ("cli:dpo", 6)
    assert result.stderr == ""
    assert traces_in(db) == []

    again = run(cli_env, "erase", str(person.id), "--yes")
    assert again.exit_code == 0, again.output
    assert "already erased on" in again.stdout


def test_unknown_contact_is_one_line(cli_env: dict[str, str], person: Person):
    for command in ("export", "erase"):
        result = run(cli_env, command, "nobody@nowhere.example")

        assert result.exit_code == 1
        assert "no contact 'nobody@nowhere.example'" in result.stderr
