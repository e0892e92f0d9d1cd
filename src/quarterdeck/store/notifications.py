"""Notification repository: subscriptions, the outbox of notifications (leased while delivered) and the
notifier's place in the event log."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import ids
from quarterdeck.errors import NotFound
from quarterdeck.security.redaction import redact
from quarterdeck.store import dialects
from quarterdeck.store.tables import events, notifications, notifier_state, runs, subscriptions

__all__ = [
    "NotificationRecord",
    "NotifyingEvent",
    "SubscriptionRecord",
    "claim_notifications",
    "create_notifications",
    "create_subscription",
    "delete_subscription",
    "read_cursor",
    "read_last_event_id",
    "read_notification",
    "read_notifications",
    "read_notifying_events",
    "read_subscription",
    "read_subscriptions",
    "release_delivered",
    "release_failed",
    "update_cursor",
]


class _Record:
    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Self:
        return cls(**{name: row[name] for name in cls.__slots__})  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class SubscriptionRecord(_Record):
    id: str
    org_id: str
    scope: str
    project_id: str | None
    user_id: str | None
    channel: str
    target: str
    kinds: list[str]
    secret_name: str | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NotificationRecord(_Record):
    id: str
    org_id: str
    subscription_id: str
    event_id: int
    run_id: str | None
    task_id: str | None
    kind: str
    channel: str
    target: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    lease_token: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class NotifyingEvent:
    """An event that may notify, with what a notification says of its run."""

    id: int
    run_id: str
    task_id: str | None
    type: str
    payload: dict[str, Any]
    created_at: datetime
    org_id: str
    project_id: str | None
    run_name: str
    run_status: str


# --- subscriptions ----------------------------------------------------------------------------------------


async def create_subscription(
    conn: AsyncConnection,
    *,
    org_id: str,
    scope: str,
    channel: str,
    target: str,
    kinds: Sequence[str],
    created_by: str,
    now: datetime,
    project_id: str | None = None,
    user_id: str | None = None,
    secret_name: str | None = None,
) -> SubscriptionRecord:
    record = SubscriptionRecord(
        id=ids.new_id("sub"),
        org_id=org_id,
        scope=scope,
        project_id=project_id,
        user_id=user_id,
        channel=channel,
        target=target,
        kinds=list(kinds),
        secret_name=secret_name,
        created_by=created_by,
        created_at=now,
    )
    await conn.execute(subscriptions.insert(), [dataclasses.asdict(record)])
    return record


async def read_subscription(conn: AsyncConnection, subscription_id: str, *, org_id: str) -> SubscriptionRecord:
    row = (
        await conn.execute(
            sa.select(subscriptions).where(subscriptions.c.id == subscription_id, subscriptions.c.org_id == org_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no subscription {subscription_id!r}")
    return SubscriptionRecord.from_row(row._mapping)


async def read_subscriptions(
    conn: AsyncConnection, *, org_ids: Collection[str] | None = None, user_id: str | None = None
) -> list[SubscriptionRecord]:
    """Subscriptions of some organisations (None: of all), oldest first; with ``user_id``, only that user's own."""
    query = sa.select(subscriptions)
    if org_ids is not None:
        query = query.where(subscriptions.c.org_id.in_(org_ids))
    if user_id is not None:
        query = query.where(subscriptions.c.user_id == user_id)
    rows = await conn.execute(query.order_by(subscriptions.c.created_at, subscriptions.c.id))
    return [SubscriptionRecord.from_row(r._mapping) for r in rows]


async def delete_subscription(conn: AsyncConnection, subscription_id: str, *, org_id: str) -> None:
    result = await conn.execute(
        subscriptions.delete().where(subscriptions.c.id == subscription_id, subscriptions.c.org_id == org_id)
    )
    if result.rowcount != 1:
        raise NotFound(f"no subscription {subscription_id!r}")


# --- the notifier's place in the event log ------------------------------------------------------------------

_CURSOR = "events"


async def read_cursor(conn: AsyncConnection) -> int | None:
    """The id up to which events have been turned into notifications (None: never started)."""
    value = await conn.scalar(sa.select(notifier_state.c.last_event_id).where(notifier_state.c.name == _CURSOR))
    return None if value is None else int(value)


async def update_cursor(conn: AsyncConnection, last_event_id: int, *, now: datetime) -> None:
    """Move the cursor forward to ``last_event_id`` (never back: another notifier may be ahead)."""
    result = await conn.execute(
        notifier_state.update()
        .where(notifier_state.c.name == _CURSOR, notifier_state.c.last_event_id < last_event_id)
        .values(last_event_id=last_event_id, updated_at=now)
    )
    if result.rowcount == 0 and await read_cursor(conn) is None:
        await dialects.insert_ignoring_duplicates(
            conn, notifier_state, [{"name": _CURSOR, "last_event_id": last_event_id, "updated_at": now}]
        )


async def read_last_event_id(conn: AsyncConnection) -> int:
    return int(await conn.scalar(sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0))) or 0)


async def read_notifying_events(
    conn: AsyncConnection, *, after_id: int, types: Collection[str], limit: int
) -> list[NotifyingEvent]:
    """Events of ``types`` after ``after_id``, oldest first, with their run's organisation, project and name."""
    query = (
        sa.select(
            events.c.id,
            events.c.run_id,
            events.c.task_id,
            events.c.type,
            events.c.payload,
            events.c.created_at,
            runs.c.org_id,
            runs.c.project_id,
            runs.c.name.label("run_name"),
            runs.c.status.label("run_status"),
        )
        .select_from(events.join(runs, runs.c.id == events.c.run_id))
        .where(events.c.id > after_id, events.c.type.in_(types))
        .order_by(events.c.id)
        .limit(limit)
    )
    return [NotifyingEvent(**r._mapping) for r in await conn.execute(query)]


# --- the outbox -----------------------------------------------------------------------------------------------


async def create_notifications(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]], *, now: datetime) -> int:
    """Queue notifications (``subscription_id``, ``event_id``, …); one already queued for the same event and
    subscription is left as it is. Returns how many were new."""
    if not rows:
        return 0
    values = [
        {
            "id": ids.new_id("n"),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            **row,
            "payload": redact(dict(row["payload"])),
        }
        for row in rows
    ]
    return await dialects.insert_ignoring_duplicates(conn, notifications, values)


async def claim_notifications(
    conn: AsyncConnection, dialect: str, *, token: str, now: datetime, lease_s: float, limit: int
) -> list[NotificationRecord]:
    """Lease up to ``limit`` notifications due now: pending ones, and ones whose deliverer's lease expired."""
    due = sa.or_(
        sa.and_(notifications.c.status == "pending", notifications.c.next_attempt_at <= now),
        sa.and_(notifications.c.status == "sending", notifications.c.lease_expires_at <= now),
    )
    pick = sa.select(notifications.c.id).where(due).order_by(notifications.c.next_attempt_at).limit(limit)
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    picked = list((await conn.execute(pick)).scalars())
    if not picked:
        return []
    rows = await conn.execute(
        notifications.update()
        .where(notifications.c.id.in_(picked), due)
        .values(status="sending", lease_token=token, lease_expires_at=now + timedelta(seconds=lease_s))
        .returning(*notifications.c)
    )
    return sorted((NotificationRecord.from_row(r._mapping) for r in rows), key=lambda n: n.next_attempt_at)


def _leased(notification_id: str, token: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        notifications.c.id == notification_id,
        notifications.c.lease_token == token,
        notifications.c.status == "sending",
    )


async def release_delivered(conn: AsyncConnection, notification_id: str, *, token: str, now: datetime) -> bool:
    """Mark a leased notification delivered; False when the lease was lost (another process delivers it)."""
    result = await conn.execute(
        notifications.update()
        .where(_leased(notification_id, token))
        .values(
            status="delivered",
            attempts=notifications.c.attempts + 1,
            delivered_at=now,
            lease_token=None,
            lease_expires_at=None,
            last_error=None,
        )
    )
    return bool(result.rowcount)


async def release_failed(
    conn: AsyncConnection, notification_id: str, *, token: str, error: str, retry_at: datetime | None
) -> bool:
    """Record a failed delivery: pending again at ``retry_at``, or ``failed`` for good when None."""
    result = await conn.execute(
        notifications.update()
        .where(_leased(notification_id, token))
        .values(
            status="pending" if retry_at is not None else "failed",
            attempts=notifications.c.attempts + 1,
            next_attempt_at=retry_at if retry_at is not None else notifications.c.next_attempt_at,
            lease_token=None,
            lease_expires_at=None,
            last_error=redact(error)[:2000],
        )
    )
    return bool(result.rowcount)


async def read_notification(conn: AsyncConnection, notification_id: str, *, org_id: str) -> NotificationRecord:
    row = (
        await conn.execute(
            sa.select(notifications).where(notifications.c.id == notification_id, notifications.c.org_id == org_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no notification {notification_id!r}")
    return NotificationRecord.from_row(row._mapping)


async def read_notifications(
    conn: AsyncConnection,
    *,
    org_id: str,
    run_id: str | None = None,
    status: str | None = None,
    subscription_ids: Collection[str] | None = None,
    before: str | None = None,
    limit: int = 50,
) -> list[NotificationRecord]:
    """An organisation's notifications, newest first (ids sort by creation), before the id ``before``."""
    query = sa.select(notifications).where(notifications.c.org_id == org_id)
    if run_id is not None:
        query = query.where(notifications.c.run_id == run_id)
    if status is not None:
        query = query.where(notifications.c.status == status)
    if subscription_ids is not None:
        query = query.where(notifications.c.subscription_id.in_(subscription_ids))
    if before is not None:
        query = query.where(notifications.c.id < before)
    rows = await conn.execute(query.order_by(notifications.c.id.desc()).limit(limit))
    return [NotificationRecord.from_row(r._mapping) for r in rows]
