"""The real Codex CLI (npm, pinned) against a local OpenAI Responses API server, fully offline."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.llm.pricing import Price, price_for
from quarterdeck.runtimes.base import SpendMeter, TokenUsage, verification_follow_up
from quarterdeck.runtimes.codex import CodexOptions, CodexRuntime
from tests.support.agents import (
    REPLAY,
    SAMPLES,
    Recorder,
    agent_bin,
    alive,
    context,
    cost_rows,
    processes_in,
    until,
)
from tests.support.gitrepo import git
from tests.support.llm_servers import (
    Fault,
    OpenAIResponsesServer,
    Reply,
    Script,
    ToolCall,
    apply_patch_add,
    function_outputs,
)

#: Codex 0.169 knows this model (and offers apply_patch for it); the tests give its price themselves
MODEL = "gpt-5.5"
PRICE = Price(input=1.25, output=10.0, cache_read=0.125)


@pytest.fixture
def server() -> Iterator[OpenAIResponsesServer]:
    with OpenAIResponsesServer() as srv:
        yield srv


def _options(base_url: str, **kw: Any) -> CodexOptions:
    kw.setdefault("price", PRICE)
    return CodexOptions(
        path=agent_bin("codex"),
        model=MODEL,
        base_url=f"{base_url}/v1",
        env_key="QD_TEST_OPENAI_KEY",
        sandbox="danger-full-access",  # the worktree is a throwaway directory
        env={"QD_TEST_OPENAI_KEY": "test-key"},
        **kw,
    )


def _hello_script() -> tuple[Reply, ...]:
    return (
        Reply.tools(ToolCall("apply_patch", apply_patch_add("hello.py", "print('hi')")), say="I'll create hello.py."),
        Reply.tools(ToolCall("exec_command", {"cmd": "python3 hello.py"})),
        Reply.text("done"),
    )


async def test_a_task_through_quarterdeck_creates_commits_and_prices_tokens(
    app: Quarterdeck, repo: Path, server: OpenAIResponsesServer
) -> None:
    server.script.extend(*_hello_script())
    task = plans.TaskSpec(
        id="hello",
        title="Add hello.py",
        prompt="Create hello.py and run it.",
        runtime="codex",
        options=_options(server.url).model_dump(exclude_defaults=True),
        verify=("python3 hello.py",),
        timeout_s=120,
    )
    record = await app.submit(plans.Plan(name="codex", tasks=(task,)), repo=repo, branch="integration")
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.05)
    assert view.run.status is RunStatus.SUCCEEDED, [(t.id, t.error) for t in view.tasks]
    assert git(repo, "show", "integration:hello.py") == "print('hi')\n"
    events = await app.events(record.id)
    assert [e.payload["tool"] for e in events if e.type == "agent.tool"] == ["file_change", "command"]
    assert any(e.payload["text"] == "hi\n" for e in events if e.type == "agent.output")
    assert function_outputs(server.requests[-1].body)[-1].endswith("Output:\nhi\n")  # what the model was told
    (usage,) = [e.payload for e in events if e.type == "agent.usage"]
    assert usage["input_tokens"] == 3000
    assert usage["output_tokens"] == 300
    assert usage["cost_usd"] == pytest.approx(3000 * 1.25e-6 + 300 * 10e-6)
    assert usage["cost_source"] == "price-table"
    # Codex talked only to our server, with our key, and kept its state in the attempt's own CODEX_HOME.
    assert {(r.path, r.headers.get("authorization")) for r in server.requests} == {("/v1/responses", "Bearer test-key")}
    (area,) = app.settings.resolved_worktree_root().glob(f"{record.id}/.agents/hello-*")
    assert list((area / "codex" / "sessions").glob("*/*/*/rollout-*.jsonl"))
    assert json.loads((area / "stream-1.jsonl").read_text().splitlines()[-1])["type"] == "turn.completed"


async def test_resume_after_failed_verification_continues_the_thread(
    tmp_path: Path, server: OpenAIResponsesServer
) -> None:
    server.script.extend(*_hello_script())
    runtime, sink = CodexRuntime(), Recorder()
    first = await runtime.run(context(tmp_path, _options(server.url)), sink)
    assert first.ok, first.error
    assert first.tokens == TokenUsage(input=3000, output=300)
    follow = verification_follow_up("python3 hello.py | grep hello", 1, "")
    server.script.extend(Reply.tools(ToolCall("exec_command", {"cmd": "echo \"print('hello')\" > hello.py"})))
    server.script.extend(Reply.text("fixed"))
    before = len(server.requests)
    ctx = context(tmp_path, _options(server.url), resume_session_id=first.session_id, follow_up=follow)
    second = await runtime.run(ctx, sink)
    assert second.ok, second.error
    assert second.session_id == first.session_id
    assert second.summary == "fixed"
    assert (ctx.workdir / "hello.py").read_text() == "print('hello')\n"
    transcript = json.dumps(server.requests[before].body["input"])
    assert "grep hello" in transcript
    assert "I'll create hello.py." in transcript
    # Codex reports the thread's totals; the runtime records this leg's share.
    assert second.tokens == TokenUsage(input=2000, output=200)
    assert second.cost_usd == pytest.approx(2000 * 1.25e-6 + 200 * 10e-6)


async def test_transient_provider_errors_are_retried(tmp_path: Path, server: OpenAIResponsesServer) -> None:
    server.script.extend(Fault(429), Fault(500), Fault(503), Reply.text("ok"))
    result = await CodexRuntime().run(context(tmp_path, _options(server.url)), Recorder())
    assert result.ok, result.error
    assert [r.answer for r in server.requests] == ["fault:429", "fault:500", "fault:503", "reply"]


async def test_a_permanent_400_fails_the_attempt(tmp_path: Path) -> None:
    with OpenAIResponsesServer(Script(then=Fault(400, "Invalid 'input': unsupported item"))) as server:
        result = await CodexRuntime().run(context(tmp_path, _options(server.url)), Recorder())
    assert not result.ok
    assert not result.retryable
    assert result.error is not None
    assert "unsupported item" in result.error


async def test_an_unreachable_provider_stops_instead_of_retrying_forever(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = _options(f"http://127.0.0.1:{port}", max_reconnects=1)
    result = await CodexRuntime().run(context(tmp_path, options, timeout_s=60), Recorder())
    assert not result.ok
    assert result.retryable
    assert result.error == "codex stopped: the provider is unreachable (1 reconnects)"


async def test_cancel_mid_session_kills_every_process_and_keeps_the_spend_of_the_turns_served(
    tmp_path: Path, server: OpenAIResponsesServer
) -> None:
    pids = tmp_path / "pids"
    hang = f"(setsid sleep 300 >/dev/null 2>&1 & echo $! >> {pids}); echo $$ >> {pids}; sleep 300"
    server.script.extend(
        Reply.tools(ToolCall("exec_command", {"cmd": hang, "yield_time_ms": 600000}), input_tokens=5000)
    )
    meter = SpendMeter()
    ctx = context(tmp_path, _options(server.url), timeout_s=120, kill_grace_s=0.5, meter=meter)
    job = asyncio.ensure_future(CodexRuntime().run(ctx, Recorder()))
    await until(lambda: pids.exists() and len(pids.read_text().split()) == 2, "the agent's command to start")
    hung = [int(p) for p in pids.read_text().split()]
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    # Nothing is left (checked once, no waiting); the response served is paid for, from Codex's rollout.
    assert [p for p in hung if alive(p)] == []
    assert processes_in(ctx.workdir) == []
    spent = meter.interrupted
    assert spent is not None
    assert (spent.cost_source, spent.model, spent.tokens) == ("estimated", MODEL, TokenUsage(input=5000, output=100))
    assert spent.cost_usd == pytest.approx(5000 * 1.25e-6 + 100 * 10e-6)


async def test_the_default_sandbox_works_where_bubblewrap_is_installed_and_costs_run_uncapped(
    app: Quarterdeck, repo: Path, server: OpenAIResponsesServer
) -> None:
    """No sandbox, model or budget option: Codex's workspace-write sandbox (bwrap on this machine) runs the
    tools, the model recorded is the one Codex used (its default), priced from the table, over $1."""
    assert shutil.which("bwrap"), "bubblewrap is part of this test's machine (CI installs it)"
    # (a long answer rather than a long prompt: Codex compacts a context near its model's window)
    big = Reply.tools(ToolCall("apply_patch", apply_patch_add("hello.py", "print('hi')")), output_tokens=100_000)
    run = Reply.tools(ToolCall("exec_command", {"cmd": "python3 -c \"print('x' * 3 + 'y')\""}))
    server.script.extend(big, run, Reply.text("done"))
    options = CodexOptions(
        path=agent_bin("codex"),
        base_url=f"{server.url}/v1",
        env_key="QD_TEST_OPENAI_KEY",
        env={"QD_TEST_OPENAI_KEY": "k"},
    )
    task = plans.TaskSpec(
        id="hello",
        title="Add hello.py",
        prompt="Create hello.py and run it.",
        runtime="codex",
        options=options.model_dump(exclude_defaults=True),
        verify=("python3 hello.py",),
        timeout_s=120,
    )
    record = await app.submit(plans.Plan(name="codex", tasks=(task,)), repo=repo, branch="integration")
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.05)
    assert view.run.status is RunStatus.SUCCEEDED, [(t.id, t.error) for t in view.tasks]
    events = await app.events(record.id)
    # The patch and the command ran inside the sandbox; the model was told the command's output.
    assert [e.payload["is_error"] for e in events if e.type == "agent.output"][:1] == [False]
    assert "xxxy" in json.dumps(server.requests[2].body["input"][-2:])
    used = server.requests[0].body["model"]
    assert await cost_rows(app, record.id) == [("price-table", used)]
    price = price_for(used)
    assert price is not None
    assert view.run.spent_usd == pytest.approx(price.cost(TokenUsage(input=3000, output=100_200)))
    assert view.run.spent_usd > 1.0


async def test_a_sandbox_that_fails_every_tool_call_is_named_with_the_fix(tmp_path: Path) -> None:
    """As Codex 0.169 printed it where bubblewrap could not find its helper (observed on this machine)."""
    stream = tmp_path / "stream.jsonl"
    lines = [
        {"type": "thread.started", "thread_id": "t-bwrap"},
        {"type": "turn.started"},
        {"type": "item.started", "item": {"id": "item_0", "type": "command_execution", "command": "python3 x.py",
                                          "aggregated_output": "", "exit_code": None, "status": "in_progress"}},
        {"type": "item.completed", "item": {"id": "item_0", "type": "command_execution", "command": "python3 x.py",
                                            "aggregated_output": "bwrap: execvp codex-linux-sandbox: No such file "
                                            "or directory\n", "exit_code": 1, "status": "failed"}},
        {"type": "item.completed", "item": {"id": "item_1", "type": "agent_message", "text": "done"}},
        {"type": "turn.completed", "usage": {"input_tokens": 10, "output_tokens": 1}},
    ]  # fmt: skip
    stream.write_text("".join(json.dumps(line) + "\n" for line in lines))
    env = {"REPLAY_FILE": str(stream), "REPLAY_VERSION": "codex-cli 0.169.0", "OPENAI_API_KEY": "x"}
    result = await CodexRuntime().run(context(tmp_path, CodexOptions(path=str(REPLAY), env=env)), Recorder())
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith(
        "codex's workspace-write sandbox failed every tool call: bwrap: execvp codex-linux-sandbox: No such file"
    )
    assert "sandbox: danger-full-access" in result.error


async def test_an_unknown_event_type_in_the_cli_stream_is_kept_raw(tmp_path: Path) -> None:
    stream = tmp_path / "stream.jsonl"
    lines = (SAMPLES / "codex-exec-json-sample.jsonl").read_text().splitlines()
    unknown = json.dumps({"type": "thread.compacted", "thread_id": "t", "summary": {"items": 3}})
    stream.write_text("\n".join([*lines[:2], unknown, *lines[2:]]) + "\n")
    env = {"REPLAY_FILE": str(stream), "REPLAY_VERSION": "codex-cli 0.169.0", "OPENAI_API_KEY": "x"}
    options = CodexOptions(path=str(REPLAY), model="gpt-5", env=env)
    sink = Recorder()
    result = await CodexRuntime().run(context(tmp_path, options), sink)
    assert result.ok, result.error
    assert result.summary == "done"
    (event,) = sink.of("agent.unknown")
    assert event["type"] == "thread.compacted"
    assert event["raw"]["summary"] == {"items": 3}
    assert result.cost_usd == pytest.approx(21295 * 1.25e-6 + 217 * 10e-6)  # gpt-5 from the price table


async def test_a_missing_cli_or_missing_key_is_a_clear_task_error(tmp_path: Path) -> None:
    result = await CodexRuntime().run(context(tmp_path, CodexOptions(path=str(tmp_path / "codex"))), Recorder())
    assert result.error is not None
    assert "npm install -g @openai/codex@0.169.0" in result.error
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REPLAY_VERSION": "codex-cli 0.169.0"}
    options = CodexOptions(path=str(REPLAY), base_url="http://127.0.0.1:1/v1", env_key="MY_KEY")
    result = await CodexRuntime().run(context(tmp_path, options, env=env), Recorder())
    assert (
        result.error
        == "codex: no credentials; set MY_KEY or OPENAI_API_KEY or CODEX_API_KEY or log in once with the CLI"
    )


async def test_a_retry_after_a_failed_check_continues_the_thread_on_the_earlier_work(
    app: Quarterdeck, repo: Path, server: OpenAIResponsesServer
) -> None:
    look = Reply.tools(ToolCall("exec_command", {"cmd": "cat hello.py"}))
    fix = Reply.tools(ToolCall("exec_command", {"cmd": "echo \"print('hello')\" > hello.py"}))
    first = Reply.tools(
        ToolCall("apply_patch", apply_patch_add("hello.py", "print('hi')")), say="I'll create hello.py."
    )
    server.script.extend(first, Reply.text("done"), look, fix, Reply.text("fixed"))
    task = plans.TaskSpec(
        id="hello",
        title="Add hello.py",
        prompt="Create hello.py that prints hello.",
        runtime="codex",
        options=_options(server.url).model_dump(exclude_defaults=True),
        verify=("python3 hello.py | grep -q hello",),
        max_attempts=2,
        timeout_s=120,
    )
    record = await app.submit(plans.Plan(name="codex", tasks=(task,)), repo=repo, branch="integration")
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.05)
    assert view.run.status is RunStatus.SUCCEEDED, [(t.id, t.error) for t in view.tasks]
    assert view.tasks[0].attempts == 2
    assert git(repo, "show", "integration:hello.py") == "print('hello')\n"
    # Attempt 2 resumed the thread, in its own worktree at attempt 1's commit, told what failed.
    retry = json.dumps(server.requests[2].body["input"])
    assert "I'll create hello.py." in retry
    assert "Your work above was committed, but the attempt then failed" in retry
    assert "python3 hello.py | grep -q hello" in retry
    assert "print('hi')" in function_outputs(server.requests[3].body)[-1]
