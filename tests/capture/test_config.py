"""forms.yaml: what it means, and every problem named by file and line."""

from __future__ import annotations

import logging
import os

import pytest
from typer.testing import CliRunner

from leadflow.capture.config import FormsConfigError, Target, load_forms, parse_forms
from leadflow.capture.guard import FormsFile
from leadflow.cli.app import app
from leadflow.lifecycle.config import parse_lifecycle
from leadflow.settings import Settings
from leadflow.workspace import Workspace
from tests.capture.files import CONSENT_TEXT, FORMS_YAML, forms_config


def test_the_shared_file_reads_as_written(workspace: Workspace):
    config = forms_config(workspace.root)

    form = config.form("form_contact_us_1")
    assert form is not None
    assert form.fields["budget"] == Target("qualification", "budget")
    assert form.fields["colour"] == Target("property", "favourite_colour")
    assert form.consent is not None
    assert (form.consent.text, form.consent.required) == (CONSENT_TEXT, True)
    assert (form.max_body, form.limits.per_ip, form.limits.per_form) == (
        4096,
        "3/minute",
        "100/minute",
    )
    assert config.site("site_www_0001") is not None
    assert config.form("nope") is None


def test_no_file_means_no_forms(tmp_path):
    assert load_forms(tmp_path / "forms.yaml").forms == ()


BAD = """\
forms:
  contact-us:
    key: short
    origins: [https://www.example.com/path]
    fields:
      email: contact.emial
      budget: qualification.colour
    honeypot: lf_trap
    max_body: 5gb
    channel: webform
    rate_limit: {per_ip: often}
  sign_up:
    key: form_signup_0001
    origins: [https://example.com]
    fields: {name: contact.first_name}
    required: [email]
    colour: red
"""


def test_every_problem_is_named_with_its_line(workspace: Workspace):
    lifecycle = parse_lifecycle((workspace.root / "lifecycle.yaml").read_text(), filename="l")

    with pytest.raises(FormsConfigError) as caught:
        parse_forms(BAD, lifecycle=lifecycle)

    found = [(p.where, p.code) for p in caught.value.problems]
    # One problem per form is reported (a form stops at its first), in line order.
    assert found == [("forms.yaml:6", "forms_bad_target"), ("forms.yaml:17", "forms_unknown_key")]
    assert "did you mean 'email'" in str(caught.value.problems[0])


@pytest.mark.parametrize(
    ("line", "text", "code"),
    [
        (3, "    key: short", "forms_bad_value"),
        (4, "    origins: [https://www.example.com/path]", "forms_bad_value"),
        (6, "      budget: qualification.colour", "forms_bad_target"),
        (6, "      email: contact.first_name", "forms_no_identity"),
        (7, "    honeypot: lf_trap", "forms_bad_value"),
        (7, "    max_body: 5gb", "forms_bad_value"),
        (7, "    channel: webform", "forms_bad_value"),
        (7, "    rate_limit: {per_ip: often}", "forms_bad_value"),
        (7, "    required: [phone]", "forms_unknown_field"),
        (7, "    consent: {field: email, text: Yes}", "forms_bad_value"),
    ],
)
def test_each_bad_value_is_refused_at_its_line(line, text, code):
    lines = [
        "forms:",
        "  contact-us:",
        "    key: form_contact_0001",
        "    origins: [https://www.example.com]",
        "    fields:",
        "      email: contact.email",
    ]
    if line <= len(lines):
        lines[line - 1] = text
    else:
        lines.append(text)
    lifecycle = parse_lifecycle(_DEFAULT_LIFECYCLE, filename="l")

    with pytest.raises(FormsConfigError) as caught:
        parse_forms("\n".join(lines) + "\n", lifecycle=lifecycle)

    [problem] = caught.value.problems
    assert (problem.where, problem.code) == (
        f"forms.yaml:{line if code != 'forms_no_identity' else 5}",
        code,
    )


def test_a_public_key_used_twice_is_refused():
    text = (
        FORMS_YAML
        + "  again:\n    key: form_contact_us_1\n    origins: [https://a.example]\n"
        + "    fields: {email: contact.email}\n"
    )

    with pytest.raises(FormsConfigError) as caught:
        parse_forms(text)

    assert [p.code for p in caught.value.problems] == ["forms_duplicate_key"]


_DEFAULT_LIFECYCLE = """\
stages: [lead, mql]
initial: lead
moves: {lead: [mql]}
criteria: {budget: {}}
capture: {budget: {field: budget}}
"""


def test_config_check_names_forms_yaml_problems_by_line(workspace: Workspace, cli_env):
    runner = CliRunner()
    (workspace.root / "forms.yaml").write_text(FORMS_YAML)
    ok = runner.invoke(app, ["config", "check"], env=cli_env)
    (workspace.root / "forms.yaml").write_text(
        FORMS_YAML.replace("qualification.timing", "qualification.timming")
    )
    bad = runner.invoke(app, ["config", "check"], env=cli_env)

    assert ok.exit_code == 0, ok.output
    assert "forms.yaml: 1 forms, 1 tracked sites" in ok.output
    assert bad.exit_code == 1
    assert "forms.yaml:16: when: unknown qualification field 'timming'" in bad.output


def test_init_ships_a_commented_example_that_reads_once_uncommented(tmp_path):
    with Workspace.init(tmp_path / "ws", settings=Settings(env="test")) as ws:
        text = (ws.root / "forms.yaml").read_text()
        lifecycle = parse_lifecycle((ws.root / "lifecycle.yaml").read_text(), filename="l")

    assert parse_forms(text) == parse_forms("")  # all comments: no form is open
    lines = text.splitlines()
    start = lines.index("# sites:")
    uncommented = "\n".join(line[2:] for line in lines[start:])
    config = parse_forms(
        uncommented.replace("REPLACE_ME_WITH_A_RANDOM_KEY", "x1y2z3w4"), lifecycle=lifecycle
    )
    assert [f.name for f in config.forms] == ["contact-us"]
    assert [s.name for s in config.sites] == ["www"]


def test_the_server_reads_forms_yaml_again_and_keeps_the_last_good_one(workspace, caplog):
    path = workspace.root / "forms.yaml"
    path.write_text(FORMS_YAML)
    forms = FormsFile(workspace.root)
    assert forms.current().form("form_contact_us_1") is not None

    path.write_text(FORMS_YAML.replace("form_contact_us_1", "form_contact_us_2"))
    os.utime(path, (1_000_000_000, 1_000_000_000))
    assert forms.current().form("form_contact_us_2") is not None

    path.write_text("forms: [broken")
    os.utime(path, (1_000_000_100, 1_000_000_100))
    with caplog.at_level(logging.ERROR, logger="leadflow.capture"):
        assert forms.current().form("form_contact_us_2") is not None
    assert "the last good version stays in use: forms.yaml:2: YAML syntax" in caplog.text
