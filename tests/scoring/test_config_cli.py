"""``leadflow config check``: ok with the model's version, or every problem as file:line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from leadflow.cli.app import app
from leadflow.scoring import load_model
from leadflow.settings import Settings
from leadflow.workspace import Workspace

runner = CliRunner()


def check(workspace: Workspace, cli_env: dict[str, str]) -> tuple[int, str, str]:
    result = runner.invoke(app, ["config", "check"], env=cli_env)
    return result.exit_code, result.stdout, result.stderr


def test_a_new_workspace_has_the_default_model_and_checks_ok(
    workspace: Workspace, cli_env: dict[str, str]
):
    version = load_model(workspace.root / "scoring.yaml").version

    code, out, err = check(workspace, cli_env)

    assert (code, err) == (0, "")
    assert out.strip() == f"ok: leadflow.yaml; scoring.yaml version {version} (24 rules)"


def test_each_problem_is_printed_with_its_line_and_nothing_changes(
    workspace: Workspace, cli_env: dict[str, str]
):
    scoring = workspace.root / "scoring.yaml"
    broken = (
        scoring.read_text()
        .replace("half_life: 30d", "half_life: -30d", 1)
        .replace("name: manager", "name: decision_maker", 1)
    )
    scoring.write_text(broken)

    code, out, err = check(workspace, cli_env)

    lines = err.splitlines()
    assert code == 1
    assert out == ""
    assert len(lines) == 2
    assert lines[0].startswith(f"scoring.yaml:{_line(broken, 'half_life: -30d')}: half_life -30d")
    assert lines[1].startswith(f"scoring.yaml:{_line(broken, 'name: decision_maker', 2)}:")
    assert "rule name 'decision_maker' is already used" in lines[1]
    assert scoring.read_text() == broken


def test_a_broken_leadflow_yaml_is_reported_too(workspace: Workspace, cli_env: dict[str, str]):
    (workspace.root / "leadflow.yaml").write_text("workspace:\n  name: [unclosed\n")

    code, _, err = check(workspace, cli_env)

    assert code == 1
    assert err.startswith("leadflow.yaml:3:")


def test_without_a_scoring_file_the_check_says_so(workspace: Workspace, cli_env: dict[str, str]):
    (workspace.root / "scoring.yaml").unlink()

    code, out, _ = check(workspace, cli_env)

    assert code == 0
    assert "no scoring.yaml" in out


def test_init_keeps_an_edited_scoring_file(tmp_path: Path):
    (tmp_path / "scoring.yaml").write_text("# ours\n")
    Workspace.init(tmp_path, settings=Settings(env="test", workspace=tmp_path)).close()

    assert (tmp_path / "scoring.yaml").read_text() == "# ours\n"


def _line(text: str, needle: str, occurrence: int = 1) -> int:
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    return text.count("\n", 0, index) + 1
