"""Agent memory (``memory/service.py``, docs/memory.md): every call scoped to an organisation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quarterdeck.app.parts import Parts

if TYPE_CHECKING:
    from quarterdeck.memory.service import GivenMemory
    from quarterdeck.store.memories import FoundMemory, MemoryRecord

__all__ = ["Memories"]


class Memories(Parts):
    async def search_memories(
        self, query: str, *, org_id: str | None = None, repo: str | None = None, k: int = 5
    ) -> list[FoundMemory]:
        """The lessons nearest ``query`` (of the repository ``repo``, as runs name it, when given), nearest first."""
        from quarterdeck.memory import service

        return await service.search(self.db, query, org_id=org_id or self.settings.org, repo=repo, k=k)

    async def memories(
        self, *, org_id: str | None = None, repo: str | None = None, run_id: str | None = None, limit: int = 50
    ) -> list[MemoryRecord]:
        from quarterdeck.memory import service

        where = await service.repository_key(repo) if repo is not None else None
        return await service.listing(
            self.db, org_id=org_id or self.settings.org, repo=where, run_id=run_id, limit=limit
        )

    async def memory(self, memory_id: str, *, org_id: str | None = None) -> MemoryRecord:
        from quarterdeck.memory import service

        return await service.read(self.db, memory_id, org_id=org_id or self.settings.org)

    async def forget_memories(
        self,
        *,
        org_id: str | None = None,
        memory_id: str | None = None,
        repo: str | None = None,
        run_id: str | None = None,
    ) -> int:
        """Forget one lesson, a repository's or a run's; how many went."""
        from quarterdeck.memory import service

        return await service.forget(
            self.db, org_id=org_id or self.settings.org, memory_id=memory_id, repo=repo, run_id=run_id
        )

    @staticmethod
    async def memory_repository(text: str) -> str:
        """A repository a user named on this machine as its runs name it (a local path's top level; a URL as given):
        the ``repo`` the memory calls take. Not for the API, whose callers' paths are not this machine's."""
        from quarterdeck.memory import service

        return await service.repository_key(text)

    async def task_memories(self, run_id: str, task_id: str, *, org_id: str | None = None) -> list[GivenMemory]:
        """The lessons the task's prompt was given (``memory.recalled``)."""
        from quarterdeck.memory import service

        return await service.given_to_task(self.db, run_id, task_id, org_id=org_id or self.settings.org)
