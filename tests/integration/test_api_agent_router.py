"""The api-agent's calls under trouble: retries, Retry-After, key rotation, fallback, budgets, bad input."""

from __future__ import annotations

import importlib
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from quarterdeck.llm.endpoint import Endpoint
from quarterdeck.llm.ratelimit import Limits
from quarterdeck.llm.redis_limiter import DEFAULT_PREFIX, RedisLimiter
from quarterdeck.llm.settings import LlmSettings
from quarterdeck.runtimes.api_agent import ApiAgentOptions, ApiAgentRuntime
from quarterdeck.runtimes.base import RunResult, TaskContext
from tests.support.gitrepo import make_repo
from tests.support.llm_servers import (
    AnthropicServer,
    Fault,
    OpenAIChatServer,
    OpenAIResponsesServer,
    Reply,
    Script,
    ToolCall,
    chat_tool_results,
    function_outputs,
)

SETTINGS = LlmSettings(database_url=None, backoff_base_s=0.01, backoff_max_s=10.0)


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, type: str, /, **payload: Any) -> None:
        self.seen.append((type, payload))

    def of(self, type: str) -> list[dict[str, Any]]:
        return [p for t, p in self.seen if t == type]


async def run_agent(
    tmp_path: Path,
    models: list[dict[str, Any]],
    *,
    environ: Mapping[str, str] | None = None,
    budget_usd: float | None = None,
    resume: str | None = None,
    follow_up: str | None = None,
    settings: LlmSettings = SETTINGS,
    **options: Any,
) -> tuple[RunResult, Events, Path]:
    workdir = tmp_path / "run1" / "wt"
    if not workdir.exists():
        make_repo(workdir, {"README.md": "# project\n"})

    class Agent(ApiAgentRuntime):
        pass

    Agent.settings = settings
    Agent.environ = dict(environ or {"ANTHROPIC_API_KEY": "ak-1", "OPENAI_API_KEY": "ok-1"})
    task = TaskContext(
        run_id="run1",
        task_id="t1",
        attempt=1,
        title="Do it",
        prompt="Do the thing.",
        options=ApiAgentOptions.model_validate({"models": models, **options}),
        timeout_s=60,
        plan_dir=tmp_path,
        workdir=workdir,
        budget_usd=budget_usd,
        resume_session_id=resume,
        follow_up=follow_up,
    )
    events = Events()
    return await Agent().run(task, events), events, workdir


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("flavour", ["openai-chat", "openai-responses"])
async def test_the_openai_sdk_drives_the_tools(tmp_path: Path, flavour: str) -> None:
    server_class = OpenAIChatServer if flavour == "openai-chat" else OpenAIResponsesServer
    script = Script(
        Reply.tools(
            ToolCall("write_file", {"path": "src/a.txt", "content": "alpha\n"}),
            ToolCall("run_command", {"shell": "cat src/a.txt | tr a-z A-Z"}),
        ),
        Reply.text("done"),
    )
    with server_class(script) as server:
        result, _, workdir = await run_agent(
            tmp_path, [{"provider": flavour, "model": "gpt-4o-mini", "base_url": server.url + "/v1"}]
        )
    assert result.ok, result.error
    assert (workdir / "src/a.txt").read_text() == "alpha\n"
    second = server.model_requests()[1].body
    outputs = chat_tool_results(second) if flavour == "openai-chat" else function_outputs(second)
    assert outputs[1] == "exit code 0\nALPHA"
    assert server.model_requests()[0].headers["authorization"] == "Bearer ok-1"
    # 2 calls × (1000 × $0.15/M + 100 × $0.60/M)
    assert result.cost_usd == pytest.approx(2 * 0.00021)
    assert result.cost_source == "price-table"
    assert result.model == "gpt-4o-mini"


async def test_a_429_with_retry_after_is_waited_out_then_the_call_succeeds(tmp_path: Path) -> None:
    with AnthropicServer(Script(Fault(429, "slow down", retry_after=0.6), Reply.text("done"))) as server:
        result, events, _ = await run_agent(tmp_path, [{"model": "claude-haiku-4-5", "base_url": server.url}])
    assert result.ok, result.error
    first, second = server.model_requests()
    assert [r.answer for r in (first, second)] == ["fault:429", "reply"]
    (retry,) = events.of("agent.retry")
    assert retry["delay_ms"] == 600
    assert retry["status"] == 429
    assert events.of("llm.call")[0]["reason"] == "retry after rate_limit (429)"
    assert events.of("llm.call")[0]["attempts"] == 2


async def test_a_429_rotates_to_the_next_key_without_waiting(tmp_path: Path) -> None:
    keys = {"KEY_A": "ak-first", "KEY_B": "ak-second"}
    with AnthropicServer(Script(Fault(429, retry_after=30), Reply.text("done"))) as server:
        started = time.monotonic()
        model = {"model": "claude-haiku-4-5", "base_url": server.url, "api_key_env": ["KEY_A", "KEY_B"]}
        result, events, _ = await run_agent(tmp_path, [model], environ=keys)
    assert result.ok, result.error
    assert time.monotonic() - started < 30  # the other key did not wait for the first key's Retry-After
    sent = [r.headers.get("x-api-key") or r.headers["authorization"].split()[-1] for r in server.model_requests()]
    assert sent == ["ak-first", "ak-second"]
    assert events.of("llm.call")[0]["reason"] == "key rotation after rate_limit (429)"
    assert events.of("llm.call")[0]["key"] == 1


async def test_529_overload_falls_back_to_the_second_provider(tmp_path: Path) -> None:
    busy = Script(Fault(529, "Overloaded"), Fault(529, "Overloaded"), Fault(529, "Overloaded"))
    with AnthropicServer(busy) as first, OpenAIChatServer(Script(Reply.text("done"))) as second:
        models = [
            {"provider": "anthropic", "model": "claude-haiku-4-5", "base_url": first.url},
            {"provider": "openai-chat", "model": "gpt-4o-mini", "base_url": second.url + "/v1"},
        ]
        result, events, _ = await run_agent(tmp_path, models, max_attempts=3, backoff_base_s=0)
    assert result.ok, result.error
    assert len(first.model_requests()) == 3
    assert len(second.model_requests()) == 1
    assert result.model == "gpt-4o-mini"
    (fallback,) = events.of("llm.fallback")
    assert fallback["from_model"] == "anthropic:claude-haiku-4-5"
    assert events.of("llm.call")[0]["reason"] == "fallback after anthropic:claude-haiku-4-5: overloaded"


async def test_malformed_tool_calls_get_tool_errors_and_the_loop_goes_on(tmp_path: Path) -> None:
    script = Script(
        Reply.tools(
            ToolCall("write_file", '{"path": "a.txt", "content": '),  # truncated JSON
            ToolCall("write_file", {"path": "a.txt"}),  # no content
            ToolCall("delete_everything", {}),
            ToolCall("edit_file", {"path": "README.md", "old": "nothing like this", "new": "x"}),
        ),
        Reply.text("sorry"),
    )
    with OpenAIChatServer(script) as server:
        result, _, _ = await run_agent(
            tmp_path, [{"provider": "openai-chat", "model": "gpt-4o-mini", "base_url": server.url + "/v1"}]
        )
    assert result.ok, result.error
    errors = chat_tool_results(server.model_requests()[1].body)
    assert "not a JSON object" in errors[0]
    assert "content: Field required" in errors[1]
    assert "unknown tool 'delete_everything'" in errors[2]
    assert "occurs 0 times" in errors[3]


async def test_the_budget_stops_the_loop_before_it_overspends(tmp_path: Path) -> None:
    forever = Script(then=Reply.tools(ToolCall("list_files", {})))
    with AnthropicServer(forever) as server:
        # each call: 1000 input tokens at $100/M = $0.10
        model = {"model": "claude-haiku-4-5", "base_url": server.url, "price": {"input": 100, "output": 0}}
        result, _, _ = await run_agent(tmp_path, [model], budget_usd=0.25)
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("budget exhausted: spent $0.2000 of $0.2500")
    assert len(server.model_requests()) == 2
    assert result.cost_usd == pytest.approx(0.2)


async def test_max_turns_stops_a_model_that_never_finishes(tmp_path: Path) -> None:
    with AnthropicServer(Script(then=Reply.tools(ToolCall("list_files", {})))) as server:
        result, _, _ = await run_agent(tmp_path, [{"model": "claude-haiku-4-5", "base_url": server.url}], max_turns=3)
    assert not result.ok
    assert result.error == "stopped after max_turns=3 without a final answer"
    assert result.turns == 3


async def test_an_unknown_model_is_called_and_its_cost_flagged_unpriced(tmp_path: Path) -> None:
    with OpenAIChatServer(Script(Reply.text("hi"))) as server:
        model = {"provider": "openai-chat", "model": "my-local-llama", "base_url": server.url + "/v1"}
        result, events, _ = await run_agent(tmp_path, [model])
    assert result.ok
    assert len(server.model_requests()) == 1
    assert (result.cost_usd, result.cost_source) == (0.0, "unpriced")
    assert events.of("llm.call")[0]["cost_source"] == "unpriced"
    assert events.of("agent.usage")[0]["cost_source"] == "unpriced"


async def test_an_invalid_api_key_fails_at_once_with_the_providers_message(tmp_path: Path) -> None:
    with AnthropicServer(Script(then=Fault(401, "invalid x-api-key"))) as first, AnthropicServer() as second:
        models = [
            {"model": "claude-haiku-4-5", "base_url": first.url},
            {"model": "claude-haiku-4-5", "base_url": second.url},
        ]
        result, _, _ = await run_agent(tmp_path, models)
    assert not result.ok
    assert not result.retryable
    assert result.error == "anthropic answered 401: invalid x-api-key"
    assert len(first.model_requests()) == 1
    assert second.model_requests() == []


async def test_an_unreachable_provider_gets_bounded_retries_then_a_clear_failure(tmp_path: Path) -> None:
    model = {"provider": "openai-chat", "model": "gpt-4o-mini", "base_url": f"http://127.0.0.1:{closed_port()}/v1"}
    result, events, _ = await run_agent(tmp_path, [model], max_attempts=3, backoff_base_s=0)
    assert not result.ok
    assert result.retryable
    assert result.error is not None
    assert result.error.startswith(
        "every model failed (openai-chat:gpt-4o-mini); the last error: openai-chat is unreachable"
    )
    assert len(events.of("agent.retry")) == 2
    assert result.cost_usd == 0


async def test_a_resumed_session_continues_the_conversation_with_the_follow_up(tmp_path: Path) -> None:
    with AnthropicServer(Script(Reply.text("first answer"), Reply.text("fixed"))) as server:
        models = [{"model": "claude-haiku-4-5", "base_url": server.url}]
        first, _, _ = await run_agent(tmp_path, models)
        assert first.session_id is not None
        second, _, _ = await run_agent(tmp_path, models, resume=first.session_id, follow_up="The check failed; fix it.")
    assert second.ok
    assert second.session_id == first.session_id
    messages = server.model_requests()[1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"][0]["text"] == "first answer"
    assert messages[2]["content"][0]["text"] == "The check failed; fix it."


async def test_calls_draw_from_the_redis_buckets_other_workers_share(tmp_path: Path) -> None:
    redis_url = "redis://127.0.0.1:6379/0"
    # the worktree and the SDKs (imported on first use: seconds on a busy machine) are ready before the drain
    make_repo(tmp_path / "run1" / "wt", {"README.md": "# project\n"})
    importlib.import_module("quarterdeck.llm.providers")
    with AnthropicServer(Script(Reply.text("done"))) as server:
        model = {"model": "claude-haiku-4-5", "base_url": server.url, "tokens_per_minute": 30_000}
        bucket = Endpoint.model_validate(model).bucket("ak-1")
        try:
            async with RedisLimiter.for_url(redis_url) as other_worker:  # another worker drains the key's tokens
                assert await other_worker.try_acquire(bucket, Limits(tokens_per_minute=30_000), 30_000) == 0
            settings = LlmSettings(redis_url=redis_url, database_url=None, backoff_base_s=0.01)
            result, events, _ = await run_agent(tmp_path, [model], settings=settings, max_tokens=200)
        finally:
            client = aioredis.Redis.from_url(redis_url)
            saved = await client.hgetall(DEFAULT_PREFIX + bucket)
            await client.delete(DEFAULT_PREFIX + bucket)
            await client.aclose()
    assert result.ok, result.error
    (throttled,) = events.of("llm.throttled")
    assert 0 < throttled["waited_s"] < 10  # the request's estimate refilling at 500 tokens a second
    assert saved[b"requests"] == b"-2"  # two takes; without a request limit the count only goes down
