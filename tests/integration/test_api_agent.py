"""The api-agent runtime end to end: the engine, real git, and the official SDKs against local wire servers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.llm.settings import LlmSettings
from quarterdeck.runtimes.api_agent import ApiAgentRuntime
from tests.support.gitrepo import git
from tests.support.llm_servers import AnthropicServer, OpenAIChatServer, Reply, Script, ToolCall, chat_tool_results

KEYS = {"ANTHROPIC_API_KEY": "sk-ant-test-1", "OPENAI_API_KEY": "sk-openai-test-1"}


def agent_with(settings: LlmSettings, environ: Mapping[str, str] = KEYS) -> type[ApiAgentRuntime]:
    class TestApiAgent(ApiAgentRuntime):
        pass

    TestApiAgent.settings = settings
    TestApiAgent.environ = dict(environ)
    return TestApiAgent


@pytest.fixture
def llm_settings() -> LlmSettings:
    return LlmSettings(database_url=None, backoff_base_s=0.01, backoff_max_s=2.0)


@pytest.fixture
def api_agent(app: Quarterdeck, llm_settings: LlmSettings) -> Iterator[None]:
    app.registry.register(agent_with(llm_settings))
    yield
    app.registry.register(ApiAgentRuntime)


def plan_of(models: list[dict[str, Any]], *, budget_usd: float | None = None, **options: Any) -> plans.Plan:
    task = plans.TaskSpec(
        id="hello",
        title="Write hello.py",
        prompt="Create hello.py printing hi, run it, then stop.",
        runtime="api-agent",
        options={"models": models, **options},
        acceptance_criteria=(plans.Criterion("1", "python hello.py prints hi"),),
        verify=("python hello.py",),
        budget_usd=budget_usd,
    )
    return plans.Plan(name="api-agent", tasks=(task,))


def sent_key(headers: Mapping[str, str]) -> str | None:
    """The API key a request carried (``x-api-key``, or a Bearer token as newer SDKs send it)."""
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ") or None


def tool_results(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tool results an Anthropic request sends back."""
    last = body["messages"][-1]["content"]
    return [b for b in last if isinstance(b, dict) and b.get("type") == "tool_result"]


WRITE_AND_RUN = (
    Reply.tools(
        ToolCall("write_file", {"path": "hello.py", "content": "print('hi')\n"}),
        ToolCall("run_command", {"argv": ["python", "hello.py"]}),
        say="Writing hello.py.",
    ),
    Reply.text("hello.py prints hi."),
)


async def run_plan(app: Quarterdeck, repo: Path, plan: plans.Plan, budget_usd: float | None = None) -> Any:
    record = await app.submit(plan, repo=repo, budget_usd=budget_usd)
    return await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)


@pytest.mark.usefixtures("api_agent")
async def test_a_task_is_done_through_tool_calls_with_the_anthropic_sdk(app: Quarterdeck, repo: Path) -> None:
    with AnthropicServer(Script(*WRITE_AND_RUN)) as server:
        model = {"provider": "anthropic", "model": "claude-haiku-4-5", "base_url": server.url}
        view = await run_plan(app, repo, plan_of([model]))
    assert view.run.status == RunStatus.SUCCEEDED, view.tasks[0].error
    assert git(repo, "show", f"{view.run.integration_branch}:hello.py") == "print('hi')\n"
    first, second = server.model_requests()
    assert sent_key(first.headers) == "sk-ant-test-1"
    assert "Write hello.py" in first.body["system"]
    assert "`python hello.py`" in first.body["system"]
    assert {t["name"] for t in first.body["tools"]} >= {"read_file", "write_file", "edit_file", "run_command"}
    results = tool_results(second.body)
    assert [r["is_error"] for r in results] == [False, False]
    assert results[1]["content"].startswith("exit code 0\nhi")
    events = await app.events(view.run.id)
    calls = [e.payload for e in events if e.type == "llm.call"]
    assert [c["model"] for c in calls] == ["claude-haiku-4-5"] * 2
    assert calls[0]["reason"] == "first choice"
    assert calls[0]["request_id"].startswith("req_")
    # 2 calls × (1000 input × $1/M + 100 output × $5/M)
    assert view.run.spent_usd == pytest.approx(2 * 0.0015)
    assert "sk-ant-test-1" not in json.dumps([e.payload for e in events])


@pytest.mark.usefixtures("api_agent")
async def test_a_task_is_done_through_tool_calls_with_the_openai_sdk(app: Quarterdeck, repo: Path) -> None:
    with OpenAIChatServer(Script(*WRITE_AND_RUN)) as server:
        model = {"provider": "openai-chat", "model": "gpt-4o", "base_url": server.url + "/v1"}
        view = await run_plan(app, repo, plan_of([model]))
    assert view.run.status == RunStatus.SUCCEEDED, view.tasks[0].error
    assert git(repo, "show", f"{view.run.integration_branch}:hello.py") == "print('hi')\n"
    assert chat_tool_results(server.model_requests()[1].body)[1].startswith("exit code 0\nhi")
    # 2 calls × (1000 × $2.50/M + 100 × $10/M)
    assert view.run.spent_usd == pytest.approx(2 * 0.0035)


@pytest.mark.usefixtures("api_agent")
async def test_a_recorded_run_replays_offline_with_the_same_commits_and_costs(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    cassette = tmp_path / "run.cassette.jsonl"
    with AnthropicServer(Script(*WRITE_AND_RUN)) as server:
        model = {"provider": "anthropic", "model": "claude-haiku-4-5", "base_url": server.url}
        recorded = await run_plan(app, repo, plan_of([model], record=str(cassette)))
    assert recorded.run.status == RunStatus.SUCCEEDED, recorded.tasks[0].error
    assert len(cassette.read_text().splitlines()) == 2

    replayed = await run_plan(app, repo, plan_of([model], replay=str(cassette)))  # the server is gone
    assert replayed.run.status == RunStatus.SUCCEEDED, replayed.tasks[0].error
    tree = [git(repo, "rev-parse", f"{v.run.integration_branch}^{{tree}}") for v in (recorded, replayed)]
    assert tree[0] == tree[1]
    assert replayed.run.spent_usd == pytest.approx(recorded.run.spent_usd)
    assert replayed.run.spent_usd > 0
    reasons = [e.payload["reason"] for e in await app.events(replayed.run.id) if e.type == "llm.call"]
    assert reasons == ["replayed", "replayed"]


@pytest.mark.usefixtures("api_agent")
async def test_a_replay_fails_loudly_naming_a_request_the_cassette_lacks(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    cassette = tmp_path / "run.cassette.jsonl"
    with AnthropicServer(Script(Reply.text("nothing to do"))) as server:
        model = {"provider": "anthropic", "model": "claude-haiku-4-5", "base_url": server.url}
        await run_plan(app, repo, plan_of([model], record=str(cassette)))
    other = plan_of([model], replay=str(cassette), instructions="Also write tests.")
    view = await run_plan(app, repo, other)
    assert view.run.status == RunStatus.FAILED
    error = view.tasks[0].error or ""
    assert f"cassette {cassette} holds no answer for request" in error
    assert "claude-haiku-4-5 after 1 message(s), last: 'Create hello.py printing hi, run it, then stop.'" in error
