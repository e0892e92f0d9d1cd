"""Memories: the lessons tasks learned, one row each with its embedding, per organisation and repository.

Search is exact (``vectors.py`` holds the dialects' statements; on PostgreSQL without pgvector this process
scores the repository's vectors with numpy). Every read
and delete is filtered by organisation: another organisation's memory is never found, never deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import ids
from quarterdeck.errors import NotFound
from quarterdeck.security.redaction import redact
from quarterdeck.store import vectors
from quarterdeck.store.tables import memories
from quarterdeck.store.types import Vector

__all__ = [
    "FoundMemory",
    "MemoryRecord",
    "NewMemory",
    "count_memories",
    "create_memory",
    "delete_memories",
    "read_memories",
    "read_memory",
    "search_memories",
]


@dataclass(frozen=True, slots=True)
class NewMemory:
    org_id: str
    repo: str
    run_id: str
    task_id: str
    title: str
    outcome: str
    text: str
    files: tuple[str, ...]
    model: str
    #: the text's unit vector, float32 little-endian bytes
    embedding: bytes


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    id: str
    org_id: str
    repo: str
    run_id: str
    task_id: str
    title: str
    outcome: str
    text: str
    files: tuple[str, ...]
    model: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> MemoryRecord:
        values = {name: row[name] for name in cls.__slots__}
        values["files"] = tuple(values["files"] or ())
        return cls(**values)


@dataclass(frozen=True, slots=True)
class FoundMemory:
    """A memory a search found, and how near: cosine similarity, 1 the same direction."""

    memory: MemoryRecord
    similarity: float


_COLUMNS = (
    memories.c.id,
    memories.c.org_id,
    memories.c.repo,
    memories.c.run_id,
    memories.c.task_id,
    memories.c.title,
    memories.c.outcome,
    memories.c.text,
    memories.c.files,
    memories.c.model,
    memories.c.created_at,
)


async def create_memory(conn: AsyncConnection, new: NewMemory, *, now: datetime) -> MemoryRecord:
    """Store a lesson (its text and title redacted, as all recorded agent output is)."""
    row = {
        "id": ids.new_id("m"),
        "org_id": new.org_id,
        "repo": new.repo,
        "run_id": new.run_id,
        "task_id": new.task_id,
        "title": redact(new.title),
        "outcome": new.outcome,
        "text": redact(new.text),
        "files": list(new.files),
        "model": new.model,
        "embedding": new.embedding,
        # PostgreSQL's search reads these bytes (``vectors.candidates_sql``); SQLite's ``embedding`` is them
        "embedding_bytes": new.embedding if conn.dialect.name == "postgresql" else None,
        "created_at": now,
    }
    await conn.execute(memories.insert(), [row])
    return MemoryRecord.from_row(row)


async def search_memories(
    conn: AsyncConnection, query: bytes, *, org_id: str, repo: str | None = None, k: int = 5
) -> list[FoundMemory]:
    """The ``k`` memories of the organisation (of ``repo`` only, when given) nearest to ``query``, nearest first."""
    dialect = conn.dialect.name
    pgvector = dialect == "postgresql" and await vectors.has_pgvector(conn)
    if dialect == "postgresql" and not pgvector and vectors.numpy_available():
        return await _search_in_process(conn, query, org_id=org_id, repo=repo, k=k)
    statement = (
        sa.text(vectors.search_sql(dialect, pgvector=pgvector, by_repo=repo is not None))
        .bindparams(sa.bindparam("q", type_=Vector()))
        .columns(*_COLUMNS, sa.column("distance", sa.Float))
    )
    params: dict[str, Any] = {"org": org_id, "q": query, "k": k}
    if repo is not None:
        params["repo"] = repo
    rows = (await conn.execute(statement, params)).mappings().all()
    return [FoundMemory(MemoryRecord.from_row(row), 1.0 - float(row["distance"])) for row in rows]


async def _search_in_process(
    conn: AsyncConnection, query: bytes, *, org_id: str, repo: str | None, k: int
) -> list[FoundMemory]:
    """PostgreSQL without pgvector: read the candidates' vectors in one query, score them here, read the ``k``."""
    candidates = sa.text(vectors.candidates_sql(by_repo=repo is not None))
    params: dict[str, Any] = {"org": org_id}
    if repo is not None:
        params["repo"] = repo
    rows = [(int(pk), bytes(blob)) for pk, blob in (await conn.execute(candidates, params)).all()]
    best = vectors.nearest(rows, query, k)
    if not best:
        return []
    found = await conn.execute(
        sa.select(memories.c.pk, *_COLUMNS).where(
            memories.c.pk.in_([pk for pk, _ in best]), memories.c.org_id == org_id
        )
    )
    by_pk = {row.pk: MemoryRecord.from_row(row._mapping) for row in found}
    return [FoundMemory(by_pk[pk], 1.0 - distance) for pk, distance in best if pk in by_pk]


async def read_memory(conn: AsyncConnection, memory_id: str, *, org_id: str) -> MemoryRecord:
    """The memory, or NotFound (also for another organisation's)."""
    row = (
        await conn.execute(sa.select(*_COLUMNS).where(memories.c.id == memory_id, memories.c.org_id == org_id))
    ).first()
    if row is None:
        raise NotFound(f"no memory {memory_id!r}")
    return MemoryRecord.from_row(row._mapping)


async def read_memories(
    conn: AsyncConnection,
    *,
    org_id: str,
    repo: str | None = None,
    task_id: str | None = None,
    run_id: str | None = None,
    limit: int = 50,
) -> list[MemoryRecord]:
    """The organisation's memories, newest first (of one repository, run or task when given)."""
    query = sa.select(*_COLUMNS).where(memories.c.org_id == org_id)
    if repo is not None:
        query = query.where(memories.c.repo == repo)
    if run_id is not None:
        query = query.where(memories.c.run_id == run_id)
    if task_id is not None:
        query = query.where(memories.c.task_id == task_id)
    rows = await conn.execute(query.order_by(memories.c.pk.desc()).limit(limit))
    return [MemoryRecord.from_row(row._mapping) for row in rows]


async def count_memories(conn: AsyncConnection, *, org_id: str, repo: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(memories).where(memories.c.org_id == org_id)
    if repo is not None:
        query = query.where(memories.c.repo == repo)
    return int((await conn.execute(query)).scalar_one())


async def delete_memories(
    conn: AsyncConnection,
    *,
    org_id: str,
    memory_id: str | None = None,
    repo: str | None = None,
    run_id: str | None = None,
) -> int:
    """Forget the organisation's memories: one (``memory_id``), a repository's, a run's; how many went.

    Raises:
        ValueError: nothing names what to forget (forgetting everything is said with ``repo``).
    """
    if memory_id is None and repo is None and run_id is None:
        raise ValueError("name a memory, a repository or a run to forget")
    statement = sa.delete(memories).where(memories.c.org_id == org_id)
    if memory_id is not None:
        statement = statement.where(memories.c.id == memory_id)
    if repo is not None:
        statement = statement.where(memories.c.repo == repo)
    if run_id is not None:
        statement = statement.where(memories.c.run_id == run_id)
    result = await conn.execute(statement)
    return int(result.rowcount or 0)
