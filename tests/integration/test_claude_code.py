"""The real Claude Code CLI (npm, pinned) against a local Anthropic Messages API server, fully offline."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.runtimes.agent_session import AgentArea
from quarterdeck.runtimes.base import verification_follow_up
from quarterdeck.runtimes.claude_code import ClaudeCodeOptions, ClaudeCodeRuntime
from tests.support.agents import REPLAY, SAMPLES, Recorder, agent_bin, alive, context, cost_rows, until
from tests.support.gitrepo import git, shared_dir
from tests.support.llm_servers import AnthropicServer, Fault, Reply, Script, ToolCall, working_directory

MODEL = "claude-sonnet-4-5"  # Claude Code prices it at $3/M input and $15/M output


@pytest.fixture
def server() -> Iterator[AnthropicServer]:
    with AnthropicServer() as srv:
        yield srv


def _options(server: AnthropicServer, **kw: Any) -> ClaudeCodeOptions:
    env = {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "test-key", "IS_SANDBOX": "1"}
    return ClaudeCodeOptions(path=agent_bin("claude"), model=MODEL, env=env, **kw)


def _write_hello(body: Mapping[str, Any]) -> Reply:
    cwd = working_directory(body)
    assert cwd is not None
    write = ToolCall("Write", {"file_path": f"{cwd}/hello.py", "content": "print('hi')\n"})
    return Reply.tools(write, say="I'll create hello.py.", input_tokens=1000, output_tokens=100)


def _hello_script() -> tuple[Any, ...]:
    run = Reply.tools(ToolCall("Bash", {"command": "python3 hello.py", "description": "Run it"}))
    return (_write_hello, run, Reply.text("done", input_tokens=1000, output_tokens=100))


async def test_a_task_through_quarterdeck_creates_commits_and_costs(
    app: Quarterdeck, repo: Path, server: AnthropicServer
) -> None:
    server.script.extend(*_hello_script())
    options = _options(server).model_dump(exclude_defaults=True)
    task = plans.TaskSpec(
        id="hello",
        title="Add hello.py",
        prompt="Create hello.py and run it.",
        runtime="claude-code",
        options=options,
        verify=("python3 hello.py",),
        timeout_s=120,
    )
    record = await app.submit(plans.Plan(name="claude", tasks=(task,)), repo=repo, branch="integration")
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.05)
    assert view.run.status is RunStatus.SUCCEEDED, [(t.id, t.error) for t in view.tasks]
    assert git(repo, "show", "integration:hello.py") == "print('hi')\n"
    events = await app.events(record.id)
    types = [e.type for e in events]
    assert "agent.session" in types
    tools = [e.payload["tool"] for e in events if e.type == "agent.tool"]
    assert tools == ["Write", "Bash"]
    outputs = [e.payload["text"] for e in events if e.type == "agent.output"]
    assert "hi" in outputs[-1]
    (usage,) = [e.payload for e in events if e.type == "agent.usage"]
    assert usage["cost_usd"] == pytest.approx(3 * 1000 * 3e-6 + 300 * 15e-6)  # three turns as scripted
    assert usage["input_tokens"] == 3000
    assert usage["output_tokens"] == 300
    assert usage["cost_source"] == "agent"
    assert usage["model"] == MODEL
    assert usage["turns"] == 3
    # Requests went only to our server, with our key; the raw JSONL is kept outside the worktree, uncommitted.
    assert {(r.path, r.headers.get("x-api-key")) for r in server.requests} == {("/v1/messages", "test-key")}
    (raw,) = app.settings.resolved_worktree_root().glob(f"{record.id}/.agents/hello-*/stream-1.jsonl")
    lines = [json.loads(line) for line in raw.read_text().splitlines()]
    assert lines[0]["type"] == "system"
    assert lines[-1]["type"] == "result"
    assert ".agents" not in git(repo, "show", "--stat", "--format=", "integration")


async def test_resume_after_failed_verification_continues_the_same_session(
    tmp_path: Path, server: AnthropicServer
) -> None:
    server.script.extend(*_hello_script())
    runtime, sink = ClaudeCodeRuntime(), Recorder()
    first = await runtime.run(context(tmp_path, _options(server)), sink)
    assert first.ok, first.error
    assert first.session_id
    assert first.cost_usd == pytest.approx(0.0135)
    # The engine's verification failed: the failure goes back to the same session as a follow-up turn.
    follow = verification_follow_up("python3 -m pytest", 1, "AssertionError: expected 'hello'")
    fix = Reply.tools(ToolCall("Bash", {"command": "echo \"print('hello')\" > hello.py"}), input_tokens=2000)
    server.script.extend(fix, Reply.text("fixed", input_tokens=2000, output_tokens=100))
    before = len(server.requests)
    ctx = context(tmp_path, _options(server), resume_session_id=first.session_id, follow_up=follow)
    second = await runtime.run(ctx, sink)
    assert second.ok, second.error
    assert second.session_id == first.session_id
    assert second.summary == "fixed"
    assert (ctx.workdir / "hello.py").read_text() == "print('hello')\n"
    resumed = server.requests[before].body
    transcript = json.dumps(resumed["messages"])
    assert "AssertionError: expected" in transcript
    assert "I'll create hello.py." in transcript
    # The CLI reports the session's cumulative cost; the runtime records only this leg's.
    assert second.cost_usd == pytest.approx(2 * 2000 * 3e-6 + 200 * 15e-6)
    assert sorted(p.name for p in AgentArea.for_task(ctx).root.glob("stream-*.jsonl")) == [
        "stream-1.jsonl",
        "stream-2.jsonl",
    ]
    # A retry (a new attempt) can resume it too: the session's transcript is carried over.
    server.script.extend(Reply.text("still here"))
    third = await runtime.run(context(tmp_path, _options(server), attempt=2, resume_session_id=first.session_id), sink)
    assert third.ok, third.error
    assert third.session_id == first.session_id
    assert third.cost_usd == pytest.approx(1000 * 3e-6 + 100 * 15e-6)


async def test_transient_provider_errors_are_retried_by_the_cli(tmp_path: Path, server: AnthropicServer) -> None:
    server.script.extend(Fault(429), Fault(500), Fault(529), Reply.text("ok"))
    sink = Recorder()
    result = await ClaudeCodeRuntime().run(context(tmp_path, _options(server)), sink)
    assert result.ok, result.error
    assert [r["status"] for r in sink.of("agent.retry")] == [429, 500, 529]
    assert [r.answer for r in server.requests] == ["fault:429", "fault:500", "fault:529", "reply"]


async def test_a_permanent_400_fails_the_attempt_without_retry(tmp_path: Path) -> None:
    with AnthropicServer(Script(then=Fault(400, "messages: text content blocks must be non-empty"))) as server:
        result = await ClaudeCodeRuntime().run(context(tmp_path, _options(server)), Recorder())
    assert not result.ok
    assert not result.retryable
    assert result.error is not None
    assert "400" in result.error
    assert "non-empty" in result.error


async def test_max_turns_exhaustion_is_a_failure(tmp_path: Path, server: AnthropicServer) -> None:
    loop = Reply.tools(ToolCall("Bash", {"command": "true", "description": "loop"}))
    server.script.extend(loop, loop, loop)
    result = await ClaudeCodeRuntime().run(context(tmp_path, _options(server, max_turns=1)), Recorder())
    assert not result.ok
    assert not result.retryable
    assert result.error == "Reached maximum number of turns (1)"
    assert result.cost_usd > 0


def _hang(pids: Path, marker: str = "hang") -> str:
    """A tool command that hangs: `sleep 300` in a session of its own (escaping the CLI's process group and,
    once the CLI is gone, its tree), and a python3 that sleeps in the foreground. Their pids go to ``pids``
    (inside a sandbox those are its own PID namespace's: ``_marked`` finds them from outside by ``marker``)."""
    return (
        f"(setsid bash -c 'exec -a {marker} sleep 300' >/dev/null 2>&1 & echo $! >> {pids}); "
        f"python3 -c \"import os, time; open('{pids}', 'a').write(f'{{os.getpid()}}\\n'); time.sleep(300)\" {marker}"
    )


def _marked(marker: str) -> list[int]:
    """Live processes, as this process sees them, whose command line carries ``marker``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes().split(b"\0") and alive(int(cmdline.parent.name)):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def _hung_pids(pids: Path) -> list[int]:
    return [int(p) for p in pids.read_text().split()] if pids.exists() else []


async def test_task_cancel_mid_session_kills_every_process_and_records_the_turns_served(
    app: Quarterdeck, repo: Path, server: AnthropicServer, tmp_path: Path
) -> None:
    pids = shared_dir(repo, tmp_path / "shared") / "pids"  # the sandbox sees only its worktree otherwise
    marker = f"qd-hang-{uuid.uuid4().hex[:8]}"
    hang = Reply.tools(ToolCall("Bash", {"command": _hang(pids, marker), "description": "wait", "timeout": 600000}))
    server.script.extend(_write_hello, Reply(hang.blocks, input_tokens=2000, output_tokens=50))
    task = plans.TaskSpec(
        id="hang",
        title="Hang",
        prompt="Create hello.py, then wait.",
        runtime="claude-code",
        options=_options(server).model_dump(exclude_defaults=True),
        timeout_s=120,
    )
    record = await app.submit(plans.Plan(name="claude", tasks=(task,)), repo=repo, branch="integration")
    serving = asyncio.ensure_future(
        app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.05)
    )
    await until(lambda: len(_hung_pids(pids)) == 2, "the agent's command to start")
    hung = _marked(marker)
    assert len(hung) == 2
    await app.cancel_task(record.id, "hang")
    view = await serving
    assert view.tasks[0].status.value == "cancelled"
    # The attempt ended: nothing it started is left (checked once, no waiting).
    assert [p for p in hung if alive(p)] == []
    # The two responses served are paid for: input from their usage, output estimated from their content.
    (attempt,) = await app.attempts(view.tasks[0])
    assert attempt.cost_usd == pytest.approx(view.run.spent_usd)
    served_input = (1000 + 2000) * 3e-6
    assert served_input < view.run.spent_usd < served_input + 1000 * 15e-6
    assert await cost_rows(app, record.id) == [("estimated", MODEL)]


async def test_the_timeout_stops_a_hung_agent_is_retryable_and_keeps_the_spend(
    tmp_path: Path, server: AnthropicServer
) -> None:
    pids = tmp_path / "pids"
    server.script.extend(Reply.tools(ToolCall("Bash", {"command": _hang(pids), "timeout": 600000})))
    ctx = context(tmp_path, _options(server), timeout_s=12, kill_grace_s=0.5)  # (room for a slow start under load)
    result = await ClaudeCodeRuntime().run(ctx, Recorder())
    assert not result.ok
    assert result.retryable
    assert result.error == "timed out after 12s"
    assert [p for p in _hung_pids(pids) if alive(p)] == []
    assert result.cost_source == "estimated"
    assert result.tokens.input == 1000
    assert result.cost_usd == pytest.approx(1000 * 3e-6 + result.tokens.output * 15e-6)


async def test_an_unknown_sse_event_from_the_provider_is_tolerated(tmp_path: Path, server: AnthropicServer) -> None:
    odd = Reply.text("fine", extra_events=(("content_block_future", {"type": "content_block_future", "x": 1}),))
    server.script.extend(odd)
    result = await ClaudeCodeRuntime().run(context(tmp_path, _options(server)), Recorder())
    assert result.ok, result.error
    assert result.summary == "fine"


async def test_an_unknown_event_type_in_the_cli_stream_is_kept_raw(tmp_path: Path) -> None:
    stream = tmp_path / "stream.jsonl"
    lines = (SAMPLES / "claude-stream-sample.jsonl").read_text().splitlines()
    unknown = json.dumps({"type": "telemetry_v9", "session_id": "s", "detail": {"k": "v"}})
    stream.write_text("\n".join([lines[0], unknown, *lines[1:]]) + "\n")
    env = {"REPLAY_FILE": str(stream), "REPLAY_VERSION": "2.1.330 (Claude Code)", "ANTHROPIC_API_KEY": "x"}
    sink = Recorder()
    result = await ClaudeCodeRuntime().run(context(tmp_path, ClaudeCodeOptions(path=str(REPLAY), env=env)), sink)
    assert result.ok, result.error
    assert result.summary == "done"
    (unknown_event,) = sink.of("agent.unknown")
    assert unknown_event["type"] == "telemetry_v9"
    assert unknown_event["raw"]["detail"] == {"k": "v"}
    assert result.cost_usd == pytest.approx(0.037896)


async def test_a_missing_or_too_old_cli_or_missing_credentials_is_a_clear_task_error(tmp_path: Path) -> None:
    missing = ClaudeCodeOptions(path=str(tmp_path / "nowhere" / "claude"))
    result = await ClaudeCodeRuntime().run(context(tmp_path, missing), Recorder())
    assert not result.ok
    assert result.error is not None
    assert "npm install -g @anthropic-ai/claude-code@2.1.330" in result.error
    assert "QUARTERDECK_CLAUDE_PATH" in result.error
    old = ClaudeCodeOptions(path=str(REPLAY), env={"REPLAY_VERSION": "1.0.3 (Claude Code)", "ANTHROPIC_API_KEY": "x"})
    result = await ClaudeCodeRuntime().run(context(tmp_path, old), Recorder())
    assert result.error is not None
    assert "version 1.0.3, older than the minimum 2.1.197" in result.error
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REPLAY_VERSION": "2.1.330"}
    bare = ClaudeCodeOptions(path=str(REPLAY))
    result = await ClaudeCodeRuntime().run(context(tmp_path, bare, env=env), Recorder())
    assert result.error is not None
    assert "no credentials; set ANTHROPIC_API_KEY" in result.error


async def test_a_task_costing_more_than_the_default_reservation_runs_uncapped(
    app: Quarterdeck, repo: Path, server: AnthropicServer
) -> None:
    """No budget set: no --max-budget-usd, so a $1.35 step is not stopped at the $1 reservation."""

    def big_write(body: Mapping[str, Any]) -> Reply:
        reply = _write_hello(body)
        return Reply(reply.blocks, input_tokens=400_000, output_tokens=10_000)  # $1.20 + $0.15

    server.script.extend(big_write, Reply.text("done", input_tokens=100, output_tokens=10))
    task = plans.TaskSpec(
        id="big",
        title="Add hello.py",
        prompt="Create hello.py.",
        runtime="claude-code",
        options=_options(server).model_dump(exclude_defaults=True),
        timeout_s=120,
    )
    record = await app.submit(plans.Plan(name="claude", tasks=(task,)), repo=repo, branch="integration")
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.05)
    assert view.run.status is RunStatus.SUCCEEDED, [(t.id, t.error) for t in view.tasks]
    assert view.run.spent_usd == pytest.approx(1.2 + 0.15 + 100 * 3e-6 + 10 * 15e-6)


async def test_a_retry_after_a_failed_check_continues_the_session_on_the_earlier_work(
    app: Quarterdeck, repo: Path, server: AnthropicServer
) -> None:
    look = Reply.tools(ToolCall("Bash", {"command": "cat hello.py", "description": "look"}))
    fix = Reply.tools(ToolCall("Bash", {"command": "echo \"print('hello')\" > hello.py", "description": "fix"}))
    server.script.extend(_write_hello, Reply.text("done"), look, fix, Reply.text("fixed"))
    task = plans.TaskSpec(
        id="hello",
        title="Add hello.py",
        prompt="Create hello.py that prints hello.",
        runtime="claude-code",
        options=_options(server).model_dump(exclude_defaults=True),
        verify=("python3 hello.py | grep -q hello",),
        max_attempts=2,
        timeout_s=120,
    )
    record = await app.submit(plans.Plan(name="claude", tasks=(task,)), repo=repo, branch="integration")
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.05)
    assert view.run.status is RunStatus.SUCCEEDED, [(t.id, t.error) for t in view.tasks]
    assert view.tasks[0].attempts == 2
    assert git(repo, "show", "integration:hello.py") == "print('hello')\n"
    # Attempt 2 resumed the session (its first request carries attempt 1's turns) with a turn naming the check.
    retry = json.dumps(server.requests[2].body["messages"])
    assert "I'll create hello.py." in retry
    assert "Your work above was committed, but the attempt then failed" in retry
    assert "python3 hello.py | grep -q hello" in retry
    # ...in a worktree holding attempt 1's file.
    outputs = [e.payload["text"] for e in await app.events(record.id) if e.type == "agent.output"]
    assert "print('hi')" in outputs[-2]
