"""``leadflow score``, ``leadflow explain``, and what ``config check`` and ``init`` say about
the scoring file: activation, refusal of a bad file, explanations, history, model versions."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from leadflow.activity.inputs import EventInput
from leadflow.activity.models import activities
from leadflow.activity.service import record_events
from leadflow.cli.app import app
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.service import capture_contact
from leadflow.scoring import parse_model
from leadflow.scoring.service import active_model, model_versions
from leadflow.settings import Settings
from leadflow.workspace import Workspace

runner = CliRunner()
HOUR = timedelta(hours=1)

# No decay, so that scores read at the real time the CLI runs are exact.
MODEL = """\
groups:
  fit: {kind: fit, max: 30}
  engagement: {kind: engagement, half_life: none, max: 45}
rules:
  - name: senior
    group: fit
    when: {contact.seniority: {in: [vp, c_level]}}
    points: 20
  - name: pricing
    group: engagement
    activity: {type: pricing_page_view}
    points: 10
    cap: {total: 2}
  - name: demo
    group: engagement
    activity: {type: demo_requested}
    points: 30
grades:
  fit: {A: 20, B: 10, C: 5}
  engagement: {1: 40, 2: 20, 3: 5}
thresholds: {mql: 40}
"""


def run(cli_env: dict[str, str], *args: str) -> Result:
    return runner.invoke(app, list(args), env=cli_env)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def activate(workspace: Workspace, cli_env: dict[str, str], text: str = MODEL) -> Result:
    (workspace.root / "scoring.yaml").write_text(text)
    result = run(cli_env, "score", "--all")
    assert result.exit_code == 0, result.output
    return result


def active_version(workspace: Workspace) -> str | None:
    with workspace.db.read() as conn:
        model = active_model(conn)
    return model.version if model else None


@pytest.fixture
def ann(workspace: Workspace, clock: FrozenClock) -> int:
    """A senior contact; scored once a model is active."""
    contact = ContactInput(email="ann@acme.example", first_name="Ann", seniority="vp")
    return capture_contact(workspace.db, clock, contact).contact_id


def record(workspace: Workspace, clock: FrozenClock, *types: str) -> list[int]:
    """Events for Ann, an hour apart, oldest first; their activity ids."""
    events = [
        EventInput(
            type=t, email="ann@acme.example", occurred_at=clock.now() - (len(types) - i) * HOUR
        )
        for i, t in enumerate(types)
    ]
    ids = record_events(workspace.db, clock, events).event_ids
    return [i for i in ids if i is not None]


# -- score --all ---------------------------------------------------------------------------


def test_score_all_activates_the_file_and_reports_what_it_did(
    workspace: Workspace, cli_env: dict[str, str], ann: int
):
    result = activate(workspace, cli_env)

    version = parse_model(MODEL).version
    lines = result.stdout.splitlines()
    assert lines[0] == f"scoring model {version} (scoring.yaml) is active"
    assert lines[1].startswith("1 contacts scored, ")
    assert lines[1].endswith(" s")
    assert active_version(workspace) == version


def test_score_all_after_editing_a_rule_changes_scores(
    workspace: Workspace, cli_env: dict[str, str], clock: FrozenClock, ann: int
):
    activate(workspace, cli_env)
    record(workspace, clock, "demo_requested")
    before = as_json(run(cli_env, "score", "show", str(ann), "--format", "json"))

    activate(workspace, cli_env, MODEL.replace("points: 30", "points: 15"))
    after = as_json(run(cli_env, "score", "show", "ann@acme.example", "--format", "json"))

    assert (before["fit"], before["engagement"], before["grade"]) == (20, 30, "A2")
    assert before["thresholds"] == ["mql"]
    assert (after["fit"], after["engagement"], after["grade"]) == (20, 15, "A3")
    assert after["thresholds"] == []
    assert after["model_version"] == parse_model(MODEL.replace("points: 30", "points: 15")).version


def test_a_file_that_does_not_parse_is_refused_and_the_previous_model_stays(
    workspace: Workspace, cli_env: dict[str, str], clock: FrozenClock, ann: int
):
    activate(workspace, cli_env)
    record(workspace, clock, "demo_requested")
    version = active_version(workspace)
    before = as_json(run(cli_env, "score", "show", str(ann), "--format", "json"))
    broken = MODEL.replace("points: 20", "points: 0").replace("name: demo", "name: pricing")
    (workspace.root / "scoring.yaml").write_text(broken)

    result = run(cli_env, "score", "--all")

    lines = result.stderr.splitlines()
    assert result.exit_code == 1
    assert result.stdout == ""
    assert lines[0].startswith("error: scoring.yaml:8: ")
    assert "points" in lines[0]
    assert lines[1].startswith("error: scoring.yaml:14: rule name 'pricing' is already used")
    assert (
        lines[2]
        == f"scoring.yaml not activated; scoring model {version} stays active; no score changed"
    )
    assert len(lines) == 3
    assert active_version(workspace) == version
    assert [m.version for m in model_versions(workspace.db)][-1] == version
    after = as_json(run(cli_env, "score", "show", str(ann), "--format", "json"))
    assert {k: after[k] for k in ("fit", "engagement", "total", "grade", "model_version")} == {
        k: before[k] for k in ("fit", "engagement", "total", "grade", "model_version")
    }


def test_score_all_without_a_scoring_file_is_one_clear_line(
    workspace: Workspace, cli_env: dict[str, str]
):
    (workspace.root / "scoring.yaml").unlink()

    result = run(cli_env, "score", "--all")

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "no scoring.yaml in" in result.stderr


def test_all_with_a_command_is_a_usage_error(workspace: Workspace, cli_env: dict[str, str]):
    assert run(cli_env, "score", "--all", "models").exit_code == 2


# -- score show ----------------------------------------------------------------------------


def test_score_of_a_contact_is_short_for_score_show(
    workspace: Workspace, cli_env: dict[str, str], clock: FrozenClock, ann: int
):
    activate(workspace, cli_env)
    record(workspace, clock, "pricing_page_view")

    shown = as_json(run(cli_env, "score", "ann@acme.example", "-f", "json"))
    table = run(cli_env, "score", str(ann))
    typo = run(cli_env, "score", "shwo", str(ann))

    assert (shown["contact_id"], shown["total"], shown["grade"]) == (ann, 30, "A3")
    assert table.exit_code == 0
    assert "A3" in table.stdout
    assert typo.exit_code == 2


def test_score_of_an_unknown_contact_is_one_clear_line(
    workspace: Workspace, cli_env: dict[str, str]
):
    result = run(cli_env, "score", "show", "404")

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "no contact '404'" in result.stderr


# -- explain -------------------------------------------------------------------------------


def test_explain_lists_every_contribution_with_its_evidence(
    workspace: Workspace, cli_env: dict[str, str], clock: FrozenClock, ann: int
):
    activate(workspace, cli_env)
    ids = record(
        workspace,
        clock,
        "pricing_page_view",
        "pricing_page_view",
        "demo_requested",
        "pricing_page_view",
    )
    with workspace.db.read() as conn:
        stored = conn.execute(
            select(activities.c.id, activities.c.type).where(activities.c.contact_id == ann)
        ).all()

    shown = as_json(run(cli_env, "explain", "ann@acme.example", "--format", "json"))

    by_rule = {c["rule"]: c for c in shown["contributions"]}
    pricing = [i for i, t in sorted(stored) if t == "pricing_page_view"]
    demo = [i for i, t in stored if t == "demo_requested"]
    assert sorted(ids) == sorted(i for i, _ in stored)
    assert list(by_rule) == ["senior", "pricing", "demo"]
    assert by_rule["senior"] == {
        "rule": "senior",
        "group": "fit",
        "kind": "fit",
        "points": 20,
        "occurrences": 1,
        "raw": 20,
        "decay": 0,
        "value": 20,
        "evidence": [],
        "capped": [],
    }
    assert (by_rule["pricing"]["evidence"], by_rule["pricing"]["capped"]) == (
        pricing[:2],
        pricing[2:],
    )
    assert (by_rule["pricing"]["occurrences"], by_rule["pricing"]["raw"]) == (2, 20)
    assert by_rule["demo"]["evidence"] == demo
    assert shown["groups"] == [
        {"group": "fit", "kind": "fit", "sum": 20, "value": 20},
        {"group": "engagement", "kind": "engagement", "sum": 50, "value": 45},
    ]
    assert (shown["fit"], shown["engagement"], shown["total"]) == (20, 45, 65)
    assert (shown["grade"], shown["thresholds"], shown["contact_id"]) == ("A1", ["mql"], ann)


def test_explain_as_a_table_names_rules_groups_and_evidence(
    workspace: Workspace, cli_env: dict[str, str], clock: FrozenClock, ann: int
):
    activate(workspace, cli_env)
    (demo,) = record(workspace, clock, "demo_requested")

    result = run(cli_env, "explain", str(ann))

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"contact {ann}: grade A2, total 50 = fit 20 + engagement 30\n")
    assert "thresholds reached: mql" in out
    assert "fit (fit): 20" in out
    assert "engagement (engagement): 30" in out
    assert "senior" in out
    assert "demo" in out
    assert str(demo) in out


# -- history and models --------------------------------------------------------------------


def test_history_shows_the_grade_change_and_threshold_crossing_an_event_caused(
    workspace: Workspace, cli_env: dict[str, str], clock: FrozenClock, ann: int
):
    activate(workspace, cli_env)
    (demo,) = record(workspace, clock, "demo_requested")

    rows = as_json(run(cli_env, "score", "history", str(ann), "--format", "json"))
    table = run(cli_env, "score", "history", "ann@acme.example")

    caused = [r for r in rows if r["activity_id"] == demo]
    assert [(r["kind"], r["name"], r["before"], r["after"]) for r in caused] == [
        ("grade", None, "A4", "A2"),
        ("threshold", "mql", "below", "above"),
    ]
    assert {(r["cause"], r["total"]) for r in caused} == {("event", 50)}
    assert table.exit_code == 0
    assert "grade: A4 → A2" in table.stdout
    assert "mql: below → above" in table.stdout


def test_models_lists_every_version_and_marks_the_active_one(
    workspace: Workspace, cli_env: dict[str, str]
):
    before = [m.version for m in model_versions(workspace.db)]
    activate(workspace, cli_env)

    rows = as_json(run(cli_env, "score", "models", "--format", "json"))

    assert [(r["version"], r["active"]) for r in rows] == [
        *((version, False) for version in before),
        (parse_model(MODEL).version, True),
    ]
    assert all(r["loaded_at"] and r["activated_at"] for r in rows)


# -- config check and init -----------------------------------------------------------------


def test_config_check_says_an_edited_file_is_not_active_and_changes_nothing(
    workspace: Workspace, cli_env: dict[str, str]
):
    activate(workspace, cli_env)
    edited = MODEL.replace("points: 30", "points: 35")
    (workspace.root / "scoring.yaml").write_text(edited)
    versions = model_versions(workspace.db)

    result = run(cli_env, "config", "check")

    new, old = parse_model(edited).version, parse_model(MODEL).version
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"ok: leadflow.yaml; scoring.yaml version {new} (3 rules)",
        f"scoring.yaml version {new} is not active (the active model is {old}): "
        "run `leadflow score --all` to activate it",
    ]
    assert model_versions(workspace.db) == versions
    assert active_version(workspace) == old


def test_config_check_of_the_active_file_says_only_ok(
    workspace: Workspace, cli_env: dict[str, str]
):
    activate(workspace, cli_env)

    result = run(cli_env, "config", "check")

    assert result.stdout.splitlines() == [
        f"ok: leadflow.yaml; scoring.yaml version {parse_model(MODEL).version} (3 rules)"
    ]


def test_config_check_without_a_database_still_checks_the_files(
    workspace: Workspace, cli_env: dict[str, str]
):
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/nothing"

    result = run({**cli_env, "LEADFLOW_DATABASE_URL": unreachable}, "config", "check")

    lines = result.stdout.splitlines()
    assert result.exit_code == 0, result.output
    assert lines[0].startswith("ok: leadflow.yaml; scoring.yaml version ")
    assert lines[1].startswith("cannot tell whether scoring.yaml is the active model: ")
    assert len(lines) == 2


def test_init_says_when_the_scoring_file_does_not_parse(tmp_path: Path):
    (tmp_path / "scoring.yaml").write_text("groups: [\n")

    result = runner.invoke(app, ["init", str(tmp_path)], env={"LEADFLOW_DATABASE_URL": ""})

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("workspace ready in ")
    assert result.stderr.splitlines() == [
        "warning: scoring.yaml does not parse, so it was not activated; "
        "`leadflow config check` lists the problems"
    ]
    with Workspace.open(tmp_path, settings=Settings(env="test", workspace=tmp_path)) as ws:
        assert model_versions(ws.db) == []
