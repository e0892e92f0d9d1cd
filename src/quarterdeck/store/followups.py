"""Follow-up messages to a task's agent (``messages`` rows of type ``follow-up``) and edits of a task's spec."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain.checkpoints import Checkpoint
from quarterdeck.security.redaction import redact
from quarterdeck.store.tables import messages, tasks

__all__ = [
    "FOLLOW_UP",
    "FollowUp",
    "create_follow_up",
    "read_follow_ups",
    "update_task_checkpoint",
    "update_task_spec",
]

#: the ``messages.type`` of a person's message to a task's agent
FOLLOW_UP = "follow-up"


@dataclass(frozen=True, slots=True)
class FollowUp:
    id: int
    sender: str
    content: str
    created_at: datetime


async def create_follow_up(
    conn: AsyncConnection, run_id: str, task_id: str, *, sender: str, content: str, data: dict[str, Any], now: datetime
) -> int:
    """Record a person's message to the task's agent (in the audit trail); returns its id."""
    row = await conn.execute(
        messages.insert()
        .values(
            run_id=run_id,
            task_id=task_id,
            sender=sender,
            recipient=f"agent:{task_id}",
            type=FOLLOW_UP,
            content=redact(content),
            data=redact(data),
            created_at=now,
        )
        .returning(messages.c.id)
    )
    return int(row.scalar_one())


async def read_follow_ups(conn: AsyncConnection, run_id: str, task_id: str, *, after_id: int) -> list[FollowUp]:
    """The task's follow-up messages after ``after_id``, oldest first."""
    rows = await conn.execute(
        sa.select(messages.c.id, messages.c.sender, messages.c.content, messages.c.created_at)
        .where(
            messages.c.run_id == run_id,
            messages.c.task_id == task_id,
            messages.c.type == FOLLOW_UP,
            messages.c.id > after_id,
        )
        .order_by(messages.c.id)
    )
    return [FollowUp(*row) for row in rows]


async def update_task_spec(
    conn: AsyncConnection,
    task_pk: int,
    *,
    statuses: list[str],
    prompt: str | None = None,
    options: dict[str, Any] | None = None,
) -> bool:
    """Change a task's prompt and options while it is in one of ``statuses``; False when it is not."""
    values: dict[str, Any] = {}
    if prompt is not None:
        values["prompt"] = prompt
    if options is not None:
        values["options"] = options
    if not values:
        return True
    result = await conn.execute(
        tasks.update().where(tasks.c.pk == task_pk, tasks.c.status.in_(statuses)).values(**values)
    )
    return bool(result.rowcount)


async def update_task_checkpoint(conn: AsyncConnection, task_pk: int, checkpoint: Checkpoint) -> None:
    """Replace a task that no attempt holds's checkpoint (what its next attempt starts from), redacted."""
    await conn.execute(tasks.update().where(tasks.c.pk == task_pk).values(checkpoint=redact(checkpoint.to_json())))
