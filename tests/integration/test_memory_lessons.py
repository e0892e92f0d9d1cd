"""Agent memory end to end: a lesson learned by a task that failed and was fixed reaches a later, similar task.

The engine, real git, the real embedding model, and the api-agent talking to a local Anthropic-compatible
server: the lesson is asserted in the request the agent sent (its protocol boundary).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from quarterdeck.app import Quarterdeck, RunView
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.engine import memory
from quarterdeck.llm.settings import LlmSettings
from quarterdeck.memory import embedder
from quarterdeck.runtimes.api_agent import ApiAgentRuntime
from quarterdeck.settings import Settings
from quarterdeck.store import memories
from quarterdeck.store.types import utcnow
from quarterdeck.workspaces import project
from tests.integration.test_api_agent import agent_with
from tests.support.llm_servers import AnthropicServer, Reply, Script, ToolCall

FIX = "Started redis-server in the CI script before pytest, so the rate-limit tests find it."


@pytest.fixture
async def memory_app(settings: Settings) -> AsyncIterator[Quarterdeck]:
    async with Quarterdeck(settings.model_copy(update={"memory": True})) as application:
        yield application


@pytest.fixture
def api_agent(memory_app: Quarterdeck) -> Iterator[None]:
    llm = LlmSettings(database_url=None, backoff_base_s=0.01, backoff_max_s=2.0)
    memory_app.registry.register(agent_with(llm))
    yield
    memory_app.registry.register(ApiAgentRuntime)


def _plan(task_id: str, title: str, prompt: str, server: AnthropicServer, **extra: object) -> plans.Plan:
    model = {"provider": "anthropic", "model": "claude-haiku-4-5", "base_url": server.url}
    task = plans.TaskSpec(
        id=task_id,
        title=title,
        prompt=prompt,
        runtime="api-agent",
        options={"models": [model]},
        verify=("grep -q redis-server ci.sh",),
        **extra,  # type: ignore[arg-type]
    )
    return plans.Plan(name=task_id, tasks=(task,))


def _writes(content: str, say: str) -> tuple[Reply, Reply]:
    return Reply.tools(ToolCall("write_file", {"path": "ci.sh", "content": content}), say="Writing ci.sh."), Reply.text(
        say
    )


async def _run(app: Quarterdeck, repo: Path, plan: plans.Plan) -> RunView:
    record = await app.submit(plan, repo=repo)
    return await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)


@pytest.mark.usefixtures("api_agent")
async def test_a_similar_later_task_is_given_the_lesson_of_a_fixed_failure(memory_app: Quarterdeck, repo: Path) -> None:
    first = Script(
        *_writes("pytest\n", "Added the rate limit."), *_writes("redis-server --daemonize yes\npytest\n", FIX)
    )
    with AnthropicServer(first) as server:
        plan = _plan(
            "limit",
            "Add a login rate limit",
            "Throttle sign-in attempts; the counters live in Redis.",
            server,
            max_attempts=2,
        )
        view = await _run(memory_app, repo, plan)
    assert view.run.status == RunStatus.SUCCEEDED, view.tasks[0].error

    with AnthropicServer(Script(*_writes("redis-server --daemonize yes\npytest\n", "Done."))) as server:
        plan = _plan(
            "throttle", "Limit repeated password guesses", "Block a user after too many failed sign-ins.", server
        )
        second = await _run(memory_app, repo, plan)
        sent = json.dumps(server.model_requests()[0].body)
    assert second.run.status == RunStatus.SUCCEEDED
    assert "Lessons from earlier work in this repository" in sent
    assert "Add a login rate limit" in sent
    assert "grep -q redis-server ci.sh" in sent  # what failed
    assert "Started redis-server in the CI script" in sent  # how it was fixed
    assert "ci.sh" in sent

    recalled = [e for e in await memory_app.events(second.run.id) if e.type == "memory.recalled"]
    [given] = recalled[0].payload["memories"]
    assert given["title"] == "Add a login rate limit"
    lessons = await memory_app.task_memories(second.run.id, "throttle")
    assert [m.id for m in lessons] == [given["id"]]


async def test_a_crews_manager_is_given_the_lessons_with_the_goal(memory_app: Quarterdeck, repo: Path) -> None:
    """``supervisor._plan`` hands ``recall_for_goal``'s section to the manager with the goal."""
    plan = plans.Plan(name="seed", tasks=(plans.TaskSpec(id="n", title="N", runtime="noop"),))
    record = await memory_app.submit(plan, repo=repo)
    model = embedder.load()
    lesson = "Task: Add a login rate limit. What failed: the tests hung: Redis was not started in CI."
    async with memory_app.db.transaction() as conn:
        await memories.create_memory(
            conn,
            memories.NewMemory(
                record.org_id, record.repo_path, "earlier", "limit", "Add a login rate limit", "succeeded", lesson,
                (), model.name, model.embed(lesson).tobytes(),
            ),
            now=utcnow(),
        )  # fmt: skip
    run = dataclasses.replace(record, goal="Throttle repeated sign-in attempts per user")
    config = project.ProjectConfig(memory=project.MemoryConfig(enabled=True))
    section = await memory.recall_for_goal(memory_app.db, memory_app.settings, config, run)
    assert "Redis was not started in CI" in section
    off = project.ProjectConfig(memory=project.MemoryConfig(enabled=False))
    assert await memory.recall_for_goal(memory_app.db, memory_app.settings, off, run) == ""
    recalled = [e for e in await memory_app.events(run.id) if e.type == "memory.recalled"]
    assert [m["title"] for m in recalled[0].payload["memories"]] == ["Add a login rate limit"]
