"""The few statements that differ between SQLite and PostgreSQL, kept in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain.statuses import TaskStatus
from quarterdeck.store.merge_waits import TAKES_WORK
from quarterdeck.store.tables import runs, task_conflicts, task_requirements, tasks

__all__ = ["insert_ignoring_duplicates", "lock_claims", "next_claimable"]

#: the advisory lock key that serialises claims on PostgreSQL while concurrency limits apply
_CLAIM_LOCK = 7207438


async def lock_claims(conn: AsyncConnection, dialect: str) -> None:
    """Serialise claimers for the rest of the transaction, so limits are counted exactly.

    SQLite writers are serial already (``BEGIN IMMEDIATE``); PostgreSQL takes an advisory lock.
    """
    if dialect == "postgresql":
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK})


_other = tasks.alias("other")
_conflicting = (
    sa.select(sa.literal(1))
    .select_from(task_conflicts.join(_other, _other.c.pk == task_conflicts.c.other_pk))
    .where(
        sa.or_(
            _other.c.status == TaskStatus.RUNNING,
            sa.and_(_other.c.status == TaskStatus.READY, _other.c.seq < tasks.c.seq),
        )
    )
)


def _unmet(offers: Sequence[str]) -> sa.Select[Any]:
    """The tasks with a requirement that a worker offering ``offers`` does not meet.

    Uncorrelated, so the database evaluates it once per claim (most tasks require nothing: it is empty), not
    once per candidate row (a correlated ``NOT EXISTS`` cost each claim ~15 % more CPU on SQLite).
    """
    query = sa.select(task_requirements.c.task_pk)
    if offers:
        # (not ``NOT IN``: an expanding list cannot be compiled once, see ``compiled.py``)
        query = query.where(*(task_requirements.c.requirement != offer for offer in sorted(offers)))
    return query


def next_claimable(
    dialect: str,
    *,
    by_run: bool,
    filters: Sequence[sa.ColumnElement[bool]] = (),
    offers: Sequence[str] = (),
) -> sa.Select[tuple[int]]:
    """The pks of the best ``:claim_limit`` ready tasks (priority, then the estimated time of the longest chain
    behind a task, then that chain's length in tasks, then plan order: ``ix_tasks_claim``'s order),
    not deferred past ``:claim_now``, of run ``:claim_run`` when ``by_run``.

    A task predicted to touch the same files as another (``task_conflicts``) waits while that one
    runs, and while it is ready and earlier in the plan — so one batch, or two racing claimers, never
    start both: the earlier one's row is either ``ready`` or ``running`` in any snapshot.

    PostgreSQL locks the row with ``FOR UPDATE SKIP LOCKED`` so concurrent claimers pass each
    other by; SQLite has one writer at a time (``BEGIN IMMEDIATE``), so the conditional
    ``UPDATE … WHERE status = 'ready'`` around this subquery is already atomic.

    A task that requires something (``task_requirements``) is claimed only by a worker that ``offers`` all of it.
    """
    now = sa.bindparam("claim_now", type_=tasks.c.not_before.type)
    query = (
        sa.select(tasks.c.pk)
        .where(
            tasks.c.status == TaskStatus.READY,
            sa.or_(tasks.c.not_before.is_(None), tasks.c.not_before <= now),
            ~_conflicting.where(task_conflicts.c.task_pk == tasks.c.pk).exists(),
            tasks.c.pk.not_in(_unmet(offers)),
        )
        .order_by(
            tasks.c.priority.desc(),
            tasks.c.path_estimate_ms.desc(),
            tasks.c.path_length.desc(),
            tasks.c.seq,
            tasks.c.pk,
        )
        .limit(sa.bindparam("claim_limit", type_=sa.Integer))
    )
    if by_run:
        query = query.where(tasks.c.run_id == sa.bindparam("claim_run", type_=tasks.c.run_id.type))
    if filters:
        query = query.where(*filters)
    active = sa.select(runs.c.id).where(TAKES_WORK)  # running, or waiting only for merge approvals
    query = query.where(tasks.c.run_id.in_(active))
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True, of=tasks)
    return query


async def insert_ignoring_duplicates(conn: AsyncConnection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows``, skipping each that would break a unique constraint; returns how many were inserted.

    Both dialects spell it ``INSERT … ON CONFLICT DO NOTHING``, through their own constructs.
    """
    if not rows:
        return 0
    dialect = conn.dialect.name
    insert = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).on_conflict_do_nothing()
    inserted = 0
    for row in rows:  # one by one: rowcount of a many-row insert that skipped some is not portable
        inserted += max((await conn.execute(insert, dict(row))).rowcount, 0)
    return inserted
