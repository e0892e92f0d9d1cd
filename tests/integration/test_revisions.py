"""The definition-of-done gate: a failed verification goes back to the same agent session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext


class ReviserOptions(RuntimeOptions):
    #: how many follow-up turns it takes to get the answer right
    fixes_after: int
    transcript: str
    #: attempts on which the agent itself fails (after writing a half-done file)
    fail_on: tuple[int, ...] = ()


class Reviser:
    """A test agent with a session: writes a wrong answer first, and fixes it when told what failed."""

    name: ClassVar[str] = "reviser"
    Options: ClassVar[type[RuntimeOptions]] = ReviserOptions
    spends: ClassVar[bool] = False

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        assert isinstance(task.options, ReviserOptions)
        transcript = Path(task.options.transcript)
        turns = transcript.read_text().split("\n---\n") if transcript.exists() else []
        turn = task.follow_up if task.follow_up is not None else task.prompt
        found = (task.workdir / "answer.txt").read_text().strip() if (task.workdir / "answer.txt").exists() else "-"
        entry = f"session={task.resume_session_id} found={found} {turn}"
        transcript.write_text("\n---\n".join([*turns, entry]))
        if task.attempt in task.options.fail_on:
            (task.workdir / "answer.txt").write_text("half\n")
            return RunResult(ok=False, error="the agent crashed half-way", retryable=True)
        right = len(turns) >= task.options.fixes_after
        (task.workdir / "answer.txt").write_text("42\n" if right else "41\n")
        return RunResult(ok=True, session_id="session-1")


@pytest.fixture
def reviser(app: Quarterdeck) -> Iterator[None]:
    app.registry.register(Reviser)
    yield
    app.registry.unregister("reviser")


def _task(
    tmp_path: Path, fixes_after: int, max_revisions: int, max_attempts: int = 1, fail_on: tuple[int, ...] = ()
) -> plans.Plan:
    return plans.Plan(
        name="revise",
        tasks=(
            plans.TaskSpec(
                id="answer",
                title="Answer",
                prompt="What is six times seven?",
                runtime="reviser",
                options={
                    "fixes_after": fixes_after,
                    "transcript": str(tmp_path / "transcript"),
                    "fail_on": list(fail_on),
                },
                verify=("grep -qx 42 answer.txt || { echo wrong: $(cat answer.txt); exit 3; }",),
                max_revisions=max_revisions,
                max_attempts=max_attempts,
            ),
        ),
    )


@pytest.mark.usefixtures("reviser")
async def test_a_failed_check_is_sent_back_to_the_same_session_until_it_passes(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    record = await app.submit(_task(tmp_path, fixes_after=2, max_revisions=2), repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED
    assert view.tasks[0].attempts == 1
    turns = (tmp_path / "transcript").read_text().split("\n---\n")
    assert turns[0] == "session=None found=- What is six times seven?"
    assert len(turns) == 3
    for follow_up in turns[1:]:
        assert follow_up.startswith("session=session-1 found=41 The verification command `grep -qx 42 answer.txt")
        assert "failed with exit code 3" in follow_up
        assert "wrong: 41" in follow_up
    revisions = [e.payload["revision"] for e in await app.events(record.id) if e.type == "revision.requested"]
    assert revisions == [1, 2]


@pytest.mark.usefixtures("reviser")
async def test_the_revision_limit_fails_the_attempt_with_the_last_check(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    record = await app.submit(_task(tmp_path, fixes_after=5, max_revisions=1), repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.FAILED
    task = view.tasks[0]
    assert task.status is TaskStatus.FAILED
    assert (task.error or "").startswith("verification 'grep -qx 42 answer.txt")
    assert "exited 3 after 1 revision:\nwrong: 41" in (task.error or "")


@pytest.mark.usefixtures("reviser")
async def test_a_retry_after_a_failed_check_continues_the_session_on_the_earlier_work_told_what_failed(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    record = await app.submit(_task(tmp_path, fixes_after=1, max_revisions=0, max_attempts=2), repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED
    assert view.tasks[0].attempts == 2
    first, second = (tmp_path / "transcript").read_text().split("\n---\n")
    assert first == "session=None found=- What is six times seven?"
    # The same session, in a worktree holding attempt 1's answer, with a turn stating the check's failure.
    assert second.startswith("session=session-1 found=41 Your work above was committed, but the attempt then failed")
    assert "verification 'grep -qx 42 answer.txt" in second
    assert "wrong: 41" in second
    (context,) = [e.payload for e in await app.events(record.id) if e.type == "retry.context"]
    assert context["continued"] is True


@pytest.mark.usefixtures("reviser")
async def test_a_retry_after_the_agent_failed_starts_afresh_told_what_failed(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    plan = _task(tmp_path, fixes_after=0, max_revisions=0, max_attempts=2, fail_on=(1,))
    record = await app.submit(plan, repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED
    first, second = (tmp_path / "transcript").read_text().split("\n---\n")
    assert first == "session=None found=- What is six times seven?"
    # A new session, the half-done file deliberately gone, the prompt followed by what failed.
    assert second.startswith("session=None found=- What is six times seven?\n\nAn earlier attempt at this task failed")
    assert "the agent crashed half-way" in second
    assert "Its changes were discarded" in second
    (context,) = [e.payload for e in await app.events(record.id) if e.type == "retry.context"]
    assert context["continued"] is False
