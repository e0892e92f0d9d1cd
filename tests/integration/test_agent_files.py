"""An agent's own area (raw stream, session files) is stored, so a retry on another machine resumes from it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import ClassVar

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.runtimes.agent_session import AgentArea
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext
from quarterdeck.settings import Settings
from quarterdeck.store import agent_files
from tests.support.gitrepo import git, make_repo


class AreaAgent:
    """Keeps a raw stream in its area; resuming, reads the first attempt's stream there and writes what it found."""

    name: ClassVar[str] = "area-agent"
    Options: ClassVar[type[RuntimeOptions]] = RuntimeOptions

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        area = AgentArea.for_task(task)
        (area.root / "stream-1.jsonl").write_text(f'{{"attempt": {task.attempt}, "said": "hello"}}\n')
        (area.root / "session" / "s.json").parent.mkdir(exist_ok=True)
        (area.root / "session" / "s.json").write_text("x" * 700_000)  # more than one chunk
        if task.resume_session_id is None:
            (task.workdir / "work.txt").write_text("first\n")
        else:
            earlier = area.root.parent / f"{task.task_id}-1" / "stream-1.jsonl"
            seen = earlier.read_text() if earlier.exists() else "nothing\n"
            (task.workdir / "seen.txt").write_text(seen)
        return RunResult(ok=True, session_id="s-1", summary="done")


def _machine(settings: Settings, tmp_path: Path, name: str) -> Settings:
    return settings.model_copy(update={"state_dir": tmp_path / name / "state", "worktree_root": tmp_path / name / "wt"})


async def test_a_retry_on_another_machine_finds_the_first_attempts_area(settings: Settings, tmp_path: Path) -> None:
    source = make_repo(tmp_path / "source", {"README.md": "# areas\n"})
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(source), str(bare))
    task = plans.TaskSpec(
        id="t",
        title="t",
        runtime="area-agent",
        verify=("test -f seen.txt",),  # fails on the first machine: the retry continues the session
        max_attempts=2,
    )
    one_settings, two_settings = _machine(settings, tmp_path, "one"), _machine(settings, tmp_path, "two")
    async with Quarterdeck(one_settings) as one, Quarterdeck(two_settings) as two:
        for app in (one, two):
            app.registry.register(AreaAgent)
        record = await one.submit(plans.Plan(name="areas", tasks=(task,)), repo=f"file://{bare}")
        worker = one.worker(slots=1)
        serving = asyncio.create_task(worker.serve())
        deadline = time.monotonic() + 60
        try:
            while (await one.view(record.id)).tasks[0].failures < 1:
                assert time.monotonic() < deadline, "the first attempt never failed its check"
                await asyncio.sleep(0.05)
        finally:
            worker.should_exit = True
            await asyncio.wait_for(serving, 60)
        async with one.db.read() as conn:
            stored = await agent_files.read_agent_files(conn, (await one.view(record.id)).tasks[0].pk)
        view = await two.run_until_done(record.id, worker=two.worker(slots=1), tick_s=0.05)
    assert view.run.status is RunStatus.SUCCEEDED, view.tasks[0].error
    assert view.tasks[0].status is TaskStatus.SUCCEEDED
    assert stored["t-1"]["stream-1.jsonl"] == b'{"attempt": 1, "said": "hello"}\n'
    assert len(stored["t-1"]["session/s.json"]) == 700_000  # (three chunks, joined back in order)
    # the second machine's agent read the first attempt's stream, which only the first machine's disk had
    seen = git(bare, "show", f"{record.integration_branch}:seen.txt")
    assert seen == '{"attempt": 1, "said": "hello"}\n'
    assert (tmp_path / "two" / "wt" / record.id / ".agents" / "t-1" / "stream-1.jsonl").exists()


def test_a_stored_path_cannot_lead_out_of_its_area(tmp_path: Path) -> None:
    from quarterdeck.engine import agent_files as engine_files

    agents = tmp_path / ".agents"
    written = engine_files.restore(
        agents, {"t-1": {"../../evil": b"x", "ok.txt": b"y"}, "../t-2": {"a": b"z"}}, keep="t-3"
    )
    assert written == ["t-1"]
    assert (agents / "t-1" / "ok.txt").read_bytes() == b"y"
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "t-2").exists()
