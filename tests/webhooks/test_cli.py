"""``leadflow webhooks``: load the file's subscriptions, list them, deliver, read the log,
show one delivery, resend it. Run through the command group on the test workspace (and its
frozen clock)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from leadflow.cli import webhooks
from leadflow.cli.app import app
from leadflow.cli.context import CliState
from leadflow.clock import FrozenClock
from leadflow.workspace import Workspace
from tests.webhooks.conftest import SECRET, publish, subscribe
from tests.webhooks.receiver import receiver_up

runner = CliRunner()
FILE = """\
webhooks:
  - name: crm
    url: https://hooks.example.com/crm
    topics: [contact.created]
    secret_env: LEADFLOW_TEST_CRM_SECRET
"""


def run(workspace: Workspace, *args: str, env: dict[str, str] | None = None) -> Result:
    state = CliState(_workspace=workspace)
    return runner.invoke(webhooks.app, list(args), obj=state, env={"COLUMNS": "200", **(env or {})})


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(result: Result) -> Any:
    return json.loads(ok(result))


def test_load_activates_the_file_and_list_shows_it_without_the_secret(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
):
    (workspace.root / "webhooks.yaml").write_text(FILE)
    monkeypatch.setenv("LEADFLOW_TEST_CRM_SECRET", SECRET)

    loaded = ok(run(workspace, "load"))
    listed = as_json(run(workspace, "list", "--format", "json"))

    assert "webhooks of webhooks.yaml are active" in loaded
    assert "added: crm" in loaded
    assert [(s["name"], s["topics"], s["origin"], s["active"]) for s in listed] == [
        ("crm", ["contact.created"], "config", True)
    ]
    assert SECRET not in json.dumps(listed)


def test_load_refuses_an_unset_secret_variable_and_changes_nothing(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
):
    (workspace.root / "webhooks.yaml").write_text(FILE)
    monkeypatch.delenv("LEADFLOW_TEST_CRM_SECRET", raising=False)

    result = run(workspace, "load")

    assert result.exit_code == 1
    assert (
        "webhooks.yaml:5: webhook 'crm': environment variable LEADFLOW_TEST_CRM_SECRET is not set"
        in result.stderr
    )
    assert as_json(run(workspace, "list", "--format", "json")) == []


def test_load_without_any_webhooks_says_where_to_write_them(workspace: Workspace):
    result = run(workspace, "load")

    assert result.exit_code == 1
    assert "no webhooks.yaml and no webhooks: section in leadflow.yaml" in result.stderr


def test_deliver_posts_and_the_log_shows_the_response_codes(workspace: Workspace):
    assert isinstance(workspace.clock, FrozenClock)
    with receiver_up(SECRET, workspace.clock) as receiver:
        receiver.answers = [503, 200]
        subscribe(workspace, receiver.url, ["contact.created"])
        publish(workspace, "contact.created", {"contact_id": 1})

        first = ok(run(workspace, "deliver", "--once", "--timeout", "5"))
        pending = as_json(run(workspace, "deliveries", "--status", "pending", "-f", "json"))
        ok(run(workspace, "resend", "1"))
        second = ok(run(workspace, "deliver"))

    assert first.strip() == "1 posted: 0 delivered, 1 to retry, 0 dead"
    assert [(d["id"], d["last_status_code"], d["last_error"]) for d in pending] == [
        (1, 503, "HTTP 503: ok")
    ]
    assert second.strip() == "1 posted: 1 delivered, 0 to retry, 0 dead"
    shown = as_json(run(workspace, "show", "1", "--format", "json"))
    assert shown["status"] == "delivered"
    assert [a["status_code"] for a in shown["attempt_log"]] == [503, 200]
    assert shown["payload"] == {"contact_id": 1}
    table = ok(run(workspace, "deliveries"))
    assert "delivered" in table
    assert "contact.created" in table


def test_resend_of_an_unknown_delivery_is_one_clear_error(cli_env: dict[str, str]):
    result = runner.invoke(app, ["webhooks", "resend", "42"], env=cli_env)

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no webhook delivery 42"


def test_the_commands_are_part_of_leadflow(cli_env: dict[str, str]):
    result = runner.invoke(app, ["webhooks", "list", "--format", "csv"], env=cli_env)

    assert ok(result) == "id,name,url,topics,origin,active,created_at\n"


def test_prune_says_what_it_removed_and_refuses_a_bad_duration(workspace: Workspace):
    subscribe(workspace, topics=["deal.won"])
    publish(workspace, "deal.won", {"deal_id": 1})

    kept = ok(run(workspace, "prune", "--older-than", "1d"))
    refused = run(workspace, "prune", "--older-than", "1m")

    assert kept.strip() == "removed 0 deliveries and 0 events"
    assert refused.exit_code == 1
    assert "months and years have no fixed length" in str(refused.exception)
