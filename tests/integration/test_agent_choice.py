"""Choosing the agent of tasks that name none, and naming what keeps it from running before anything starts.

Both databases; the real Claude Code CLI from ``tools/agents`` (only ``--version`` is run here).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck import stories
from quarterdeck.app import Quarterdeck, vault
from quarterdeck.domain import plans
from quarterdeck.errors import PlanError
from quarterdeck.security.keyring import KeySettings
from tests.support.agents import agent_bin
from tests.support.gitrepo import git

CHECKLIST = "# Release\n\n- [ ] Build the wheel\n- [ ] Publish it\n"
_CREDENTIALS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CODE_USE_BEDROCK")


def _story_plan(tmp_path: Path) -> plans.Plan:
    folder = tmp_path / "stories"
    folder.mkdir()
    (folder / "release.md").write_text(CHECKLIST)
    return stories.load_plan(folder).plan


async def test_story_tasks_name_no_agent_until_one_is_chosen(app: Quarterdeck, repo: Path, tmp_path: Path) -> None:
    plan = _story_plan(tmp_path)
    assert {t.runtime for t in plan.tasks} == {plans.NO_RUNTIME}  # never the demo's scripted agent
    with pytest.raises(PlanError) as refused:
        await app.check(plan, repo=repo)
    (problem,) = refused.value.problems  # one problem for all of them: the fix is the same
    assert "(and 1 more task)" in problem.message
    assert "--agent claude-code" in problem.message
    assert "[run] agent" in problem.message
    with pytest.raises(PlanError):
        await app.submit(plan, repo=repo)
    assert await app.runs() == []  # refused before anything was created

    chosen = await app.check(plan, repo=repo, agent="noop")
    assert {t.runtime for t in chosen.tasks} == {"noop"}
    record = await app.submit(plan, repo=repo, agent="noop")
    assert {t.runtime for t in (await app.view(record.id)).tasks} == {"noop"}


async def test_the_project_config_chooses_and_a_plan_default_wins(app: Quarterdeck, repo: Path, tmp_path: Path) -> None:
    (repo / ".quarterdeck").mkdir()
    (repo / ".quarterdeck" / "config.toml").write_text('[run]\nagent = "noop"\n')
    git(repo, "add", ".quarterdeck")
    git(repo, "-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-qm", "config")
    plan = _story_plan(tmp_path)
    assert {t.runtime for t in (await app.check(plan, repo=repo)).tasks} == {"noop"}
    record = await app.submit(plan, repo=repo)
    assert {t.runtime for t in (await app.view(record.id)).tasks} == {"noop"}
    # A task (or the plan's defaults) naming its runtime keeps it.
    own = plans.Plan("own", (plans.TaskSpec("sh", "Shell", runtime="shell", options={"script": "true"}),))
    assert (await app.check(own, repo=repo, agent="noop")).tasks[0].runtime == "shell"


async def test_a_typo_in_a_runtime_or_option_is_named_with_what_was_meant(app: Quarterdeck, repo: Path) -> None:
    typo = plans.TaskSpec("a", "A", runtime="claude", source=plans.SourceRef("plan.yaml", 3))
    option = plans.TaskSpec(
        "b", "B", runtime="claude-code", options={"modle": "x"}, source=plans.SourceRef("plan.yaml", 7)
    )
    with pytest.raises(PlanError) as refused:
        await app.check(plans.Plan("p", (typo, option)), repo=repo)
    shown = str(refused.value)
    assert "plan.yaml:3: task 'a': unknown runtime 'claude' (did you mean 'claude-code'?)" in shown
    assert (
        "plan.yaml:7: task 'b' (claude-code) options.modle: Extra inputs are not permitted (did you mean 'model'?)"
        in shown
    )


async def test_a_missing_cli_or_key_is_named_with_its_fix(
    app: Quarterdeck, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _story_plan(tmp_path)
    monkeypatch.setenv("QUARTERDECK_CLAUDE_PATH", str(tmp_path / "no-claude"))
    with pytest.raises(PlanError) as missing:
        await app.check(plan, repo=repo, agent="claude-code")
    assert "is not an executable file; install it with `npm install -g @anthropic-ai/claude-code@" in str(missing.value)

    monkeypatch.setenv("QUARTERDECK_CLAUDE_PATH", agent_bin("claude"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.claude login
    for name in _CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(PlanError) as keyless:
        await app.check(plan, repo=repo, agent="claude-code")
    (problem,) = keyless.value.problems
    assert "claude-code: no credentials; set ANTHROPIC_API_KEY or" in problem.message
    assert "quarterdeck secret set ANTHROPIC_API_KEY --kind provider_key" in problem.message
    assert "(and 1 more task)" in problem.message

    # A key stored as the organisation's secret reaches the agent: that is enough.
    keys = KeySettings().keyring(app.settings.state_dir)
    await vault.set_secret(
        app.db, keys, org_id="default", name="ANTHROPIC_API_KEY", value="sk-x-1234", kind="provider_key"
    )
    checked = await app.check(plan, repo=repo, agent="claude-code")
    assert {t.runtime for t in checked.tasks} == {"claude-code"}
