"""Review comments, requested changes and failed checks on a pull request, as revisions of the tasks owning them.

Each piece of feedback goes to the task that owns it: for a line comment, the task whose commit
(its ``Quarterdeck-Task`` trailer) last touched the file on the pull request's head; for a review
or a failed check, the task of the newest commit there (a per-task pull request: its task). A task
gets at most its ``max_revisions`` such revisions (the ``[forge]`` table's when it sets none); a
project with ``require_approval`` asks a person first (an approval of kind ``revision``); feedback
for a task still running waits until it lands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from quarterdeck.crews import gates
from quarterdeck.domain import forges as rules
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import TaskStatus
from quarterdeck.engine import revisions
from quarterdeck.forges import repository
from quarterdeck.store import events as event_store
from quarterdeck.store import forges as forge_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store import wakeups
from quarterdeck.store.database import Database
from quarterdeck.store.forges import LinkRecord
from quarterdeck.store.types import utcnow
from quarterdeck.workspaces import git

__all__ = ["dispatch_pending", "request_revisions"]

log = logging.getLogger(__name__)

_TASK_TRAILER = "%(trailers:key=Quarterdeck-Task,valueonly,separator=)"


async def request_revisions(
    db: Database, link: LinkRecord, items: Sequence[rules.Feedback], *, cache_root: Path
) -> list[str]:
    """Hand ``items`` to the tasks owning them; returns one line per task saying what happened."""
    async with db.read() as conn:
        run = await run_store.read_run(conn, link.run_id)
    checkout = await repository.open_repository(
        run.repo_path, cache_root=cache_root, branch=run.integration_branch, run_id=run.id
    )
    repo, config = checkout.git_dir, checkout.config
    by_task: dict[str, list[rules.Feedback]] = {}
    newest = link.task_id or await _owner(repo, link.head, None)
    for item in items:
        owner = link.task_id or await _owner(repo, link.head, item.path) or newest
        if owner is None:
            log.warning("run %s: no task owns feedback on %s", run.id, item.path or "the pull request")
            continue
        by_task.setdefault(owner, []).append(item)
    head = await checkout.sha(run.integration_branch)
    said: list[str] = []
    for task_id, feedback in by_task.items():
        turn = rules.revision_turn(feedback)
        kinds = sorted({f.kind for f in feedback})
        async with db.transaction() as conn:
            task = await task_store.read_task(conn, run.id, task_id)
            sent = await event_store.read_events(conn, run.id, task_id=task_id, types=[EventType.FORGE_FEEDBACK])
            used = sum(1 for e in sent if e.payload.get("status") == "sent")
            payload: dict[str, object] = {"kinds": kinds}
            limit = task.max_revisions or (config.max_revisions if config is not None else 0)
            if used >= limit:
                payload |= {"status": "refused", "reason": f"all {limit} revisions used"}
            elif config is not None and config.require_approval:
                approval = await gates.request(
                    conn,
                    org_id=run.org_id,
                    kind="revision",
                    payload={"task_id": task_id, "turn": turn, "at": head},
                    requested_by=f"{link.forge}:{feedback[0].author or 'review'}",
                    run_id=run.id,
                    task_id=task_id,
                )
                payload |= {"status": "waiting", "approval": approval.id}
            elif task.status in (TaskStatus.SUCCEEDED, TaskStatus.READY) and await revisions.reopen(
                conn, run.id, task_id, turn, at=head, now=utcnow()
            ):
                payload |= {"status": "sent"}
                await wakeups.announce_ready(conn, db.dialect)
            else:  # running (or not started): handed over when it lands
                current = await forge_store.read_link(conn, run.id, kind=link.kind, task_id=link.task_id)
                pending = [*(current.pending if current else []), {"task_id": task_id, "turn": turn}]
                await forge_store.update_link(conn, link.id, pending=pending, now=utcnow())
                payload |= {"status": "queued"}
            await event_store.create_events(
                conn, [event_store.NewEvent(run.id, EventType.FORGE_FEEDBACK, payload, task_id)]
            )
        said.append(f"{task_id}: {payload['status']}")
    return said


async def dispatch_pending(db: Database, run_id: str, *, cache_root: Path) -> int:
    """Hand queued feedback to its tasks once they are no longer running; returns how many were sent."""
    async with db.read() as conn:
        links = [link for link in await forge_store.read_links(conn, run_id) if link.pending]
    if not links:
        return 0
    async with db.read() as conn:
        run = await run_store.read_run(conn, run_id)
    checkout = await repository.open_repository(
        run.repo_path, cache_root=cache_root, branch=run.integration_branch, run_id=run.id
    )
    head = await checkout.sha(run.integration_branch)
    sent = 0
    for link in links:
        async with db.transaction() as conn:
            kept = []
            for item in link.pending:
                task = await task_store.read_task(conn, run_id, str(item["task_id"]))
                if task.status not in (TaskStatus.SUCCEEDED, TaskStatus.READY):
                    kept.append(item)
                    continue
                if await revisions.reopen(conn, run_id, task.id, str(item["turn"]), at=head, now=utcnow()):
                    sent += 1
                    await event_store.create_events(
                        conn, [event_store.NewEvent(run_id, EventType.FORGE_FEEDBACK, {"status": "sent"}, task.id)]
                    )
            await forge_store.update_link(conn, link.id, pending=kept, now=utcnow())
            if sent:
                await wakeups.announce_ready(conn, db.dialect)
    return sent


async def _owner(repo: Path, head: str, path: str | None) -> str | None:
    """The task of the newest commit on ``head`` (touching ``path``, when given) that carries a task trailer."""
    shown = await git.git(
        repo,
        "--literal-pathspecs",  # a reviewer's path is a file name, never pathspec magic (``:(glob)…``)
        "log",
        "-1",
        f"--format={_TASK_TRAILER}",
        "--grep=^Quarterdeck-Task: ",
        f"refs/heads/{head}",
        "--",
        *([path] if path else []),
        check=False,
    )
    task = shown.stdout.strip()
    return task or None
