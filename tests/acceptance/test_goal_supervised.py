"""The process driving a goal is killed (-9) while the manager is planning; a `quarterdeck worker` started
afterwards plans it and runs it to the end — no terminal stays attached, no decision is lost."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.settings import Settings
from quarterdeck.store.records import RunRecord
from tests.acceptance.test_goal_crash import _env, _spawn
from tests.integration.test_supervisor import ACCEPT, SCRIPTED, _crew
from tests.support.gitrepo import make_repo
from tests.support.llm_servers import AnthropicServer, Hang, Reply, Script
from tests.support.processes import wait_for

pytestmark = pytest.mark.slow  # two processes, one killed mid-request

#: a plan the scripted worker meets (its check wants `hi`)
PLAN = {
    "name": "hi",
    "tasks": [
        {
            "id": "hi",
            "title": "Write hi",
            "prompt": "Write hi.",
            "role": "docs",
            "acceptance_criteria": [{"text": "it says hi", "command": "grep -qx hi hello.txt"}],
            "verify": ["grep -qx hi hello.txt"],
        }
    ],
}


async def _runs(settings: Settings) -> list[RunRecord]:
    async with Quarterdeck(settings) as app:
        return await app.runs()


def test_a_goal_whose_driver_dies_mid_planning_is_planned_and_run_by_a_worker(
    database_url: str, tmp_path: Path
) -> None:
    hang = Hang(max_s=60)
    repo = make_repo(tmp_path / "repo", {"README.md": "# hi\n"})
    env = _env(database_url, tmp_path)
    settings = Settings(database_url=database_url, state_dir=tmp_path / "state")
    with (
        AnthropicServer(Script(hang, Reply.text(json.dumps(PLAN)))) as boss,
        AnthropicServer(Script(then=Reply.text(json.dumps(ACCEPT)))) as review,
    ):
        _crew(repo, boss.url, review.url, SCRIPTED)
        goal = _spawn("goal", "Say hi", "--repo", str(repo), "--yes", "--workers", "1", env=env)
        try:
            wait_for(lambda: len(boss.model_requests()) == 1, goal)  # the manager is thinking
            goal.send_signal(signal.SIGKILL)
            goal.communicate(timeout=10)
        finally:
            if goal.poll() is None:
                goal.kill()
                goal.communicate()
        (run,) = asyncio.run(_runs(settings))
        assert run.status is RunStatus.PLANNING  # nothing was decided, nothing lost

        worker = _spawn("worker", "--slots", "1", env=env)
        try:
            wait_for(lambda: asyncio.run(_runs(settings))[0].status is RunStatus.SUCCEEDED, worker, timeout=90)
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=30)
            hang.release.set()
        assert len(boss.model_requests()) == 2, err  # asked again by the worker's supervisor, once
