"""The real Gemini CLI (npm, pinned) against a local Gemini API server, fully offline; and its documented
stream-json replayed by a stand-in executable for the edges a server cannot produce."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.runtimes.base import SpendMeter, TokenUsage, verification_follow_up
from quarterdeck.runtimes.gemini import GeminiOptions, GeminiRuntime
from tests.support.agents import REPLAY, SAMPLES, Recorder, agent_bin, alive, context, cost_rows, until
from tests.support.gitrepo import git
from tests.support.llm_servers import (
    Fault,
    GeminiServer,
    Reply,
    Script,
    ToolCall,
    function_responses,
    gemini_working_directory,
)

MODEL = "gemini-2.5-pro"  # $1.25/M input, $10/M output in the price table


@pytest.fixture
def server() -> Iterator[GeminiServer]:
    with GeminiServer() as srv:
        yield srv


def _real(server: GeminiServer, **kw: Any) -> GeminiOptions:
    env = {"GOOGLE_GEMINI_BASE_URL": server.url, "GEMINI_API_KEY": "test-key"}
    return GeminiOptions(path=agent_bin("gemini"), model=MODEL, env=env, **kw)


def _write_hello(body: Mapping[str, Any]) -> Reply:
    cwd = gemini_working_directory(body)
    assert cwd is not None
    write = ToolCall("write_file", {"file_path": f"{cwd}/hello.py", "content": "print('hi')\n"})
    return Reply.tools(write, say="I'll create hello.py.", input_tokens=900_000, output_tokens=1000)


async def test_a_task_through_quarterdeck_writes_a_file_commits_and_costs_over_a_dollar_uncapped(
    app: Quarterdeck, repo: Path, server: GeminiServer
) -> None:
    server.script.extend(_write_hello, Reply.text("done", input_tokens=1000, output_tokens=100))
    task = plans.TaskSpec(
        id="hello",
        title="Add hello.py",
        prompt="Create hello.py.",
        runtime="gemini",
        options=_real(server).model_dump(exclude_defaults=True),
        verify=("python3 hello.py",),
        timeout_s=120,
    )
    record = await app.submit(plans.Plan(name="gemini", tasks=(task,)), repo=repo, branch="integration")
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.05)
    assert view.run.status is RunStatus.SUCCEEDED, [(t.id, t.error) for t in view.tasks]
    assert git(repo, "show", "integration:hello.py") == "print('hi')\n"
    events = await app.events(record.id)
    assert [e.payload["tool"] for e in events if e.type == "agent.tool"] == ["write_file"]
    (usage,) = [e.payload for e in events if e.type == "agent.usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (901_000, 1100)
    assert usage["cost_usd"] == pytest.approx(901_000 * 1.25e-6 + 1100 * 10e-6)  # $1.14, no $1 cap
    assert view.run.spent_usd == pytest.approx(usage["cost_usd"])
    assert await cost_rows(app, record.id) == [("price-table", MODEL)]
    # Only our server was asked, with our key; the tool's result went back to the model.
    assert {(r.path.rpartition(":")[2], r.headers.get("x-goog-api-key")) for r in server.requests} == {
        ("streamGenerateContent", "test-key")
    }
    assert "Successfully created" in json.dumps(function_responses(server.requests[-1].body))


async def test_a_revision_in_a_new_worktree_resumes_the_session(tmp_path: Path, server: GeminiServer) -> None:
    server.script.extend(_write_hello, Reply.text("done"))
    runtime, sink = GeminiRuntime(), Recorder()
    first = await runtime.run(context(tmp_path, _real(server)), sink)
    assert first.ok, first.error
    assert first.session_id
    assert first.model == MODEL
    follow = verification_follow_up("python3 hello.py | grep hello", 1, "")
    server.script.extend(Reply.text("fixed", input_tokens=2000, output_tokens=100))
    before = len(server.requests)
    # A retry's attempt runs in a worktree of its own: the chat follows the session there.
    other = tmp_path / "worktrees" / "run" / "task-2"
    other.mkdir()
    ctx = context(tmp_path, _real(server), attempt=2, resume_session_id=first.session_id, follow_up=follow)
    ctx = type(ctx)(**{**{f: getattr(ctx, f) for f in ctx.__dataclass_fields__}, "workdir": other})
    second = await runtime.run(ctx, sink)
    assert second.ok, second.error
    assert second.session_id == first.session_id
    transcript = json.dumps(server.requests[before].body["contents"])
    assert "grep hello" in transcript
    assert "I'll create hello.py." in transcript
    assert second.tokens == TokenUsage(input=2000, output=100)


async def test_a_rate_limit_and_an_outage_are_retried_then_fail_retryable(tmp_path: Path) -> None:
    # (the CLI waits 5 s before its first retry; two tries each keep this test short)
    with GeminiServer(Script(Fault(429, "Resource exhausted"), Reply.text("ok"))) as server:
        result = await GeminiRuntime().run(context(tmp_path, _real(server, max_attempts=2)), Recorder())
        assert result.ok, result.error
        assert [r.answer for r in server.requests] == ["fault:429", "reply"]
    with GeminiServer(Script(then=Fault(503, "The model is overloaded"))) as server:
        result = await GeminiRuntime().run(context(tmp_path, _real(server, max_attempts=2)), Recorder())
        assert [r.answer for r in server.requests] == ["fault:503", "fault:503"]
    assert not result.ok
    assert result.retryable, result.error


async def test_cancel_mid_session_kills_the_tool_and_records_the_turns_served(
    tmp_path: Path, server: GeminiServer
) -> None:
    pids = tmp_path / "pids"
    hang = f"(setsid sleep 300 >/dev/null 2>&1 & echo $! >> {pids}); echo $$ >> {pids}; sleep 300"
    server.script.extend(
        Reply.tools(ToolCall("run_shell_command", {"command": hang}), input_tokens=5000, output_tokens=200)
    )
    meter = SpendMeter()
    ctx = context(tmp_path, _real(server), timeout_s=120, kill_grace_s=0.5, meter=meter)
    job = asyncio.ensure_future(GeminiRuntime().run(ctx, Recorder()))
    await until(lambda: pids.exists() and len(pids.read_text().split()) == 2, "the agent's command to start")
    hung = [int(p) for p in pids.read_text().split()]
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert [p for p in hung if alive(p)] == []
    spent = meter.interrupted
    assert spent is not None
    assert (spent.cost_source, spent.model, spent.tokens) == ("estimated", MODEL, TokenUsage(input=5000, output=200))
    assert spent.cost_usd == pytest.approx(5000 * 1.25e-6 + 200 * 10e-6)


STREAM = SAMPLES / "gemini-stream-json-documented.jsonl"


def _options(**env: str) -> GeminiOptions:
    return GeminiOptions(path=str(REPLAY), env={"REPLAY_VERSION": "0.61.0", "GEMINI_API_KEY": "k", **env})


async def test_a_stream_becomes_events_tokens_and_a_priced_result(tmp_path: Path) -> None:
    sink = Recorder()
    ctx = context(tmp_path, _options(REPLAY_FILE=str(STREAM)))
    result = await GeminiRuntime().run(ctx, sink)
    assert result.ok, result.error
    assert result.session_id == "g-1"
    assert result.tokens == TokenUsage(input=1000, output=300, cache_read=200)
    assert result.cost_usd == pytest.approx(1000 * 1.25e-6 + 300 * 10e-6 + 200 * 0.31e-6)
    assert result.cost_source == "price-table"
    assert [t["tool"] for t in sink.of("agent.tool")] == ["write_file", "run_shell_command"]
    assert [m["text"] for m in sink.of("agent.message")] == ["I will write it.", "done"]
    raw = next(Path(tmp_path / "worktrees" / "run" / ".agents").glob("task-1/stream-1.jsonl"))
    assert raw.read_text() == STREAM.read_text()


async def test_the_turn_limit_exit_code_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"type":"init","session_id":"g-2","model":"gemini-2.5-flash"}\n')
    result = await GeminiRuntime().run(
        context(tmp_path, _options(REPLAY_FILE=str(empty), REPLAY_EXIT="53")), Recorder()
    )
    assert not result.ok
    assert result.error == "gemini exited 53 without a result: turn limit reached"


async def test_a_missing_cli_names_the_package(tmp_path: Path) -> None:
    result = await GeminiRuntime().run(context(tmp_path, GeminiOptions(path=str(tmp_path / "gemini"))), Recorder())
    assert result.error is not None
    assert "npm install -g @google/gemini-cli@0.61.0" in result.error


async def test_a_retry_after_a_failed_check_continues_the_session_on_the_earlier_work(
    app: Quarterdeck, repo: Path, server: GeminiServer
) -> None:
    look = Reply.tools(ToolCall("run_shell_command", {"command": "cat hello.py"}))
    fix = Reply.tools(ToolCall("run_shell_command", {"command": "echo \"print('hello')\" > hello.py"}))
    server.script.extend(_write_hello, Reply.text("done"), look, fix, Reply.text("fixed"))
    task = plans.TaskSpec(
        id="hello",
        title="Add hello.py",
        prompt="Create hello.py that prints hello.",
        runtime="gemini",
        options=_real(server).model_dump(exclude_defaults=True),
        verify=("python3 hello.py | grep -q hello",),
        max_attempts=2,
        timeout_s=120,
    )
    record = await app.submit(plans.Plan(name="gemini", tasks=(task,)), repo=repo, branch="integration")
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.05)
    assert view.run.status is RunStatus.SUCCEEDED, [(t.id, t.error) for t in view.tasks]
    assert view.tasks[0].attempts == 2
    assert git(repo, "show", "integration:hello.py") == "print('hello')\n"
    # Attempt 2 resumed the chat, in its own worktree at attempt 1's commit, told what failed.
    retry = json.dumps(server.requests[2].body["contents"])
    assert "I'll create hello.py." in retry
    assert "Your work above was committed, but the attempt then failed" in retry
    assert "python3 hello.py | grep -q hello" in retry
    assert "print('hi')" in json.dumps(function_responses(server.requests[3].body)[-1])
