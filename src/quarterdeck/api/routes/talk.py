"""Talking to a task's agent: send it a follow-up message, edit its prompt and options before a retry."""

from __future__ import annotations

from fastapi import Response, status

from quarterdeck.api import schemas
from quarterdeck.api.auth import Member
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.app import tasks

__all__ = ["router"]

router = v1_router("tasks")


@router.post("/runs/{run_id}/tasks/{task_id}/say", status_code=status.HTTP_201_CREATED)
async def say(run_id: str, task_id: str, body: schemas.SayCreate, principal: Member, svc: Svc) -> schemas.SaidPublic:
    """Send the task's agent a message: after its current turn if it runs, as a revision if it succeeded, with
    its retry if it failed (it is re-queued); recorded in the audit trail."""
    await tasks.read_task(svc.db, run_id, task_id, org_id=principal.org_id)
    said = await svc.quarterdeck.say(run_id, task_id, body.message, by=principal.actor)
    return schemas.SaidPublic(message_id=said.message_id, delivery=said.delivery, status=said.status)


@router.patch("/runs/{run_id}/tasks/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
async def edit_task(run_id: str, task_id: str, body: schemas.TaskEdit, principal: Member, svc: Svc) -> Response:
    """Change a waiting, failed, conflicted or cancelled task's prompt and/or options (then retry it)."""
    await tasks.read_task(svc.db, run_id, task_id, org_id=principal.org_id)
    await svc.quarterdeck.edit_task(run_id, task_id, by=principal.actor, prompt=body.prompt, options=body.options)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
