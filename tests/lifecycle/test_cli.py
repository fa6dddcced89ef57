"""``leadflow lifecycle``, ``leadflow stage``, ``leadflow qualify``, and what ``config check``
says about the lifecycle file: activation, refusal of a bad file, moves by hand (allowed,
refused, backward), qualification and the rules it sets off."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from leadflow.cli.app import app
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.service import capture_contact
from leadflow.lifecycle.config import parse_lifecycle
from leadflow.lifecycle.service import (
    active_lifecycle,
    load_lifecycle,
    qualification_of,
    stage_history,
    stage_of,
)
from leadflow.workspace import Workspace

runner = CliRunner()

# No score conditions: the CLI runs at the real time, the fixtures at the frozen clock's.
LIFECYCLE = """\
stages: [subscriber, lead, mql, sql, prospect, customer]
side_stages: [disqualified, recycled]
initial: subscriber
moves:
  subscriber: [lead, mql, disqualified]
  lead: [mql, disqualified, recycled]
  mql: [sql, lead, recycled, disqualified]
  sql: [prospect, mql, recycled, disqualified]
  prospect: [customer, recycled, disqualified]
  disqualified: [lead]
  recycled: [lead, mql]
criteria:
  budget: {values: [none, under_10k, 10k_50k, over_50k]}
  authority: {values: [none, user, decision_maker]}
  need: {values: [none, low, medium, high]}
  timing: {values: [none, later, this_quarter, now]}
  icp_fit: {values: [poor, partial, strong]}
  referral_partner: {}
rules:
  - name: senior_lead
    from: [subscriber]
    to: lead
    when: {contact.seniority: {in: [vp, c_level]}}
  - name: qualified_prospect
    from: [sql]
    to: prospect
    when:
      all:
        - qualification.need: {in: [medium, high]}
        - qualification.timing: {in: [now, this_quarter]}
"""
VERSION = parse_lifecycle(LIFECYCLE).version
STAGES = ["subscriber", "lead", "mql", "sql", "prospect", "customer", "disqualified", "recycled"]


def run(cli_env: dict[str, str], *args: str) -> Result:
    return runner.invoke(app, list(args), env=cli_env)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(result: Result) -> Any:
    return json.loads(ok(result))


def active_version(workspace: Workspace) -> str | None:
    with workspace.db.read() as conn:
        config = active_lifecycle(conn)
    return config.version if config else None


def line_of(text: str, needle: str) -> int:
    return text.count("\n", 0, text.index(needle)) + 1


def capture(workspace: Workspace, clock: FrozenClock, email: str, **fields: Any) -> int:
    contact = ContactInput(email=email, **fields)
    return capture_contact(workspace.db, clock, contact).contact_id


@pytest.fixture
def lifecycle(workspace: Workspace, clock: FrozenClock) -> str:
    """LIFECYCLE in the workspace's lifecycle.yaml, and active."""
    (workspace.root / "lifecycle.yaml").write_text(LIFECYCLE)
    load_lifecycle(workspace.db, clock, LIFECYCLE)
    return VERSION


@pytest.fixture
def ann(workspace: Workspace, clock: FrozenClock, lifecycle: str) -> int:
    """A VP: the senior_lead rule makes her a lead as she is captured."""
    return capture(workspace, clock, "ann@acme.example", first_name="Ann", seniority="vp")


@pytest.fixture
def bob(workspace: Workspace, clock: FrozenClock, lifecycle: str) -> int:
    """No seniority: stays a subscriber."""
    return capture(workspace, clock, "bob@acme.example", first_name="Bob")


def move(cli_env: dict[str, str], contact: int, stage: str, reason: str = "on a call") -> Result:
    return run(cli_env, "stage", "move", str(contact), stage, "--by", "sam", "--reason", reason)


# -- lifecycle load ------------------------------------------------------------------------


def test_load_activates_the_file_and_runs_its_rules_over_every_contact(
    workspace: Workspace, cli_env: dict[str, str], clock: FrozenClock
):
    ann = capture(workspace, clock, "ann@acme.example", seniority="vp")
    bob = capture(workspace, clock, "bob@acme.example")
    (workspace.root / "lifecycle.yaml").write_text(LIFECYCLE)

    out = ok(run(cli_env, "lifecycle", "load"))

    assert out.splitlines() == [
        f"lifecycle {VERSION} (lifecycle.yaml) is active",
        "1 contact moved",
    ]
    assert active_version(workspace) == VERSION
    assert stage_of(workspace.db, ann)[1] == "lead"
    assert stage_of(workspace.db, bob)[1] == "subscriber"
    (moved,) = stage_history(workspace.db, ann)
    assert (moved["from_stage"], moved["to_stage"], moved["cause"], moved["rule"]) == (
        "subscriber",
        "lead",
        "rule",
        "senior_lead",
    )
    assert moved["config_version"] == VERSION


def test_a_file_with_problems_is_refused_with_their_lines_and_the_previous_one_stays(
    workspace: Workspace, cli_env: dict[str, str], ann: int, bob: int
):
    broken = (
        LIFECYCLE.replace("initial: subscriber", "initial: subscribr")
        .replace("    to: prospect", "    to: customer")
        .replace("  referral_partner: {}", "  referral_partner: {}\n  Partner: {}")
    )
    (workspace.root / "lifecycle.yaml").write_text(broken)

    result = run(cli_env, "lifecycle", "load")

    lines = result.stderr.splitlines()
    assert result.exit_code == 1
    assert result.stdout == ""
    assert lines[0].startswith(
        f"error: lifecycle.yaml:{line_of(broken, 'initial:')}: unknown stage 'subscribr' "
        "(did you mean 'subscriber'?)"
    )
    assert lines[1].startswith(f"error: lifecycle.yaml:{line_of(broken, 'Partner:')}: criterion")
    assert lines[2] == (
        f"error: lifecycle.yaml:{line_of(broken, 'to: customer')}: rule 'qualified_prospect': "
        "sql -> customer is not an allowed move (see moves:)"
    )
    assert lines[3] == (
        f"lifecycle.yaml not activated; lifecycle {VERSION} stays active; no contact moved"
    )
    assert len(lines) == 4
    assert active_version(workspace) == VERSION
    assert [stage_of(workspace.db, c)[1] for c in (ann, bob)] == ["lead", "subscriber"]


def test_rules_that_could_flip_flop_are_refused_unless_one_waits(
    workspace: Workspace, cli_env: dict[str, str], lifecycle: str
):
    flip_flop = LIFECYCLE + (
        "  - name: senior_mql\n"
        "    from: [lead]\n"
        "    to: mql\n"
        "    when: {contact.seniority: {in: [vp]}}\n"
        "  - name: back_to_lead\n"
        "    from: [mql]\n"
        "    to: lead\n"
    )
    waits = flip_flop + "    min_stay: 14d\n"
    (workspace.root / "lifecycle.yaml").write_text(flip_flop)

    refused = run(cli_env, "lifecycle", "load")
    (workspace.root / "lifecycle.yaml").write_text(waits)
    accepted = run(cli_env, "lifecycle", "load")

    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[0] == (
        f"error: lifecycle.yaml:{line_of(flip_flop, '- name: back_to_lead')}: conflicting rules: "
        "lead -> mql (senior_mql) -> lead (back_to_lead) can move a contact back and forth on "
        "the same data; give one of them min_stay:"
    )
    assert ok(accepted).splitlines()[0] == (
        f"lifecycle {parse_lifecycle(waits).version} (lifecycle.yaml) is active"
    )


def test_load_without_a_lifecycle_file_is_one_clear_line(
    workspace: Workspace, cli_env: dict[str, str]
):
    (workspace.root / "lifecycle.yaml").unlink()

    result = run(cli_env, "lifecycle", "load")

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "no lifecycle.yaml in" in result.stderr


# -- lifecycle stages ----------------------------------------------------------------------


def test_stages_counts_contacts_per_stage_in_the_lifecycle_order(
    cli_env: dict[str, str], ann: int, bob: int
):
    rows = as_json(run(cli_env, "lifecycle", "stages", "--format", "json"))
    csv = ok(run(cli_env, "lifecycle", "stages", "-f", "csv"))
    table = ok(run(cli_env, "lifecycle", "stages"))

    counts = {"subscriber": 1, "lead": 1}
    assert rows == [{"stage": s, "contacts": counts.get(s, 0)} for s in STAGES]
    assert csv.splitlines()[:3] == ["stage,contacts", "subscriber,1", "lead,1"]
    assert "recycled" in table


# -- stage show ----------------------------------------------------------------------------


def test_stage_show_gives_the_stage_since_when_and_every_move(
    workspace: Workspace, cli_env: dict[str, str], clock: FrozenClock, ann: int
):
    shown = as_json(run(cli_env, "stage", "show", "ann@acme.example", "--format", "json"))
    table = ok(run(cli_env, "stage", "show", str(ann)))

    assert (shown["contact_id"], shown["stage"]) == (ann, "lead")
    assert shown["stage_entered_at"] == clock.now().isoformat()
    assert shown["transitions"] == [
        {
            "at": clock.now().isoformat(),
            "from": "subscriber",
            "to": "lead",
            "cause": "rule",
            "rule": "senior_lead",
            "by_user": None,
            "reason": "senior_lead: contact.seniority in ['vp', 'c_level']",
            "activity_id": None,
            "config_version": VERSION,
        }
    ]
    assert table.startswith(f"contact {ann}: stage lead since 2026-11-02 09:00:00 UTC\n")
    assert "senior_lead" in table


def test_stage_show_of_an_unknown_contact_is_one_clear_line(
    cli_env: dict[str, str], lifecycle: str
):
    result = run(cli_env, "stage", "show", "404")

    assert result.exit_code == 1
    assert result.stderr == "error: no contact '404'\n"


# -- stage move ----------------------------------------------------------------------------


def test_a_move_by_hand_is_made_and_logged_with_who_and_why(
    workspace: Workspace, cli_env: dict[str, str], bob: int
):
    out = ok(move(cli_env, bob, "mql", reason="asked for pricing on a call"))

    assert out == f"contact {bob}: subscriber → mql, by sam\n"
    (logged,) = stage_history(workspace.db, bob)
    assert {k: logged[k] for k in ("from_stage", "to_stage", "cause", "by_user", "reason")} == {
        "from_stage": "subscriber",
        "to_stage": "mql",
        "cause": "manual",
        "by_user": "sam",
        "reason": "asked for pricing on a call",
    }
    assert logged["rule"] is None
    assert stage_of(workspace.db, "bob@acme.example")[1] == "mql"


def test_a_move_the_lifecycle_does_not_allow_is_refused_and_writes_nothing(
    workspace: Workspace, cli_env: dict[str, str], bob: int
):
    ok(move(cli_env, bob, "mql"))
    before = (stage_of(workspace.db, bob), stage_history(workspace.db, bob))

    refused = move(cli_env, bob, "customer")
    unknown = move(cli_env, bob, "champion")

    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        "error: stage: mql -> customer is not an allowed move "
        "(from mql: sql, lead, recycled, disqualified)\n"
    )
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: stage: unknown stage 'champion'; stages: subscriber,")
    assert (stage_of(workspace.db, bob), stage_history(workspace.db, bob)) == before


def test_a_backward_move_is_allowed_where_listed_and_logged(
    workspace: Workspace, cli_env: dict[str, str], bob: int
):
    ok(move(cli_env, bob, "mql"))

    out = ok(move(cli_env, bob, "lead", reason="no budget this year"))

    assert out == f"contact {bob}: mql → lead (a backward move), by sam\n"
    assert stage_of(workspace.db, bob)[1] == "lead"
    last = stage_history(workspace.db, bob)[-1]
    assert (last["from_stage"], last["to_stage"], last["cause"], last["reason"]) == (
        "mql",
        "lead",
        "manual",
        "no budget this year",
    )
    assert "mql → lead" in ok(run(cli_env, "stage", "show", str(bob)))


def test_a_move_needs_who_and_why(workspace: Workspace, cli_env: dict[str, str], bob: int):
    without_reason = run(cli_env, "stage", "move", str(bob), "mql", "--by", "sam")
    blank_by = run(cli_env, "stage", "move", str(bob), "mql", "--by", " ", "--reason", "x")

    assert without_reason.exit_code == 2
    assert blank_by.exit_code == 1
    assert blank_by.stderr == "error: by: say who moves the contact\n"
    assert stage_history(workspace.db, bob) == []


# -- qualify -------------------------------------------------------------------------------


def test_qualify_sets_criteria_and_a_qualified_contact_becomes_a_prospect(
    workspace: Workspace, cli_env: dict[str, str], bob: int
):
    ok(move(cli_env, bob, "mql"))
    ok(move(cli_env, bob, "sql"))
    qualify = ("qualify", str(bob), "--by", "sam", "-f", "json")

    half = as_json(run(cli_env, *qualify, "--need", "high", "--icp-fit", "strong"))
    full = as_json(run(cli_env, *qualify, "--timing", "this_quarter"))

    assert [(c["criterion"], c["value"]) for c in half["criteria"]] == [
        ("icp_fit", "strong"),
        ("need", "high"),
    ]
    assert half["stage"] == "sql"
    assert [(c["criterion"], c["value"]) for c in full["criteria"]] == [
        ("icp_fit", "strong"),
        ("need", "high"),
        ("timing", "this_quarter"),
    ]
    assert {(c["source"], c["set_by"], c["confidence"]) for c in full["criteria"]} == {
        ("sales", "sam", 1.0)
    }
    assert (full["contact_id"], full["stage"]) == (bob, "prospect")
    last = stage_history(workspace.db, bob)[-1]
    assert (last["from_stage"], last["to_stage"], last["rule"]) == (
        "sql",
        "prospect",
        "qualified_prospect",
    )


def test_qualify_without_criteria_only_shows_the_record(
    workspace: Workspace, cli_env: dict[str, str], ann: int
):
    empty = ok(run(cli_env, "qualify", "ann@acme.example"))
    by_form = ("--budget", "10k_50k", "--by", "web", "--source", "form", "--confidence", "0.6")
    ok(run(cli_env, "qualify", str(ann), *by_form))

    table = ok(run(cli_env, "qualify", str(ann)))
    shown = as_json(run(cli_env, "qualify", str(ann), "--format", "json"))

    assert empty.splitlines() == [
        f"contact {ann}: stage lead since 2026-11-02 09:00:00 UTC",
        "no qualification criterion set yet",
    ]
    assert table.startswith(f"contact {ann}: stage lead since 2026-11-02 09:00:00 UTC\n")
    assert "10k_50k" in table
    (criterion,) = shown["criteria"]
    assert {k: criterion[k] for k in ("criterion", "value", "source", "set_by", "confidence")} == {
        "criterion": "budget",
        "value": "10k_50k",
        "source": "form",
        "set_by": "web",
        "confidence": 0.6,
    }


def test_a_value_not_allowed_is_refused_naming_the_allowed_ones_and_nothing_is_set(
    workspace: Workspace, cli_env: dict[str, str], ann: int
):
    result = run(cli_env, "qualify", str(ann), "--need", "high", "--budget", "lots", "--by", "sam")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: budget: 'lots' is not one of none, under_10k, 10k_50k, over_50k\n"
    )
    assert qualification_of(workspace.db, ann) == []


def test_a_custom_criterion_is_set_with_set_only_when_the_file_has_it(
    workspace: Workspace, cli_env: dict[str, str], ann: int
):
    known = run(cli_env, "qualify", str(ann), "--set", "referral_partner=Acme Labs", "--by", "sam")
    unknown = run(cli_env, "qualify", str(ann), "--set", "partner=acme", "--by", "sam")

    assert known.exit_code == 0, known.output
    assert unknown.exit_code == 1
    assert unknown.stderr == (
        "error: partner: unknown criterion 'partner'; "
        "criteria: budget, authority, need, timing, icp_fit, referral_partner\n"
    )
    assert [(c.criterion, c.value) for c in qualification_of(workspace.db, ann)] == [
        ("referral_partner", "Acme Labs")
    ]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--need", "high"), 2),  # who sets it?
        (("--set", "need", "--by", "sam"), 2),  # not NAME=VALUE
        (("--need", "high", "--set", "need=low", "--by", "sam"), 2),  # twice
        (("--need", "high", "--by", "sam", "--source", "boss"), 1),
        (("--need", "high", "--by", "sam", "--confidence", "1.5"), 1),
    ],
)
def test_qualify_refuses_bad_options_and_sets_nothing(
    workspace: Workspace, cli_env: dict[str, str], ann: int, args: tuple[str, ...], code: int
):
    result = run(cli_env, "qualify", str(ann), *args)

    assert result.exit_code == code, result.output
    assert qualification_of(workspace.db, ann) == []


# -- config check --------------------------------------------------------------------------


def test_config_check_lists_every_problem_of_the_lifecycle_file(
    workspace: Workspace, cli_env: dict[str, str], lifecycle: str
):
    broken = LIFECYCLE.replace("initial: subscriber", "initial: champion").replace(
        "{contact.seniority: {in: [vp, c_level]}}", "{contact.senority: {in: [vp]}}"
    )
    (workspace.root / "lifecycle.yaml").write_text(broken)

    result = run(cli_env, "config", "check")

    lines = result.stderr.splitlines()
    assert result.exit_code == 1
    assert result.stdout == ""
    assert lines[0].startswith(
        f"lifecycle.yaml:{line_of(broken, 'initial:')}: unknown stage 'champion'"
    )
    assert lines[1].startswith(f"lifecycle.yaml:{line_of(broken, 'contact.senority')}:")
    assert "contact.senority" in lines[1]
    assert len(lines) == 2
    assert active_version(workspace) == VERSION


def test_config_check_says_an_edited_lifecycle_file_is_not_active(
    workspace: Workspace, cli_env: dict[str, str], lifecycle: str
):
    edited = LIFECYCLE.replace("in: [now, this_quarter]", "in: [now]")
    (workspace.root / "lifecycle.yaml").write_text(edited)

    result = run(cli_env, "config", "check")

    lines = ok(result).splitlines()
    assert lines[0].startswith("ok: leadflow.yaml; scoring.yaml version ")
    assert lines[1:] == [
        f"lifecycle.yaml version {parse_lifecycle(edited).version} is not active "
        f"(the active lifecycle is {VERSION}): run `leadflow lifecycle load` to activate it"
    ]
    assert active_version(workspace) == VERSION


def test_config_check_of_the_active_lifecycle_file_adds_nothing(
    cli_env: dict[str, str], lifecycle: str
):
    lines = ok(run(cli_env, "config", "check")).splitlines()

    assert len(lines) == 1
    assert lines[0].startswith("ok: leadflow.yaml; scoring.yaml version ")


ROUTING = """\
users:
  - id: ana
    name: Ana Ruiz
    email: ana@example.com
    role: sales
    team: emea
    timezone: Europe/Madrid
teams:
  - id: emea
    lead: ana
rules:
  - name: everyone
    team: emea
"""


def test_config_check_lists_the_problems_of_a_routing_file_when_there_is_one(
    workspace: Workspace, cli_env: dict[str, str], lifecycle: str
):
    (workspace.root / "routing.yaml").write_text(ROUTING)
    valid = run(cli_env, "config", "check")
    broken = ROUTING.replace("Europe/Madrid", "Europe/Nowhere").replace(
        "everyone\n    team: emea", "everyone\n    team: apac"
    )
    (workspace.root / "routing.yaml").write_text(broken)

    result = run(cli_env, "config", "check")

    lines = result.stderr.splitlines()
    assert len(ok(valid).splitlines()) == 2  # ok, and: routing.yaml is not active yet
    assert result.exit_code == 1
    assert lines[0].startswith(f"routing.yaml:{line_of(broken, 'Europe/Nowhere')}: timezone")
    assert lines[-1].startswith(f"routing.yaml:{line_of(broken, 'team: apac')}: rule 'everyone'")
    assert all(line.startswith("routing.yaml:") for line in lines)
