"""Agent memory's use cases, as the application layer (``Quarterdeck``) offers them to the CLI and the API.

Every one is scoped to an organisation: another organisation's lessons are never found, listed, shown
or forgotten (a task of another organisation's run is NotFound).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain.events import EventType
from quarterdeck.errors import InputError, NotFound
from quarterdeck.memory import embedder
from quarterdeck.store import events as event_store
from quarterdeck.store import memories
from quarterdeck.store import runs as run_store
from quarterdeck.store.database import Database
from quarterdeck.store.memories import FoundMemory, MemoryRecord

__all__ = ["FoundMemory", "GivenMemory", "MemoryRecord", "forget", "given_to_task", "listing", "read", "search"]

#: the most lessons one search returns
MAX_K = 50


@dataclass(frozen=True, slots=True)
class GivenMemory:
    """A lesson a task's prompt was given (``memory.recalled``); ``memory`` is None once it was forgotten."""

    id: str
    title: str
    similarity: float
    attempt_id: str | None
    memory: MemoryRecord | None


async def search(db: Database, query: str, *, org_id: str, repo: str | None = None, k: int = 5) -> list[FoundMemory]:
    """The organisation's lessons nearest ``query`` (of ``repo`` only, when given), nearest first.

    Raises:
        InputError: an empty query or ``k`` out of 1…50.
        MemoryUnavailable: the embedding model is not installed.
    """
    if not query.strip():
        raise InputError("the search needs some text")
    if not 1 <= k <= MAX_K:
        raise InputError(f"k must be between 1 and {MAX_K}, not {k}")
    model = await asyncio.to_thread(embedder.load)
    vector = await asyncio.to_thread(model.embed, query)
    async with db.read() as conn:
        return await memories.search_memories(conn, vector.tobytes(), org_id=org_id, repo=repo, k=k)


async def listing(
    db: Database, *, org_id: str, repo: str | None = None, run_id: str | None = None, limit: int = 50
) -> list[MemoryRecord]:
    async with db.read() as conn:
        if run_id is not None:
            await _read_run(conn, run_id, org_id=org_id)
        return await memories.read_memories(conn, org_id=org_id, repo=repo, run_id=run_id, limit=limit)


async def read(db: Database, memory_id: str, *, org_id: str) -> MemoryRecord:
    async with db.read() as conn:
        return await memories.read_memory(conn, memory_id, org_id=org_id)


async def forget(
    db: Database, *, org_id: str, memory_id: str | None = None, repo: str | None = None, run_id: str | None = None
) -> int:
    """Forget one lesson, a repository's or a run's; how many went.

    Raises:
        InputError: nothing names what to forget.
        NotFound: ``memory_id`` names no lesson of the organisation.
    """
    if memory_id is None and repo is None and run_id is None:
        raise InputError("name a memory, a repository (--repo) or a run (--run) to forget")
    async with db.transaction() as conn:
        if run_id is not None:
            await _read_run(conn, run_id, org_id=org_id)
        gone = await memories.delete_memories(conn, org_id=org_id, memory_id=memory_id, repo=repo, run_id=run_id)
    if memory_id is not None and gone == 0:
        raise NotFound(f"no memory {memory_id!r}")
    return gone


async def given_to_task(db: Database, run_id: str, task_id: str, *, org_id: str) -> list[GivenMemory]:
    """The lessons the task's attempts were given, in the order they were given (each once).

    Raises:
        NotFound: no such run in the organisation.
    """
    async with db.read() as conn:
        await _read_run(conn, run_id, org_id=org_id)
        recalled = await event_store.read_events(conn, run_id, task_id=task_id, types=(EventType.MEMORY_RECALLED,))
        given: dict[str, GivenMemory] = {}
        for event in recalled:
            for item in event.payload.get("memories", []):
                if item["id"] in given:
                    continue
                try:
                    record: MemoryRecord | None = await memories.read_memory(conn, item["id"], org_id=org_id)
                except NotFound:
                    record = None
                given[item["id"]] = GivenMemory(
                    item["id"], str(item.get("title", "")), float(item.get("similarity", 0.0)), event.attempt_id, record
                )
    return list(given.values())


async def _read_run(conn: AsyncConnection, run_id: str, *, org_id: str) -> None:
    """NotFound unless the run is the organisation's (a run of another is not there)."""
    run = await run_store.read_run(conn, run_id)
    if run.org_id != org_id:
        raise NotFound(f"no run {run_id!r}")


async def repository_key(text: str) -> str:
    """A repository as the runs name it (and its lessons are filed under): a URL as given, a local path as
    its top level."""
    from pathlib import Path

    from quarterdeck.errors import WorkspaceError
    from quarterdeck.workspaces import git, remote

    if remote.is_url(text):
        return text
    try:
        return str(await git.open_repository(Path(text).resolve()))
    except WorkspaceError:
        return str(Path(text).resolve())
