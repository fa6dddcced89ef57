"""Webhook subscriptions in the workspace: webhooks.yaml or leadflow.yaml's webhooks:
section, refused with file:line errors, and `leadflow config check` reading them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadflow.cli.app import app
from leadflow.webhooks.config import (
    SubscriptionSpec,
    WebhooksConfigError,
    find_config,
    parse_webhooks,
)
from leadflow.workspace import Workspace

GOOD = """\
webhooks:
  - name: crm
    url: https://hooks.example.com/crm
    topics: [contact.created, stage.changed]
    secret_env: CRM_SECRET
"""


def problems(text: str, *, filename: str = "webhooks.yaml", section: bool = False) -> list[str]:
    with pytest.raises(WebhooksConfigError) as caught:
        parse_webhooks(text, filename=filename, section=section)
    return [str(p) for p in caught.value.problems]


def test_a_good_file_reads_into_subscriptions():
    config = parse_webhooks(GOOD, filename="webhooks.yaml", section=False)

    assert config is not None
    assert config.subscriptions == (
        SubscriptionSpec(
            "crm",
            "https://hooks.example.com/crm",
            ("contact.created", "stage.changed"),
            "CRM_SECRET",
        ),
    )


def test_every_problem_is_reported_with_its_line():
    text = """\
webhooks:
  - name: crm
    url: http://hooks.example.com/crm
    topics: [contact.created, stage.change]
    secret_env: CRM_SECRET
  - name: Chat
    url: https://chat.example.com
    topics: [deal.won]
    secret_env: CHAT_SECRET
    retries: 3
  - name: crm
    url: https://x.example.com
    topics: deal.won
    secret_env: X
  - name: ok
    url: https://y.example.com
    topics: [deal.won]
    secret: hunter2-hunter2-hunter2
"""

    assert problems(text) == [
        "webhooks.yaml:3: url: webhook URL 'http://hooks.example.com/crm' must use https; "
        "plain http is allowed only for loopback (127.0.0.1, ::1, localhost) because what is "
        "posted names contacts",
        "webhooks.yaml:10: unknown key 'retries' in a webhook; use name, url, topics, "
        "secret_env, active",
        "webhooks.yaml:13: topics: expected a list, e.g. [stage.changed]",
        "webhooks.yaml:18: do not write the secret in the file; set an environment variable "
        "and name it with secret_env:",
    ]


def test_an_unknown_topic_and_a_repeated_name_are_located():
    text = GOOD + GOOD.removeprefix("webhooks:\n").replace("stage.changed", "stage.change")
    duplicate = GOOD + GOOD.removeprefix("webhooks:\n")

    assert problems(text) == [
        "webhooks.yaml:8: topics: unknown topic 'stage.change'; known: contact.created, "
        "stage.changed, score.grade_changed, score.threshold_crossed, prospect.assigned, "
        "deal.won, deal.lost"
    ]
    assert problems(duplicate) == [
        "webhooks.yaml:6: webhook name 'crm' is already used at webhooks.yaml:2"
    ]


def test_webhooks_yaml_holds_nothing_but_webhooks():
    assert problems("hooks: []\n") == [
        "webhooks.yaml:1: unknown key 'hooks' in webhooks.yaml (did you mean 'webhooks'?); "
        "use webhooks"
    ]


def test_a_syntax_error_is_located():
    assert problems("webhooks:\n  - name: [\n") == [
        "webhooks.yaml:3: YAML syntax: did not find expected node content"
    ]


def test_leadflow_yaml_may_hold_the_section_among_its_own_keys():
    text = "workspace:\n  name: x\n" + GOOD

    config = parse_webhooks(text, filename="leadflow.yaml", section=True)

    assert config is not None
    assert [s.name for s in config.subscriptions] == ["crm"]
    assert parse_webhooks("workspace: {}\n", filename="leadflow.yaml", section=True) is None


def test_webhooks_yaml_wins_over_the_section(tmp_path: Path):
    (tmp_path / "leadflow.yaml").write_text("workspace: {}\n" + GOOD)
    (tmp_path / "webhooks.yaml").write_text(GOOD.replace("crm", "other"))

    config = find_config(tmp_path)

    assert config is not None
    assert (config.file, config.subscriptions[0].name) == ("webhooks.yaml", "other")


def test_config_check_names_the_webhook_problems(workspace: Workspace, cli_env: dict[str, str]):
    (workspace.root / "webhooks.yaml").write_text(GOOD.replace("stage.changed", "stage.moved"))

    result = CliRunner().invoke(app, ["config", "check"], env=cli_env)

    assert result.exit_code == 1
    assert "webhooks.yaml:4: topics: unknown topic 'stage.moved'" in result.stderr


def test_config_check_counts_good_subscriptions(workspace: Workspace, cli_env: dict[str, str]):
    (workspace.root / "webhooks.yaml").write_text(GOOD)

    result = CliRunner().invoke(app, ["config", "check"], env=cli_env)

    assert result.exit_code == 0, result.output
    assert "ok: webhooks.yaml: 1 webhook subscriptions" in result.stdout
