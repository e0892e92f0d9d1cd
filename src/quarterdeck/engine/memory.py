"""Agent memory around an attempt: lessons recalled when a task starts, a lesson recorded when it ends.

``recall`` embeds the task (title and prompt), finds the nearest lessons of the same organisation and
repository, keeps those near enough that fit the project's budget (``domain/lessons.choose``), emits
``memory.recalled`` with their ids (the task page shows them), and returns the prompt's section.
``remember`` composes the task's lesson (``domain/lessons.compose``: its failures from the attempts, the
agent's summaries, the reviewer's verdicts, the files the commit touched), embeds it and stores it —
before the outcome is recorded, so a task the outcome makes ready already finds it.

Memory never fails a task: without the model (``quarterdeck[memory]`` not installed) it is off, said once
in the log; any other error is logged and the task goes on. Both are off unless the project's
``[memory] enabled`` or the setting ``memory`` turns them on. Embedding runs on a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from quarterdeck.domain import lessons
from quarterdeck.domain.events import EventType
from quarterdeck.domain.retry import RetryPolicy
from quarterdeck.errors import MemoryUnavailable
from quarterdeck.settings import Settings
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store import memories
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import RunRecord, TaskRecord
from quarterdeck.store.types import utcnow
from quarterdeck.workspaces import git, project

__all__ = ["enabled", "recall", "recall_for_goal", "remember"]

log = logging.getLogger(__name__)

Emit = Callable[..., Awaitable[None]]

_said_unavailable = False


def enabled(settings: Settings, config: project.ProjectConfig) -> bool:
    """Whether memory is on for this project: its ``[memory] enabled``, else the setting."""
    return config.memory.enabled if config.memory.enabled is not None else settings.memory


async def _model() -> Any | None:
    """The embedding model (loaded on a thread at first use), or None when it is not installed."""
    global _said_unavailable
    from quarterdeck.memory import embedder

    try:
        return await asyncio.to_thread(embedder.load)
    except MemoryUnavailable as exc:
        if not _said_unavailable:
            log.warning("agent memory is off: %s", exc.message)
            _said_unavailable = True
        return None


def _query(task: TaskRecord) -> str:
    return f"{task.title}. {task.prompt}"


async def recall(
    db: Database, settings: Settings, config: project.ProjectConfig, run: RunRecord, task: TaskRecord, emit: Emit
) -> str:
    """The prompt's section of lessons for ``task`` (empty when memory is off or nothing applies)."""
    return await _recall(db, settings, config, run, _query(task), task.id, emit)


async def recall_for_goal(db: Database, settings: Settings, config: project.ProjectConfig, run: RunRecord) -> str:
    """The lessons a crew's manager is given with the goal it plans (the run's ``memory.recalled`` event)."""

    async def emit(type: str, /, **payload: Any) -> None:
        async with db.transaction() as conn:
            await event_store.create_events(conn, [event_store.NewEvent(run.id, type, payload)])

    return await _recall(db, settings, config, run, run.goal or run.name, None, emit)


async def _recall(
    db: Database,
    settings: Settings,
    config: project.ProjectConfig,
    run: RunRecord,
    query: str,
    task_id: str | None,
    emit: Emit,
) -> str:
    if not enabled(settings, config):
        return ""
    try:
        model = await _model()
        if model is None:
            return ""
        vector = await asyncio.to_thread(model.embed, query)
        async with db.read() as conn:
            found = await memories.search_memories(
                conn, vector.tobytes(), org_id=run.org_id, repo=run.repo_path, k=config.memory.k * 2
            )
        candidates = [
            lessons.Candidate(
                f.memory.id, f.memory.text, f.similarity, {"title": f.memory.title, "task": f.memory.task_id}
            )
            for f in found
            if not (f.memory.run_id == run.id and f.memory.task_id == task_id)  # not its own earlier lesson
        ]
        chosen = lessons.choose(candidates, k=config.memory.k, budget_tokens=config.memory.budget_tokens)
        if chosen:
            given = [{"id": c.id, "title": c.extra["title"], "similarity": round(c.similarity, 3)} for c in chosen]
            await emit(EventType.MEMORY_RECALLED, memories=given)
    except Exception:
        log.warning("%s: recalling lessons failed; it goes on without them", task_id or run.id, exc_info=True)
        return ""
    return lessons.section(chosen)


class Setup(Protocol):
    """What ``remember`` needs of the run's set-up (``attempt.RunSetup``)."""

    @property
    def run(self) -> RunRecord: ...
    @property
    def repo(self) -> Path: ...
    @property
    def project(self) -> project.ProjectConfig: ...


async def remember(
    db: Database,
    settings: Settings,
    setup: Setup,
    task: TaskRecord,
    commit: str | None,
    error: str | None,
    retryable: bool,
    pending: Sequence[event_store.NewEvent],
) -> None:
    """Record what ``task`` leaves later tasks, if the attempt that just ended it ended the task: it
    succeeded (``error`` is None), or failed with no retry left (the same ``RetryPolicy`` decision the
    outcome makes)."""
    run, config, repo = setup.run, setup.project, setup.repo
    if not enabled(settings, config):
        return
    if (
        error is not None
        and RetryPolicy(max_attempts=task.max_attempts).decide(task.failures + 1, retryable=retryable) is not None
    ):
        return  # it will be tried again: the lesson is left by the attempt that ends it
    try:
        model = await _model()
        if model is None:
            return
        end = await _task_end(db, run, task, repo=repo, commit=commit, error=error, pending=pending)
        text = lessons.compose(end)
        vector = await asyncio.to_thread(model.embed, text)
        new = memories.NewMemory(
            org_id=run.org_id,
            repo=run.repo_path,
            run_id=run.id,
            task_id=task.id,
            title=task.title,
            outcome="succeeded" if end.succeeded else "failed",
            text=text,
            files=tuple(end.files),
            model=model.name,
            embedding=vector.tobytes(),
        )
        async with db.transaction() as conn:
            await memories.create_memory(conn, new, now=utcnow())
    except Exception:
        log.warning("%s: recording its lesson failed", task.id, exc_info=True)


async def _task_end(
    db: Database,
    run: RunRecord,
    task: TaskRecord,
    *,
    repo: Path,
    commit: str | None,
    error: str | None,
    pending: Sequence[event_store.NewEvent],
) -> lessons.TaskEnd:
    async with db.read() as conn:
        attempts = await task_store.read_attempts(conn, task.pk)
        written = await event_store.read_events(
            conn, run.id, task_id=task.id, types=(EventType.AGENT_RESULT, EventType.REVISION_REQUESTED)
        )
        verdicts = await crew_store.read_verdicts(conn, run.id, task.id)
    failures = [a.error for a in attempts if a.error and a.status.value == "failed"]
    results = [(e.type, e.payload) for e in written] + [(e.type, e.payload) for e in pending]
    summaries = [str(p["summary"]) for t, p in results if t == EventType.AGENT_RESULT and p.get("summary")]
    # a check that failed and went back to the agent's session is a failure fixed within the attempt
    failures += [
        f"check {p['command']!r} failed: {p.get('output', '')}"
        for t, p in results
        if t == EventType.REVISION_REQUESTED and p.get("command")
    ]
    files: list[str] = []
    if commit is not None:
        shown = await git.git(repo, "show", "--name-only", "--format=", commit, check=False)
        files = [line for line in shown.stdout.splitlines() if line.strip()]
    return lessons.TaskEnd(
        title=task.title,
        prompt=task.prompt,
        succeeded=error is None,
        attempts=max(len(attempts), 1),
        revisions=task.revisions,
        failures=failures,
        summaries=summaries,
        verdicts=[f"{v.verdict}: {v.summary}" for v in verdicts],
        files=files or list(task.files),
        error=error,
    )
