"""Talking to a task's agent: a follow-up reaches the agent's session after its current turn, reopens a finished
task as a revision, goes with a failed task's retry; a task's prompt and options are edited before a retry; all
of it in the audit trail. The api-agent talks to a local Anthropic wire server; both databases."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.crews import audit
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.errors import InputError, PlanError
from tests.integration.test_api_agent import WRITE_AND_RUN, api_agent, llm_settings, plan_of  # noqa: F401
from tests.support.gitrepo import git, shared_dir
from tests.support.llm_servers import AnthropicServer, Reply, Script, ToolCall

SAID = "Also write NOTES.md saying hello."
WRITE_NOTES = (
    Reply.tools(ToolCall("write_file", {"path": "NOTES.md", "content": "hello\n"}), say="Adding NOTES.md."),
    Reply.text("NOTES.md written."),
)


def _texts(body: Mapping[str, Any]) -> str:
    """Every text of a Messages API request's conversation, joined."""
    out = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            out.append(content)
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict):
                out.append(str(block.get("text") or block.get("content") or ""))
    return "\n".join(out)


async def _serve(app: Quarterdeck, run_id: str) -> Any:
    return await app.run_until_done(run_id, worker=app.worker(slots=1, run_id=run_id), tick_s=0.02)


@pytest.mark.usefixtures("api_agent")
async def test_a_finished_task_is_reopened_and_its_session_continues_with_the_message(
    app: Quarterdeck, repo: Path
) -> None:
    with AnthropicServer(Script(*WRITE_AND_RUN, *WRITE_NOTES)) as server:
        model = {"provider": "anthropic", "model": "claude-haiku-4-5", "base_url": server.url}
        record = await app.submit(plan_of([model]), repo=repo)
        first = await _serve(app, record.id)
        assert first.run.status is RunStatus.SUCCEEDED, first.tasks[0].error
        said = await app.say(record.id, "hello", SAID, by="mia")
        assert (said.delivery, said.status) == ("revision", "ready")
        second = await _serve(app, record.id)
        requests = server.model_requests()
    assert second.run.status is RunStatus.SUCCEEDED, second.tasks[0].error
    branch = second.run.integration_branch
    assert git(repo, "show", f"{branch}:NOTES.md") == "hello\n"
    assert git(repo, "show", f"{branch}:hello.py") == "print('hi')\n"
    # the third request continues the conversation of the first two, with the message as its new turn
    assert len(requests) == 4
    continued = _texts(requests[2].body)
    assert SAID in continued
    assert "Writing hello.py." in continued
    trail = await audit.trail(app.db, record.id)
    (entry,) = [e for e in trail if e.data.get("type") == "follow-up"]
    assert (entry.sender, entry.recipient, entry.task_id, entry.summary) == ("mia", "agent:hello", "hello", SAID)


@pytest.mark.usefixtures("api_agent")
async def test_a_running_task_hears_the_message_after_its_current_turn(app: Quarterdeck, repo: Path) -> None:
    arrived, release = threading.Event(), threading.Event()

    def held(body: Mapping[str, Any]) -> Reply:
        arrived.set()
        assert release.wait(60), "the test never said anything"
        return WRITE_AND_RUN[0]

    with AnthropicServer(Script(held, WRITE_AND_RUN[1], *WRITE_NOTES)) as server:
        model = {"provider": "anthropic", "model": "claude-haiku-4-5", "base_url": server.url}
        record = await app.submit(plan_of([model]), repo=repo)
        serving = asyncio.create_task(_serve(app, record.id))
        assert await asyncio.to_thread(arrived.wait, 60), "the agent never asked its model"
        said = await app.say(record.id, "hello", SAID, by="mia")
        assert (said.delivery, said.status) == ("after_turn", "running")
        release.set()
        view = await serving
        requests = server.model_requests()
    assert view.run.status is RunStatus.SUCCEEDED, view.tasks[0].error
    assert git(repo, "show", f"{view.run.integration_branch}:NOTES.md") == "hello\n"
    assert view.tasks[0].attempts == 1  # the same attempt, one more turn of the same session
    assert SAID in _texts(requests[2].body)
    assert "Writing hello.py." in _texts(requests[2].body)
    heard = [e for e in await app.events(record.id) if e.type == "task.heard"]
    assert [e.payload["by"] for e in heard] == [["mia"]]


def _failing() -> plans.Plan:
    task = plans.TaskSpec(
        id="flaky", title="Flaky", runtime="scripted", options={"actions": [{"fail": "cannot do this"}]}
    )
    return plans.Plan(name="talk", tasks=(task,))


async def test_a_failed_task_is_edited_and_retried_with_what_was_said(app: Quarterdeck, repo: Path) -> None:
    record = await app.submit(_failing(), repo=repo)
    first = await _serve(app, record.id)
    assert first.tasks[0].status is TaskStatus.FAILED
    with pytest.raises(PlanError, match="options"):
        await app.edit_task(record.id, "flaky", by="mia", options={"actions": "not a list"})
    await app.edit_task(
        record.id,
        "flaky",
        by="mia",
        prompt="Write done.txt.",
        options={"actions": [{"write": "done.txt", "content": "done\n"}]},
    )
    said = await app.say(record.id, "flaky", "The file must end with a newline.", by="mia")
    assert (said.delivery, said.status) == ("retry", "ready")
    second = await _serve(app, record.id)
    assert second.run.status is RunStatus.SUCCEEDED, second.tasks[0].error
    assert git(repo, "show", f"{second.run.integration_branch}:done.txt") == "done\n"
    retried = [e for e in await app.events(record.id) if e.type == "task.requeued"]
    assert retried[-1].payload["said"] is True
    trail = await audit.trail(app.db, record.id)
    kinds = [(e.data.get("type"), e.sender, e.summary) for e in trail if e.kind == "message"]
    assert ("edit", "mia", "edited the prompt and options") in kinds
    assert ("follow-up", "mia", "The file must end with a newline.") in kinds
    edit = next(e for e in trail if e.data.get("type") == "edit")
    assert edit.data["before"]["prompt"] == ""
    assert edit.data["after"]["prompt"] == "Write done.txt."


async def test_what_cannot_be_said_or_edited_is_refused(app: Quarterdeck, repo: Path) -> None:
    chain = plans.Plan(
        name="chain",
        tasks=(
            plans.TaskSpec(id="a", title="A", runtime="scripted", options={"actions": [{"fail": "no"}]}),
            plans.TaskSpec(
                id="b", title="B", runtime="scripted", depends_on=("a",), options={"actions": [{"say": "x"}]}
            ),
        ),
    )
    record = await app.submit(chain, repo=repo)
    await _serve(app, record.id)
    with pytest.raises(InputError, match="empty"):
        await app.say(record.id, "a", "   ", by="mia")
    with pytest.raises(InputError, match="blocked by a failed dependency"):
        await app.say(record.id, "b", "go on", by="mia")
    with pytest.raises(InputError, match="give a new prompt or new options"):
        await app.edit_task(record.id, "a", by="mia")
    ok = plans.Plan(
        name="ok",
        tasks=(
            plans.TaskSpec(
                id="w", title="W", runtime="scripted", options={"actions": [{"write": "w", "content": "w"}]}
            ),
        ),
    )
    done = await app.submit(ok, repo=repo)
    await _serve(app, done.id)
    with pytest.raises(InputError, match="is succeeded"):
        await app.edit_task(done.id, "w", by="mia", prompt="again")


async def test_a_task_past_its_agents_last_turn_refuses_a_message(app: Quarterdeck, repo: Path, tmp_path: Path) -> None:
    shared = shared_dir(repo, tmp_path / "shared")
    gate = f"touch {shared}/checking; until [ -e {shared}/go ]; do sleep 0.01; done"
    task = plans.TaskSpec(
        id="w",
        title="W",
        runtime="scripted",
        options={"actions": [{"write": "w.txt", "content": "w\n"}]},
        verify=(gate,),
        timeout_s=60,
    )
    record = await app.submit(plans.Plan(name="late", tasks=(task,)), repo=repo)
    serving = asyncio.create_task(_serve(app, record.id))
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while not (shared / "checking").exists():  # its check runs: the agent's work is committed
            assert asyncio.get_running_loop().time() < deadline, "the check never started"
            await asyncio.sleep(0.02)
        with pytest.raises(InputError, match="past its agent's last turn"):
            await app.say(record.id, "w", "one more thing", by="mia")
    finally:
        (shared / "go").touch()
        view = await serving
    assert view.run.status is RunStatus.SUCCEEDED
    said = await app.say(record.id, "w", "one more thing", by="mia")
    assert said.delivery == "revision"
