"""Steering runs and tasks (``engine/control.py``, ``engine/talk.py``): cancel, pause, resume, re-prioritise,
re-queue, raise a budget, talk to an agent; each records who asked (``by``) for the audit trail."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quarterdeck.app.parts import Parts

if TYPE_CHECKING:
    from quarterdeck.engine.talk import Said

__all__ = ["Steering"]


class Steering(Parts):
    async def add_budget(self, run_id: str, amount_usd: float, *, by: str | None = None) -> float:
        """Raise a run's budget; returns the new limit. ``by``: who asked (for the audit trail), as for the
        other steering operations below."""
        from quarterdeck.engine import control

        return await control.add_budget(self.db, run_id, amount_usd, by=by)

    async def cancel_task(self, run_id: str, task_id: str, *, by: str | None = None) -> list[str]:
        """Cancel a task; returns the dependants it blocked."""
        from quarterdeck.engine import control

        return await control.cancel_task(self.db, run_id, task_id, by=by)

    async def cancel_run(self, run_id: str, *, by: str | None = None) -> list[str]:
        from quarterdeck.engine import control

        return await control.cancel_run(self.db, run_id, by=by)

    async def pause_run(self, run_id: str, *, by: str | None = None) -> None:
        from quarterdeck.engine import control

        await control.pause_run(self.db, run_id, by=by)

    async def unpause_run(self, run_id: str, *, by: str | None = None) -> bool:
        from quarterdeck.engine import control

        return await control.unpause_run(self.db, run_id, by=by)

    async def prioritize_task(self, run_id: str, task_id: str, priority: int, *, by: str | None = None) -> None:
        from quarterdeck.engine import control

        await control.prioritize_task(self.db, run_id, task_id, priority, by=by)

    async def requeue_task(self, run_id: str, task_id: str, *, by: str | None = None) -> list[str]:
        """Give a failed or cancelled task fresh attempts; returns the dependants that wait again."""
        from quarterdeck.engine import control

        return await control.requeue_task(self.db, run_id, task_id, by=by)

    async def say(self, run_id: str, task_id: str, message: str, *, by: str) -> Said:
        """Send a follow-up to the task's agent: after its current turn, as a revision, or with its retry."""
        from quarterdeck.engine import talk

        return await talk.say(self.db, run_id, task_id, message, by=by)

    async def edit_task(
        self,
        run_id: str,
        task_id: str,
        *,
        by: str,
        prompt: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        """Change a waiting or dead-letter task's prompt and/or options before it is (re)tried."""
        from quarterdeck.engine import talk

        await talk.edit(self.db, self.registry, run_id, task_id, by=by, prompt=prompt, options=options)
