"""``leadflow routing``, ``leadflow tasks`` and ``leadflow notices``: activating routing.yaml
(and refusing a bad one), the users with their load, tasks listed, done and checked against
their SLA with the channel leadflow.yaml names, and the notice outbox.

Commands whose outcome depends on the time run through their Typer app on the test
workspace (and its frozen clock); the others run through ``leadflow`` itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner, Result

import leadflow.workspace
from leadflow.channels import MemoryChannel, WebhookChannel, channel_from_config
from leadflow.cli import routing
from leadflow.cli.app import app
from leadflow.cli.context import CliState
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.service import capture_contact
from leadflow.lifecycle.service import move_contact
from leadflow.routing.config import parse_config
from leadflow.routing.notices import deliver_notices, list_notices
from leadflow.routing.service import list_tasks, load_routing
from leadflow.storage.database import Database
from leadflow.workspace import CONFIG_FILE, Workspace
from tests.conftest import settings_for
from tests.routing.files import ROUTING

runner = CliRunner()

VERSION = parse_config(ROUTING).version
MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 10:00 in Madrid: first touches due 14:00


def run(cli_env: dict[str, str], *args: str) -> Result:
    """``leadflow ...`` as typed, at the real time."""
    return runner.invoke(app, list(args), env=cli_env)


def run_at(workspace: Workspace, group: typer.Typer, *args: str) -> Result:
    """A command group on the test workspace, at its frozen clock's time; wide tables."""
    state = CliState(_workspace=workspace)
    return runner.invoke(group, list(args), obj=state, env={"COLUMNS": "200"})


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(result: Result) -> Any:
    return json.loads(ok(result))


def active_version(db: Database) -> str | None:
    return routing.active_version(db)


def prospect(db: Database, clock: FrozenClock, email: str) -> int:
    """A contact moved by hand up to prospect: the hand-off."""
    contact_id = capture_contact(db, clock, ContactInput(email=email)).contact_id
    for stage in ("lead", "mql", "sql", "prospect"):
        move_contact(db, clock, contact_id, stage, by="sam", reason="test")
    return contact_id


@pytest.fixture
def routed(workspace: Workspace, clock: FrozenClock) -> list[int]:
    """ROUTING active (and in routing.yaml); two prospects handed to ana and bo."""
    (workspace.root / "routing.yaml").write_text(ROUTING)
    load_routing(workspace.db, clock, ROUTING)
    return [prospect(workspace.db, clock, f"{n}@{n}.example") for n in ("ann", "ben")]


@pytest.fixture
def memory_notices(workspace: Workspace, clock: FrozenClock) -> Iterator[Workspace]:
    """The workspace opened again after leadflow.yaml got ``notices: {type: memory}``."""
    path = workspace.root / CONFIG_FILE
    path.write_text(path.read_text() + "notices: {type: memory}\n")
    root = workspace.root
    with Workspace.open(root, settings=settings_for(root), clock=clock) as reopened:
        yield reopened


# -- routing load ------------------------------------------------------------------------------


def test_load_activates_routing_yaml_and_prints_its_users_and_teams(
    workspace: Workspace, cli_env: dict[str, str]
):
    (workspace.root / "routing.yaml").write_text(
        ROUTING.replace("bo@x.example, role", "bo@x.example, daily_quota: 5, role")
    )
    version = parse_config((workspace.root / "routing.yaml").read_text()).version

    out = ok(run(cli_env, "routing", "load"))

    assert out.splitlines() == [
        f"routing {version} (routing.yaml) is active",
        "4 users",
        "  ana (sales, team emea, capacity 1)",
        "  bo (sales, team emea, capacity 1, 5 a day)",
        "  cy (sales, team emea, capacity 1)",
        "  lea (admin)",
        "1 team",
        "  emea: lead lea, escalation notify_lead, reps ana, bo, cy",
    ]
    assert active_version(workspace.db) == version


def test_a_bad_routing_file_is_refused_with_its_lines_and_the_previous_stays(
    workspace: Workspace, cli_env: dict[str, str], routed: list[int]
):
    broken = ROUTING.replace("team: emea}\nsla", "team: amer}\nsla").replace("id: cy", "id: Cy")
    (workspace.root / "routing.yaml").write_text(broken)

    result = run(cli_env, "routing", "load")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: routing.yaml:4: id 'Cy': use lowercase letters, digits, _ and -",
        "error: routing.yaml:9: rule 'everyone': an assignment rule pointing at a missing "
        "team 'amer'",
        f"routing.yaml not activated; routing {VERSION} stays active",
    ]
    assert active_version(workspace.db) == VERSION


def test_bad_working_hours_are_refused_with_the_users_line(
    workspace: Workspace, cli_env: dict[str, str], routed: list[int]
):
    hours = "timezone: Europe/Madrid, hours: {mon-fri: '9-5'}}"
    (workspace.root / "routing.yaml").write_text(
        ROUTING.replace("timezone: Europe/Madrid}", hours, 1)
    )

    result = run(cli_env, "routing", "load")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: routing.yaml:2: user 'ana': 'mon-fri': '9-5' is not an interval such as "
        '"09:00-17:00"',
        f"routing.yaml not activated; routing {VERSION} stays active",
    ]
    assert active_version(workspace.db) == VERSION


def test_load_without_a_routing_file_says_so(workspace: Workspace, cli_env: dict[str, str]):
    result = run(cli_env, "routing", "load")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: no routing.yaml in ")
    assert active_version(workspace.db) is None


# -- routing users -----------------------------------------------------------------------------


def test_users_lists_each_user_with_open_tasks_and_owned_contacts(
    cli_env: dict[str, str], routed: list[int]
):
    found = as_json(run(cli_env, "routing", "users", "--format", "json"))

    assert found == [
        {
            "id": "ana",
            "name": "Ana",
            "role": "sales",
            "team": "emea",
            "capacity": 1,
            "daily_quota": None,
            "timezone": "Europe/Madrid",
            "active": True,
            "open_tasks": 1,
            "contacts": 1,
        },
        {**found[0], "id": "bo", "name": "Bo"},
        {**found[0], "id": "cy", "name": "Cy", "open_tasks": 0, "contacts": 0},
        {
            **found[0],
            "id": "lea",
            "name": "Lea",
            "role": "admin",
            "team": None,
            "capacity": 0,
            "timezone": "UTC",
            "open_tasks": 0,
            "contacts": 0,
        },
    ]


def test_users_dropped_from_the_file_are_listed_inactive_last(
    workspace: Workspace, cli_env: dict[str, str], routed: list[int]
):
    (workspace.root / "routing.yaml").write_text(ROUTING.replace("  - {id: ana,", "  # ", 1))
    ok(run(cli_env, "routing", "load"))

    csv_lines = ok(run(cli_env, "routing", "users", "-f", "csv")).splitlines()

    assert csv_lines[0] == (
        "id,name,role,team,capacity,daily_quota,timezone,active,open_tasks,contacts"
    )
    assert [line.split(",")[0] for line in csv_lines[1:]] == ["bo", "cy", "lea", "ana"]
    assert csv_lines[-1].endswith(",False,1,1")


# -- tasks list, tasks done --------------------------------------------------------------------


def test_tasks_list_shows_open_tasks_with_due_time_and_overdue_flag(
    workspace: Workspace, clock: FrozenClock, routed: list[int]
):
    ann, ben = routed
    clock.advance(timedelta(hours=6))  # 16:00 in Madrid: both first touches are late

    found = as_json(run_at(workspace, routing.tasks_app, "list", "--format", "json"))
    table = ok(run_at(workspace, routing.tasks_app, "list"))
    bo_only = as_json(run_at(workspace, routing.tasks_app, "list", "--owner", "bo", "-f", "json"))

    assert [(t["id"], t["contact_id"], t["owner_id"], t["kind"]) for t in found] == [
        (1, ann, "ana", "first_touch"),
        (2, ben, "bo", "first_touch"),
    ]
    assert {t["due_at"] for t in found} == {"2026-11-02T13:00:00+00:00"}
    assert [t["overdue"] for t in found] == [True, True]
    assert "2026-11-02 13:00" in table
    assert table.count("overdue") == 3  # the column and two rows
    assert [t["owner_id"] for t in bo_only] == ["bo"]


def test_tasks_list_overdue_leaves_out_tasks_not_yet_due(
    workspace: Workspace, clock: FrozenClock, routed: list[int]
):
    clock.advance(timedelta(hours=6))
    late = prospect(workspace.db, clock, "cat@cat.example")  # cy's, due Tuesday

    overdue = as_json(run_at(workspace, routing.tasks_app, "list", "--overdue", "-f", "json"))
    every = as_json(run_at(workspace, routing.tasks_app, "list", "-f", "json"))

    assert late not in [t["contact_id"] for t in overdue]
    assert [t["contact_id"] for t in every][-1] == late
    assert len(overdue) == 2


def test_tasks_done_marks_the_task_done_and_opens_the_follow_up(
    workspace: Workspace, clock: FrozenClock, routed: list[int]
):
    ann, _ = routed
    clock.advance(timedelta(hours=1))

    out = ok(run_at(workspace, routing.tasks_app, "done", "1", "--note", "called, keen"))
    every = as_json(run_at(workspace, routing.tasks_app, "list", "--all", "-f", "json"))
    still_open = as_json(run_at(workspace, routing.tasks_app, "list", "-f", "json"))

    assert out.splitlines() == [
        f"task 1 done: first_touch of contact {ann} by ana, in time (due 2026-11-02 13:00 UTC)",
        "next: task 3 follow_up due 2026-11-04 16:00 UTC",  # 2d: Wednesday's close
    ]
    assert [(t["id"], t["kind"], t["status"], t["note"]) for t in every] == [
        (1, "first_touch", "done", "called, keen"),
        (2, "first_touch", "open", None),
        (3, "follow_up", "open", None),
    ]
    assert [t["id"] for t in still_open] == [2, 3]


def test_tasks_done_twice_or_unknown_is_one_clear_line(cli_env: dict[str, str], routed: list[int]):
    ok(run(cli_env, "tasks", "done", "1"))

    twice = run(cli_env, "tasks", "done", "1")
    unknown = run(cli_env, "tasks", "done", "99")

    assert (twice.exit_code, twice.stderr) == (1, "error: task 1 is done, not open\n")
    assert (unknown.exit_code, unknown.stderr) == (1, "error: no task with id 99\n")


# -- tasks check -------------------------------------------------------------------------------


def test_tasks_check_escalates_and_delivers_through_the_channel_leadflow_yaml_names(
    memory_notices: Workspace, clock: FrozenClock, routed: list[int]
):
    clock.advance(timedelta(days=1))

    out = ok(run_at(memory_notices, routing.tasks_app, "check"))
    again = ok(run_at(memory_notices, routing.tasks_app, "check"))

    assert out.splitlines() == [
        "escalated 2 overdue first touches: tasks 1 2",
        "reassigned 0 prospects",
        "recycled 0 prospects",
        "routed 0 waiting prospects",
        "notices: 4 sent, 0 failed (memory)",
    ]
    assert again.splitlines()[0] == "escalated 0 overdue first touches"
    assert again.splitlines()[-1] == "notices: 0 sent, 0 failed (memory)"
    sent = list_notices(memory_notices.db)
    assert [(n["kind"], n["recipient"], n["status"], n["channel"]) for n in sent] == [
        ("handoff", "ana", "sent", "memory"),
        ("handoff", "bo", "sent", "memory"),
        ("escalation", "lea", "sent", "memory"),
        ("escalation", "lea", "sent", "memory"),
    ]


def test_tasks_check_recycles_untouched_prospects_and_reports_as_json(
    memory_notices: Workspace, clock: FrozenClock, routed: list[int]
):
    ann, ben = routed
    clock.advance(timedelta(days=15))

    report = as_json(run_at(memory_notices, routing.tasks_app, "check", "--format", "json"))

    assert report == {
        "escalated": [1, 2],
        "reassigned": [],
        "recycled": [ann, ben],
        "routed": [],
        "sent": 4,
        "failed": 0,
        "channel": "memory",
    }


def test_tasks_check_logs_notices_when_leadflow_yaml_names_no_channel(
    workspace: Workspace, routed: list[int]
):
    result = run_at(workspace, routing.tasks_app, "check")

    assert ok(result).splitlines()[-1] == "notices: 2 sent, 0 failed (log)"
    logged = [json.loads(line.removeprefix("notice: ")) for line in result.stderr.splitlines()]
    assert [(n["kind"], n["recipient"]["user_id"], n["idempotency_key"]) for n in logged] == [
        ("handoff", "ana", "handoff:1"),
        ("handoff", "bo", "handoff:2"),
    ]
    assert [(n["status"], n["channel"]) for n in list_notices(workspace.db)] == [
        ("sent", "log"),
        ("sent", "log"),
    ]


def test_tasks_check_refuses_a_channel_it_cannot_build_and_does_nothing(
    workspace: Workspace, cli_env: dict[str, str], routed: list[int]
):
    path = workspace.root / CONFIG_FILE
    webhook = "notices: {type: webhook, url: 'https://hooks.example/leadflow', secret_env: NOPE}\n"
    path.write_text(path.read_text() + webhook)

    result = run(cli_env, "tasks", "check")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: leadflow.yaml: notices: webhook channel: environment variable NOPE is not set "
        "or empty\n"
    )
    assert [n["status"] for n in list_notices(workspace.db)] == ["pending", "pending"]
    assert len(list_tasks(workspace.db, now=MONDAY, status="escalated")) == 0


# -- notices list ------------------------------------------------------------------------------


def test_notices_list_shows_the_outbox_and_filters_by_status(
    workspace: Workspace, cli_env: dict[str, str], routed: list[int]
):
    channel = MemoryChannel()
    channel.fail_next(1, detail="HTTP 503")
    assert deliver_notices(workspace.db, channel, now=MONDAY) == (1, 1)

    every = as_json(run(cli_env, "notices", "list", "--format", "json"))
    failed = as_json(run(cli_env, "notices", "list", "--status", "failed", "-f", "json"))
    table = ok(run(cli_env, "notices", "list", "--status", "sent"))

    assert [(n["id"], n["kind"], n["recipient"], n["status"]) for n in every] == [
        (1, "handoff", "ana", "failed"),
        (2, "handoff", "bo", "sent"),
    ]
    assert [(n["id"], n["detail"], n["attempts"]) for n in failed] == [(1, "HTTP 503", 1)]
    assert failed[0]["data"]["contact_id"] == routed[0]
    assert failed[0]["idempotency_key"] == "handoff:1"
    assert "bo" in table
    assert "ana" not in table


def test_notices_list_refuses_an_unknown_status(cli_env: dict[str, str]):
    result = run(cli_env, "notices", "list", "--status", "lost")

    assert result.exit_code == 2


# -- config check, and the deal commands registered ---------------------------------------------


def test_config_check_says_when_routing_yaml_is_not_the_active_version(
    workspace: Workspace, cli_env: dict[str, str]
):
    (workspace.root / "routing.yaml").write_text(ROUTING)

    before = ok(run(cli_env, "config", "check")).splitlines()
    ok(run(cli_env, "routing", "load"))
    after = ok(run(cli_env, "config", "check")).splitlines()
    edited = ROUTING.replace("recycle_after: 14d", "recycle_after: 21d")
    (workspace.root / "routing.yaml").write_text(edited)
    later = ok(run(cli_env, "config", "check")).splitlines()

    assert before[1:] == [
        f"routing.yaml version {VERSION} is not active (no routing is active yet): "
        "run `leadflow routing load` to activate it"
    ]
    assert after[1:] == []
    assert later[1:] == [
        f"routing.yaml version {parse_config(edited).version} is not active (the active "
        f"routing is {VERSION}): run `leadflow routing load` to activate it"
    ]


def test_config_check_reads_working_hours_as_routing_load_does(
    workspace: Workspace, cli_env: dict[str, str]
):
    hours = "timezone: Europe/Madrid, hours: {mon-fri: '9-5'}}"
    (workspace.root / "routing.yaml").write_text(
        ROUTING.replace("timezone: Europe/Madrid}", hours, 1)
    )

    result = run(cli_env, "config", "check")

    assert result.exit_code == 1
    assert result.stderr.startswith("routing.yaml:2: user 'ana': 'mon-fri': '9-5' is not")


def test_the_deal_commands_are_leadflow_deal(cli_env: dict[str, str]):
    assert as_json(run(cli_env, "deal", "list", "--format", "json")) == []


def test_the_template_notices_example_makes_a_signed_webhook_once_uncommented():
    text = Path(leadflow.workspace.__file__).with_name("workspace_template") / CONFIG_FILE
    lines = text.read_text().splitlines()
    start = lines.index("# notices:")
    example = "\n".join(line.removeprefix("# ") for line in lines[start:])

    channel = channel_from_config(
        yaml.safe_load(example)["notices"], environ={"LEADFLOW_WEBHOOK_SECRET": "s3cret"}
    )

    assert isinstance(channel, WebhookChannel)
    assert channel.url == "https://hooks.example.com/leadflow"
