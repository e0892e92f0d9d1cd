"""A goal on a repository named by URL, as on a local path: the crew and the ``[run] agent`` are read from the
remote at the run's base (through this machine's bare cache of it, no checkout), the manager's plan is applied and
its tasks land on the remote's integration branch. The remote is a bare repository reached through ``file://``;
the manager and reviewer are local servers speaking the Anthropic wire format."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.crews import sources
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.errors import InputError
from tests.integration.test_supervisor import MODEL, _task, serving, until
from tests.support.gitrepo import git, make_repo
from tests.support.llm_servers import AnthropicServer, Reply, Script

#: the scripted worker writes `hello`, the check wants it, the reviewer judges it greets: it lands at its first try
HELLO = _task("hello", "Write hello", "hello.txt exists", "test -f hello.txt", ["grep -qx hello hello.txt"])
PLAN = {"name": "hello", "tasks": [{**HELLO, "acceptance_criteria": [{"text": "it greets"}]}]}
ACCEPT = {
    "criteria": [{"criterion": "1", "status": "met", "evidence": "hello"}],
    "verdict": "accept",
    "summary": "ok",
}
SCRIPTED = 'runtime = "scripted"\noptions = {actions = [{write = "hello.txt", content = "hello\\n"}]}'


@pytest.fixture
def servers() -> Iterator[tuple[AnthropicServer, AnthropicServer]]:
    with (
        AnthropicServer(Script(Reply.text(json.dumps(PLAN)))) as boss,
        AnthropicServer(Script(then=Reply.text(json.dumps(ACCEPT)))) as review,
    ):
        yield boss, review


def _remote(tmp_path: Path, files: dict[str, str]) -> tuple[Path, str]:
    """A bare repository holding ``files`` on ``main``, and its ``file://`` URL."""
    source = make_repo(tmp_path / "source", files)
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(source), str(bare))
    return bare, f"file://{bare}"


def _crew(boss: str, review: str) -> str:
    route = '[{{provider = "anthropic", model = "{m}", base_url = "{u}"}}]'
    return (
        f"[crew.manager]\nmodels = {route.format(m=MODEL, u=boss)}\n"
        f"[crew.reviewer]\nmodels = {route.format(m=MODEL, u=review)}\n"
        f"[crew.roles.docs]\n{SCRIPTED}\n"
    )


def _crew_files(boss: str, review: str) -> dict[str, str]:
    """A remote's files: a crew whose manager and reviewer are the given servers, tasks run by ``scripted``."""
    return {
        "README.md": "# remote\n",
        ".quarterdeck/crew.toml": _crew(boss, review),
        ".quarterdeck/config.toml": '[run]\nagent = "scripted"\n',
    }


async def test_a_goal_on_a_url_is_planned_from_the_remote_and_its_tasks_land_there(
    app: Quarterdeck, tmp_path: Path, servers: tuple[AnthropicServer, AnthropicServer]
) -> None:
    boss, review = servers
    bare, url = _remote(tmp_path, _crew_files(boss.url, review.url))
    run = await app.start_goal("Say hello", repo=url, approve=False, actor="ada")
    assert run.status is RunStatus.PLANNING
    assert run.repo_path == url  # as given, not folded into a path
    assert run.base_ref == git(bare, "rev-parse", "main").strip()
    # the integration branch is made on the remote at the base, before the manager is asked
    assert git(bare, "rev-parse", run.integration_branch).strip() == run.base_ref
    # what the supervisor reads, from the cache (no checkout of the remote anywhere)
    assert (await app.run_crew(run)).manager.label.startswith("anthropic")
    assert await sources.run_agent(run, app.settings.resolved_repo_cache()) == "scripted"

    async with serving(app):
        done = await until(app, run.id, RunStatus.SUCCEEDED)
    assert [(t.id, t.status.value) for t in done.tasks] == [("hello", "succeeded")]
    assert len(boss.model_requests()) == 1  # the manager was found through the remote's crew.toml
    assert review.model_requests()  # so was the reviewer, at review time
    landed = git(bare, "show", f"{run.integration_branch}:hello.txt")
    assert landed == "hello\n"
    assert git(bare, "rev-parse", "main").strip() == run.base_ref  # only the integration branch moved


async def test_a_goal_on_a_url_with_a_broken_crew_is_refused_naming_the_remote_file(
    app: Quarterdeck, tmp_path: Path
) -> None:
    bare, url = _remote(tmp_path, {"README.md": "x\n", ".quarterdeck/crew.toml": "[crew.manager\n"})
    with pytest.raises(InputError, match=r"remote\.git [0-9a-f]{12}:\.quarterdeck/crew\.toml"):
        await app.start_goal("Say hello", repo=url, approve=False, actor="ada")
    with pytest.raises(InputError, match="has no 'nope'"):
        await app.start_goal("Say hello", repo=url, base="nope", approve=False, actor="ada")
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/heads").split() == ["refs/heads/main"]
    assert await app.runs() == []  # nothing made


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_remote_away_while_the_goal_is_planned_defers_the_step_and_the_goal_goes_on_when_it_is_back(
    app: Quarterdeck, tmp_path: Path, servers: tuple[AnthropicServer, AnthropicServer]
) -> None:
    boss, review = servers
    bare, url = _remote(tmp_path, _crew_files(boss.url, review.url))
    run = await app.start_goal("Say hello", repo=url, approve=False, actor="ada")
    # the supervisor runs on a machine that has not fetched the remote yet, and the remote is away
    shutil.rmtree(app.settings.resolved_repo_cache())
    away = bare.rename(tmp_path / "away.git")

    async with serving(app):
        deadline = asyncio.get_running_loop().time() + 60
        while not (deferred := await app.events(run.id, types=[EventType.STEP_DEFERRED])):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
        assert deferred[0].payload["step"] == "plan"
        assert url in deferred[0].payload["error"]
        assert deferred[0].payload["retry_in"] > 0
        view = await app.view(run.id)
        assert view.run.status is RunStatus.PLANNING, view.run.error  # not the goal's failure
        assert boss.model_requests() == []  # nothing was decided without the crew

        away.rename(bare)  # back: the step is tried again, and the goal goes on
        done = await until(app, run.id, RunStatus.SUCCEEDED)
    assert [(t.id, t.status.value) for t in done.tasks] == [("hello", "succeeded")]
    assert len(boss.model_requests()) == 1
    assert git(bare, "show", f"{run.integration_branch}:hello.txt") == "hello\n"
