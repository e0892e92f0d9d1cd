"""Agent memory: the lessons of the caller's organisation — search, list, read, forget — and what a task was given.

Every route is scoped to the caller's organisation: another organisation's lesson is never found (404).
``repo`` names a repository as its runs do (``run.repo_path``: the path on the workers' machines, or a URL);
the server never resolves a caller's path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel

from quarterdeck.api.auth import Member, Viewer
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc

__all__ = ["ForgottenPublic", "GivenMemoryPublic", "MemoryHitPublic", "MemoryPublic", "router"]

router = v1_router("memory")

_Repo = Annotated[str | None, Query(max_length=2000, description="A repository, as its runs name it.")]
_Run = Annotated[str | None, Query(max_length=32, description="Only the lessons this run left.")]


class MemoryPublic(BaseModel):
    id: str
    repo: str
    run_id: str
    task_id: str
    title: str
    #: succeeded | failed: how the task that left it ended
    outcome: str
    text: str
    files: list[str]
    model: str
    created_at: datetime

    @classmethod
    def of(cls, record: Any) -> MemoryPublic:
        return cls(
            id=record.id,
            repo=record.repo,
            run_id=record.run_id,
            task_id=record.task_id,
            title=record.title,
            outcome=record.outcome,
            text=record.text,
            files=list(record.files),
            model=record.model,
            created_at=record.created_at,
        )


class MemoryHitPublic(BaseModel):
    memory: MemoryPublic
    #: cosine similarity to the query: 1 the same direction
    similarity: float


class GivenMemoryPublic(BaseModel):
    id: str
    title: str
    similarity: float
    attempt_id: str | None
    #: null once the lesson was forgotten
    memory: MemoryPublic | None


class ForgottenPublic(BaseModel):
    forgotten: int


@router.get("/memory")
async def list_memories(
    principal: Viewer,
    svc: Svc,
    repo: _Repo = None,
    run_id: _Run = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[MemoryPublic]:
    """The organisation's lessons, newest first."""
    found = await svc.quarterdeck.memories(org_id=principal.org_id, repo=repo, run_id=run_id, limit=limit)
    return [MemoryPublic.of(m) for m in found]


@router.get("/memory/search")
async def search_memories(
    principal: Viewer,
    svc: Svc,
    q: Annotated[str, Query(min_length=1, max_length=4000, description="What to look for.")],
    repo: _Repo = None,
    k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> list[MemoryHitPublic]:
    """The lessons nearest ``q``, nearest first (503 when the embedding model is not installed)."""
    hits = await svc.quarterdeck.search_memories(q, org_id=principal.org_id, repo=repo, k=k)
    return [MemoryHitPublic(memory=MemoryPublic.of(h.memory), similarity=round(h.similarity, 4)) for h in hits]


@router.get("/memory/{memory_id}")
async def read_memory(memory_id: str, principal: Viewer, svc: Svc) -> MemoryPublic:
    return MemoryPublic.of(await svc.quarterdeck.memory(memory_id, org_id=principal.org_id))


@router.delete("/memory/{memory_id}")
async def forget_memory(memory_id: str, principal: Member, svc: Svc) -> ForgottenPublic:
    """Forget one lesson: no later task is given it."""
    return ForgottenPublic(
        forgotten=await svc.quarterdeck.forget_memories(org_id=principal.org_id, memory_id=memory_id)
    )


@router.delete("/memory")
async def forget_memories(principal: Member, svc: Svc, repo: _Repo = None, run_id: _Run = None) -> ForgottenPublic:
    """Forget a repository's lessons (``repo``) or a run's (``run_id``); one of them is required (400)."""
    gone = await svc.quarterdeck.forget_memories(org_id=principal.org_id, repo=repo, run_id=run_id)
    return ForgottenPublic(forgotten=gone)


@router.get("/runs/{run_id}/tasks/{task_id}/memories")
async def task_memories(run_id: str, task_id: str, principal: Viewer, svc: Svc) -> list[GivenMemoryPublic]:
    """The lessons the task's prompt was given (``memory.recalled``), each once, in the order given."""
    given = await svc.quarterdeck.task_memories(run_id, task_id, org_id=principal.org_id)
    return [
        GivenMemoryPublic(
            id=g.id,
            title=g.title,
            similarity=g.similarity,
            attempt_id=g.attempt_id,
            memory=MemoryPublic.of(g.memory) if g.memory is not None else None,
        )
        for g in given
    ]
