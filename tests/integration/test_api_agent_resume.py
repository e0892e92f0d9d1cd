"""An api-agent attempt that dies mid-loop is resumed from its last completed turn, on any worker.

The local wire-format server counts every model request: the resumed attempt sends only the call that was
in flight when the first one died and the ones after it, never a completed one again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import AttemptStatus, RunStatus
from quarterdeck.llm.settings import LlmSettings
from quarterdeck.runtimes.api_agent import ApiAgentOptions, ApiAgentRuntime
from quarterdeck.runtimes.base import RunResult, TaskContext
from quarterdeck.settings import Settings
from tests.support.gitrepo import git, make_repo
from tests.support.llm_servers import AnthropicServer, Hang, Reply, Script, ToolCall

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = LlmSettings(database_url=None, redis_url=None, backoff_base_s=0.01)
#: one call: 1000 input tokens at $1/M + 100 output tokens at $5/M (claude-haiku-4-5)
CALL_USD = 0.0015


class TestAgent(ApiAgentRuntime):
    settings = SETTINGS
    environ: ClassVar[Mapping[str, str] | None] = {"ANTHROPIC_API_KEY": "sk-ant-test"}


def _two_writes_then(*rest: Reply | Hang) -> Script:
    return Script(
        Reply.tools(ToolCall("write_file", {"path": "a.txt", "content": "alpha\n"})),
        Reply.tools(ToolCall("write_file", {"path": "b.txt", "content": "beta\n"}), ToolCall("list_files", {})),
        *rest,
    )


def _finish() -> tuple[Reply, Reply]:
    return Reply.tools(ToolCall("run_command", {"shell": "cat a.txt b.txt"})), Reply.text("both files are there")


async def test_a_killed_worker_s_attempt_resumes_from_its_last_completed_turn(
    app: Quarterdeck, settings: Settings, repo: Path
) -> None:
    hang = Hang()
    with AnthropicServer(_two_writes_then(hang, *_finish())) as server:
        task = plans.TaskSpec(
            id="pair",
            title="Write a.txt and b.txt",
            prompt="Write a.txt and b.txt, check them, then stop.",
            runtime="api-agent",
            options={"models": [{"model": "claude-haiku-4-5", "base_url": server.url}]},
            verify=("test -f a.txt && test -f b.txt",),
        )
        record = await app.submit(plans.Plan(name="resume", tasks=(task,)), repo=repo)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QUARTERDECK_", "ANTHROPIC_"))}
        env |= {
            "QUARTERDECK_DATABASE_URL": settings.database_url or "",
            "QUARTERDECK_STATE_DIR": str(settings.state_dir),
            "QUARTERDECK_LEASE_S": "2",
            "QUARTERDECK_HEARTBEAT_S": "0.3",
            "QUARTERDECK_POLL_MAX_S": "0.05",
        }
        first = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "quarterdeck", "worker", env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
        )
        try:
            # two completed turns, and the third call in flight: the worker dies there
            reached = asyncio.ensure_future(asyncio.to_thread(server.wait_for_requests, 3, 90.0))
            exited = asyncio.ensure_future(first.wait())
            await asyncio.wait({reached, exited}, return_when=asyncio.FIRST_COMPLETED)
            assert not exited.done(), f"the worker exited early: {(await first.communicate())[1].decode()}"
            await reached
        finally:
            if first.returncode is None:
                first.send_signal(signal.SIGKILL)
                await first.communicate()
        hang.release.set()

        app.registry.register(TestAgent)
        try:
            view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.05)
        finally:
            app.registry.register(ApiAgentRuntime)

    assert view.run.status == RunStatus.SUCCEEDED, view.tasks[0].error
    assert [a.status for a in await app.attempts(view.tasks[0])] == [AttemptStatus.EXPIRED, AttemptStatus.SUCCEEDED]
    requests = server.model_requests()
    assert len(requests) == 5  # 3 by the dead attempt, 2 by the resumed one
    assert [len(r.body["messages"]) for r in requests] == [1, 3, 5, 5, 7]
    assert requests[3].body == requests[2].body  # only the call in flight was sent again
    ran = requests[4].body["messages"][-1]["content"][0]
    assert ran["content"] == "exit code 0\nalpha\nbeta"  # the new worktree has the files of the dead attempt
    branch = view.run.integration_branch
    assert (git(repo, "show", f"{branch}:a.txt"), git(repo, "show", f"{branch}:b.txt")) == ("alpha\n", "beta\n")
    events = await app.events(view.run.id)
    (resumed,) = [e.payload for e in events if e.type == "agent.resumed"]
    assert (resumed["turns"], resumed["how"]) == (2, "continue")
    # the dead attempt's two answered calls were never settled: the resumed attempt records them with its own
    assert view.run.spent_usd == pytest.approx(4 * CALL_USD)


# The runtime on its own: a TaskContext per attempt, the engine's checkpoint played by a list.


class Kept:
    """The engine's side of ``save_state``: the last state saved."""

    def __init__(self) -> None:
        self.states: list[dict[str, Any]] = []

    async def save(self, state: dict[str, Any]) -> None:
        self.states.append(state)

    @property
    def last(self) -> dict[str, Any] | None:
        return self.states[-1] if self.states else None


def _worktree(repo: Path, name: str, attempt: int) -> Path:
    path = repo.parent / "run1" / name
    git(repo, "worktree", "add", "--quiet", "-B", f"qd/run1/t1-{attempt}", str(path), "HEAD")
    return path


async def _run(
    workdir: Path,
    server: AnthropicServer,
    kept: Kept,
    *,
    attempt: int,
    resume_state: Mapping[str, Any] | None = None,
) -> tuple[RunResult, list[tuple[str, dict[str, Any]]]]:
    seen: list[tuple[str, dict[str, Any]]] = []

    async def events(type: str, /, **payload: Any) -> None:
        seen.append((type, payload))

    task = TaskContext(
        run_id="run1",
        task_id="t1",
        attempt=attempt,
        title="Pair",
        prompt="Write a.txt and b.txt.",
        options=ApiAgentOptions.model_validate({"models": [{"model": "claude-haiku-4-5", "base_url": server.url}]}),
        timeout_s=60,
        plan_dir=workdir,
        workdir=workdir,
        resume_state=resume_state,
        save_state=kept.save,
    )
    return await TestAgent().run(task, events), seen


async def _die_in_the_third_call(repo: Path, server: AnthropicServer, kept: Kept) -> None:
    """Attempt 1 completes two turns; its worker dies while the third call is in flight."""
    workdir = _worktree(repo, "wt1", 1)
    job = asyncio.ensure_future(_run(workdir, server, kept, attempt=1))
    await asyncio.to_thread(server.wait_for_requests, 3, 60.0)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job


async def test_the_dead_attempt_s_files_are_merged_onto_a_newer_integration_head(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# r\n"})
    kept = Kept()
    hang = Hang()
    with AnthropicServer(_two_writes_then(hang, *_finish())) as server:
        await _die_in_the_third_call(repo, server, kept)
        hang.release.set()
        # meanwhile another task landed a file
        (repo / "landed.txt").write_text("from another task\n")
        git(repo, "add", "landed.txt")
        git(repo, "commit", "--quiet", "-m", "another task")
        workdir = _worktree(repo, "wt2", 2)
        result, events = await _run(workdir, server, kept, attempt=2, resume_state=kept.last)
    assert result.ok, result.error
    assert [len(r.body["messages"]) for r in server.model_requests()] == [1, 3, 5, 5, 7]
    assert {p.name for p in workdir.iterdir()} >= {"a.txt", "b.txt", "landed.txt", "README.md"}
    assert (workdir / "b.txt").read_text() == "beta\n"
    assert git(workdir, "rev-parse", "HEAD") == git(repo, "rev-parse", "main")  # nothing committed by the agent
    # carried: two calls of the dead attempt; its own: two more
    assert result.cost_usd == pytest.approx(4 * CALL_USD)
    assert result.turns == 4
    assert [p["how"] for t, p in events if t == "agent.resumed"] == ["continue"]
    assert kept.last is not None
    assert kept.last["pending"] is None  # the result reports the spend now


async def test_a_snapshot_that_conflicts_with_the_new_head_starts_the_conversation_over(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# r\n"})
    kept = Kept()
    hang = Hang()
    with AnthropicServer(_two_writes_then(hang, Reply.text("started over"))) as server:
        await _die_in_the_third_call(repo, server, kept)
        hang.release.set()
        (repo / "a.txt").write_text("someone else's alpha\n")  # lands the same file, differently
        git(repo, "add", "a.txt")
        git(repo, "commit", "--quiet", "-m", "conflicting task")
        workdir = _worktree(repo, "wt2", 2)
        result, events = await _run(workdir, server, kept, attempt=2, resume_state=kept.last)
    assert result.ok, result.error
    assert [len(r.body["messages"]) for r in server.model_requests()] == [1, 3, 5, 1]
    (failed,) = [p for t, p in events if t == "agent.resume_failed"]
    assert "conflicts with" in failed["error"]
    assert (workdir / "a.txt").read_text() == "someone else's alpha\n"
    assert result.cost_usd == pytest.approx(3 * CALL_USD)  # the dead attempt's two calls are still paid for


async def test_a_session_that_had_answered_is_not_asked_again(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# r\n"})
    kept = Kept()
    with AnthropicServer(_two_writes_then(Reply.text("all written"))) as server:
        first, _ = await _run(_worktree(repo, "wt1", 1), server, kept, attempt=1)
        assert first.ok
        # the worker died after the agent answered, before the engine recorded the step
        workdir = _worktree(repo, "wt2", 2)
        result, events = await _run(workdir, server, kept, attempt=2, resume_state=kept.last)
    assert len(server.model_requests()) == 3
    assert (result.ok, result.summary, result.cost_usd, result.session_id) == (True, "all written", 0, first.session_id)
    assert (workdir / "a.txt").read_text() == "alpha\n"
    assert [p["how"] for t, p in events if t == "agent.resumed"] == ["finished"]


async def test_a_revision_continues_the_kept_conversation_with_the_follow_up(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# r\n"})
    kept = Kept()
    with AnthropicServer(Script(Reply.text("first answer"), Reply.text("fixed"))) as server:
        workdir = _worktree(repo, "wt1", 1)
        first, _ = await _run(workdir, server, kept, attempt=1)
        for area in (tmp_path / "run1" / ".agents").iterdir():  # the conversation files are gone: another machine
            for f in area.glob("conversation-*.json"):
                f.unlink()
        task_state = kept.last
        seen: list[str] = []

        async def events(type: str, /, **payload: Any) -> None:
            seen.append(type)

        context = TaskContext(
            run_id="run1",
            task_id="t1",
            attempt=2,
            title="Pair",
            prompt="Write a.txt and b.txt.",
            options=ApiAgentOptions.model_validate({"models": [{"model": "claude-haiku-4-5", "base_url": server.url}]}),
            timeout_s=60,
            plan_dir=workdir,
            workdir=_worktree(repo, "wt2", 2),
            resume_session_id=first.session_id,
            follow_up="The check failed; fix it.",
            resume_state=task_state,
            save_state=kept.save,
        )
        second = await TestAgent().run(context, events)
    assert second.ok, second.error
    messages = server.model_requests()[1].body["messages"]
    assert [m["content"][0]["text"] for m in messages] == [
        "Write a.txt and b.txt.",
        "first answer",
        "The check failed; fix it.",
    ]
    assert second.cost_usd == pytest.approx(CALL_USD)  # only its own call
