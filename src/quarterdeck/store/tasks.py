"""Task repository: claim under a lease, renew it, complete fenced by it, reap expired ones.

Every status change is a conditional update whose ``WHERE status IN (…)`` comes from the
domain's transition rules, so a racing or zombie writer changes nothing.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import ids, transitions
from quarterdeck.domain.checkpoints import Checkpoint
from quarterdeck.domain.statuses import AttemptStatus, TaskStatus
from quarterdeck.errors import LeaseLost, NotFound, WorkspaceError
from quarterdeck.security.redaction import redact
from quarterdeck.store import budgets, compiled, dialects
from quarterdeck.store import events as event_store
from quarterdeck.store.records import AttemptRecord, Claim, TaskRecord
from quarterdeck.store.tables import attempts, dependencies, runs, tasks

__all__ = [
    "Expired",
    "allocate_port",
    "allowed_from",
    "block_dependants",
    "claim_task",
    "claim_tasks",
    "complete_task",
    "complete_tasks",
    "create_follow_up",
    "descendants",
    "fail_task",
    "read_attempts",
    "read_newest_run_of_task",
    "read_task",
    "read_tasks",
    "reap_expired",
    "renew_lease",
    "update_attempt",
    "update_checkpoint",
]


def allowed_from(target: TaskStatus) -> list[str]:
    """The statuses a task may move to ``target`` from (the domain's rules), for ``WHERE status IN``."""
    return [str(s) for s in transitions.sources(target)]


def _may_become(target: TaskStatus) -> sa.ColumnElement[bool]:
    """``status IN (allowed_from(target))`` as plain comparisons, for statements built once: an IN list is
    an expanding parameter, which SQLAlchemy renders into the SQL again at every execution."""
    return sa.or_(*(tasks.c.status == status for status in allowed_from(target)))


def descendants(pk: int) -> sa.Select[tuple[int]]:
    """The pks of every task that depends on task ``pk``, directly or through others."""
    down = sa.select(dependencies.c.task_pk.label("pk")).where(dependencies.c.depends_on_pk == pk).cte(recursive=True)
    down = down.union(sa.select(dependencies.c.task_pk).where(dependencies.c.depends_on_pk == down.c.pk))
    return sa.select(down.c.pk)


async def claim_task(
    conn: AsyncConnection,
    *,
    dialect: str,
    worker_id: str,
    lease_s: float,
    now: datetime,
    run_id: str | None = None,
    limits: Mapping[str, int] | None = None,
) -> Claim | None:
    """Claim the best ready task with a fresh lease and open its attempt; None if nothing is ready."""
    claims = await claim_tasks(
        conn, dialect=dialect, worker_id=worker_id, lease_s=lease_s, now=now, run_id=run_id, limits=limits
    )
    return claims[0] if claims else None


async def claim_tasks(
    conn: AsyncConnection,
    *,
    dialect: str,
    worker_id: str,
    lease_s: float,
    now: datetime,
    run_id: str | None = None,
    limits: Mapping[str, int] | None = None,
    count: int = 1,
    avoid_repos: Collection[str] = (),
    offers: tuple[str, ...] = (),
    events: Sequence[event_store.NewEvent] = (),
) -> list[Claim]:
    """Claim up to ``count`` of the best ready tasks, each with a fresh lease and a new attempt, and append
    ``events`` in the same transaction (a group of outcomes' events: on PostgreSQL in the claim's own
    statement, one round trip fewer, unless limits or avoided repositories filter the claim or the
    transaction collects its events for commit listeners).

    Tasks of runs whose repository is in ``avoid_repos`` (the worker cannot reach it) are left to others; a task
    that requires something is claimed only if the worker ``offers`` all of it (sorted, so statements are shared).

    ``limits`` caps how many tasks run at once: ``global``, ``runtime:<name>``, ``role:<name>``, ``repo:<path>``,
    ``key:<ENV_NAME>`` (the provider key tasks spend through).
    A task over a limit stays ``ready`` and the next eligible task is claimed instead (one claim
    per transaction while limits apply, so each claim is counted against them).
    """
    appending = None
    if events and dialect == "postgresql" and not limits and not avoid_repos:
        appending = event_store.appended(conn, events)
    if events and appending is None:
        await event_store.create_events(conn, events)
    filters: list[sa.ColumnElement[bool]] = []
    if limits:
        count = 1
        await dialects.lock_claims(conn, dialect)
        over = await _saturated(conn, limits)
        if over is None:
            return []
        filters = over
    if avoid_repos:
        filters = [*filters, tasks.c.run_id.notin_(sa.select(runs.c.id).where(runs.c.repo_path.in_(list(avoid_repos))))]
    token = secrets.token_hex(16)
    params = {
        "claim_now": now,
        "claim_run": run_id,
        "claim_limit": count,
        "claim_worker": worker_id,
        "claim_token": token,
        "claim_expires": now + timedelta(seconds=lease_s),
        # one statement claims several tasks: each attempt id is the batch prefix plus the task's pk
        "claim_prefix": ids.new_id("a") + "-",
    }
    if filters:  # built for these limits: through SQLAlchemy
        rows: Sequence[Sequence[Any]] = list(
            await conn.execute(_build_claim(dialect, run_id is not None, filters, offers), params)
        )
    elif appending is not None:
        statement = _claim_statement(dialect, run_id is not None, offers, appending=True)
        rows = await compiled.fetch(conn, statement, {**params, **appending})
    else:
        rows = await compiled.fetch(conn, _claim_statement(dialect, run_id is not None, offers), params)
    claimed = sorted(
        (TaskRecord.from_columns(row) for row in rows),
        key=lambda t: (-t.priority, -t.path_estimate_ms, -t.path_length, t.seq, t.pk),
    )
    if not claimed:
        return []
    if dialect != "postgresql":  # (PostgreSQL's claim statement opened the attempts)
        await _open_attempts(conn, claimed, worker_id=worker_id, token=token, now=now)
    return [
        Claim(task=task, attempt_id=task.attempt_id or "", attempt_number=task.attempts, lease_token=token)
        for task in claimed
    ]


async def _open_attempts(
    conn: AsyncConnection, claimed: Sequence[TaskRecord], *, worker_id: str, token: str, now: datetime
) -> None:
    """Insert the claimed tasks' attempts (on SQLite: PostgreSQL's claim statement inserts them itself)."""
    rows = [
        {
            "id": task.attempt_id,
            "task_pk": task.pk,
            "number": task.attempts,
            "status": AttemptStatus.RUNNING,
            "worker_id": worker_id,
            "lease_token": token,
            "heartbeat_at": now,
            "started_at": now,
        }
        for task in claimed
    ]
    await compiled.execute_many(conn, _INSERT_ATTEMPT, rows)


def _build_claim(
    dialect: str,
    by_run: bool,
    filters: Sequence[sa.ColumnElement[bool]] = (),
    offers: Sequence[str] = (),
    *,
    appending: bool = False,
) -> sa.Update | sa.Select[Any]:
    """The claim statement: lease the picked ready tasks (``dialects.next_claimable``) and return their rows.

    On PostgreSQL the same statement opens their attempts (a data-modifying CTE): one round trip
    instead of two. SQLite has no such CTE; ``claim_tasks`` inserts the attempts there. ``appending``
    (PostgreSQL): it also appends events (``events.APPEND``, another CTE).
    """
    # The picked rows are locked first (a CTE is evaluated before the update), then updated by join.
    picked = dialects.next_claimable(dialect, by_run=by_run, filters=filters, offers=offers).cte("picked")
    now = sa.bindparam("claim_now", type_=tasks.c.started_at.type)
    worker = sa.bindparam("claim_worker", type_=tasks.c.worker_id.type)
    token = sa.bindparam("claim_token", type_=tasks.c.lease_token.type)
    # PostgreSQL's picked rows are locked ``ready`` (FOR UPDATE) until the commit: joined by pk alone. A
    # status condition there lets the planner, on a run too new for statistics, update by walking every
    # ready task of the claim index instead of looking up the few picked ones by pk (2.1 ms, not 0.8 ms).
    guard = () if dialect == "postgresql" else (_may_become(TaskStatus.RUNNING),)
    update = (
        tasks.update()
        .where(tasks.c.pk == picked.c.pk, *guard)
        .values(
            status=TaskStatus.RUNNING,
            worker_id=worker,
            lease_token=token,
            lease_expires_at=sa.bindparam("claim_expires", type_=tasks.c.lease_expires_at.type),
            attempt_id=sa.bindparam("claim_prefix", type_=sa.String) + sa.cast(tasks.c.pk, sa.String),
            attempts=tasks.c.attempts + 1,
            started_at=sa.func.coalesce(tasks.c.started_at, now),
            error=None,
        )
        .returning(*tasks.c)
    )
    if dialect != "postgresql":
        return update
    claimed = update.cte("claimed")
    opened = attempts.insert().from_select(
        ["id", "task_pk", "number", "status", "worker_id", "lease_token", "heartbeat_at", "started_at"],
        sa.select(
            claimed.c.attempt_id,
            claimed.c.pk,
            claimed.c.attempts,
            sa.literal(AttemptStatus.RUNNING.value),
            worker,
            token,
            now,
            now,
        ),
    )
    # Columns in the table's order, so rows become records positionally (``from_columns``).
    claim = sa.select(*(claimed.c[column.name] for column in tasks.c)).add_cte(opened.cte("opened"))
    return claim.add_cte(event_store.APPEND.cte("appended")) if appending else claim


@functools.cache
def _claim_statement(
    dialect: str, by_run: bool, offers: tuple[str, ...] = (), *, appending: bool = False
) -> compiled.Compiled:
    """The claim statement without limit filters, built and compiled once: building it costs more than running it."""
    return compiled.Compiled(_build_claim(dialect, by_run, offers=offers, appending=appending))


_ATTEMPT_OPENED = ("id", "task_pk", "number", "status", "worker_id", "lease_token", "heartbeat_at", "started_at")
_INSERT_ATTEMPT = compiled.Compiled(
    attempts.insert().values({name: sa.bindparam(name, type_=attempts.c[name].type) for name in _ATTEMPT_OPENED})
)


async def _saturated(conn: AsyncConnection, limits: Mapping[str, int]) -> list[sa.ColumnElement[bool]] | None:
    """Filters that exclude tasks over a limit; None when the global limit is reached."""
    running = tasks.c.status == TaskStatus.RUNNING
    if "global" in limits:
        total = (await conn.execute(sa.select(sa.func.count()).where(running))).scalar_one()
        if total >= limits["global"]:
            return None
    filters: list[sa.ColumnElement[bool]] = []
    # Limits on a column of the task itself: a task whose value is at its limit waits (no value: no limit).
    for prefix, column in (("runtime:", tasks.c.runtime), ("role:", tasks.c.role), ("key:", tasks.c.provider_key)):
        full = await _full(conn, column, _with_prefix(limits, prefix))
        if full:
            filters.append(sa.or_(column.is_(None), column.notin_(full)))
    repo_limits = _with_prefix(limits, "repo:")
    if repo_limits:
        counts = await conn.execute(
            sa.select(runs.c.repo_path, sa.func.count())
            .join(runs, runs.c.id == tasks.c.run_id)
            .where(running, runs.c.repo_path.in_(list(repo_limits)))
            .group_by(runs.c.repo_path)
        )
        full = [path for path, n in counts if n >= repo_limits[path]]
        if full:
            filters.append(tasks.c.run_id.notin_(sa.select(runs.c.id).where(runs.c.repo_path.in_(full))))
    return filters


def _with_prefix(limits: Mapping[str, int], prefix: str) -> dict[str, int]:
    return {key.removeprefix(prefix): value for key, value in limits.items() if key.startswith(prefix)}


async def _full(conn: AsyncConnection, column: sa.Column[Any], limits: Mapping[str, int]) -> list[str]:
    """The values of ``column`` whose running tasks have reached their limit."""
    if not limits:
        return []
    counts = await conn.execute(
        sa.select(column, sa.func.count())
        .where(tasks.c.status == TaskStatus.RUNNING, column.in_(list(limits)))
        .group_by(column)
    )
    return [name for name, n in counts if n >= limits[name]]


async def renew_lease(conn: AsyncConnection, claim: Claim, *, lease_s: float, now: datetime) -> None:
    """Extend the lease; raise LeaseLost if the task is no longer ours."""
    result = await conn.execute(
        tasks.update()
        .where(tasks.c.pk == claim.task.pk, tasks.c.lease_token == claim.lease_token)
        .values(lease_expires_at=now + timedelta(seconds=lease_s))
    )
    if result.rowcount != 1:
        raise LeaseLost(f"task {claim.task.id!r} attempt {claim.attempt_number} lost its lease")
    await conn.execute(attempts.update().where(attempts.c.id == claim.attempt_id).values(heartbeat_at=now))


async def update_checkpoint(conn: AsyncConnection, claim: Claim, checkpoint: Checkpoint) -> None:
    """Record the steps the attempt has completed (redacted: a transcript may quote a secret), fenced by its lease."""
    result = await conn.execute(
        tasks.update()
        .where(tasks.c.pk == claim.task.pk, tasks.c.lease_token == claim.lease_token)
        .values(checkpoint=redact(_stored(checkpoint)))
    )
    if result.rowcount != 1:
        raise LeaseLost(f"task {claim.task.id!r} attempt {claim.attempt_number} lost its lease")


def _stored(checkpoint: Checkpoint | None) -> dict[str, Any] | None:
    """A checkpoint as the ``checkpoint`` column holds it (NULL when there is none)."""
    return None if checkpoint is None else checkpoint.to_json() or None


async def allocate_port(conn: AsyncConnection, claim: Claim, *, dialect: str, first: int, last: int) -> int:
    """The lowest port in ``[first, last]`` no other running attempt holds, recorded on this attempt.

    Raises:
        WorkspaceError: every port in the range is taken.
    """
    await dialects.lock_claims(conn, dialect)
    taken = set(
        (
            await conn.execute(
                sa.select(attempts.c.port).where(
                    attempts.c.status == AttemptStatus.RUNNING, attempts.c.port.is_not(None)
                )
            )
        ).scalars()
    )
    port = next((p for p in range(first, last + 1) if p not in taken), None)
    if port is None:
        raise WorkspaceError(f"no free port in {first}-{last}: {len(taken)} running attempts hold them")
    await update_attempt(conn, claim, port=port)
    return port


async def update_attempt(conn: AsyncConnection, claim: Claim, **values: object) -> None:
    """Record facts about a running attempt (branch, worktree, commit), fenced by its lease."""
    result = await conn.execute(
        attempts.update()
        .where(attempts.c.id == claim.attempt_id, attempts.c.lease_token == claim.lease_token)
        .values(**redact(values))
    )
    if result.rowcount != 1:
        raise LeaseLost(f"attempt {claim.attempt_id} is not ours")


async def _finish(
    conn: AsyncConnection,
    claim: Claim,
    target: TaskStatus,
    attempt_status: AttemptStatus,
    now: datetime,
    **values: object,
) -> None:
    # the error and the checkpoint are recorded redacted: a step's output may quote a secret
    values = redact(values)
    result = await conn.execute(
        tasks.update()
        .where(
            tasks.c.pk == claim.task.pk,
            tasks.c.lease_token == claim.lease_token,
            tasks.c.status.in_(allowed_from(target)),
        )
        .values(status=target, lease_token=None, lease_expires_at=None, worker_id=None, **values)
    )
    if result.rowcount != 1:
        raise LeaseLost(f"task {claim.task.id!r} attempt {claim.attempt_number} lost its lease")
    await conn.execute(
        attempts.update()
        .where(attempts.c.id == claim.attempt_id)
        .values(
            status=attempt_status,
            finished_at=now,
            error=values.get("error"),
            commit_sha=values.get("commit_sha"),
        )
    )


def _b(name: str, column: sa.ColumnElement[object]) -> sa.BindParameter[object]:
    """A named parameter typed like ``column`` (so timestamps and JSON are converted as the column's)."""
    return sa.bindparam(name, type_=column.type)


#: The statements of a successful outcome, built and compiled once: building them cost more than running them.
_SUCCEED_TASK = compiled.Compiled(
    tasks.update()
    .where(
        tasks.c.pk == _b("fence_pk", tasks.c.pk),
        tasks.c.lease_token == _b("fence_token", tasks.c.lease_token),
        _may_become(TaskStatus.SUCCEEDED),
    )
    .values(
        status=TaskStatus.SUCCEEDED,
        lease_token=None,
        lease_expires_at=None,
        worker_id=None,
        commit_sha=_b("done_commit", tasks.c.commit_sha),
        finished_at=_b("done_at", tasks.c.finished_at),
    )
)
_SUCCEED_ATTEMPT = compiled.Compiled(
    attempts.update()
    .where(attempts.c.id == _b("done_attempt", attempts.c.id))
    .values(
        status=AttemptStatus.SUCCEEDED,
        finished_at=_b("done_at", attempts.c.finished_at),
        error=None,
        commit_sha=_b("done_commit", attempts.c.commit_sha),
    )
)
# One statement: each dependant has one dependency fewer, and the last one makes it ready.
_RELEASE_DEPENDANTS = compiled.Compiled(
    tasks.update()
    .where(
        tasks.c.pk.in_(
            sa.select(dependencies.c.task_pk).where(dependencies.c.depends_on_pk == _b("done_pk", tasks.c.pk))
        )
    )
    .values(
        pending_deps=tasks.c.pending_deps - 1,
        status=sa.case(
            (sa.and_(tasks.c.pending_deps == 1, tasks.c.status == TaskStatus.PENDING), TaskStatus.READY.value),
            else_=tasks.c.status,
        ),
    )
    .returning(tasks.c.id, tasks.c.status)
)


async def complete_task(conn: AsyncConnection, claim: Claim, *, commit_sha: str | None, now: datetime) -> list[str]:
    """Mark the task succeeded (fenced) and return the ids of dependants that became ready."""
    changed = await compiled.execute(
        conn,
        _SUCCEED_TASK,
        {"fence_pk": claim.task.pk, "fence_token": claim.lease_token, "done_commit": commit_sha, "done_at": now},
    )
    if changed != 1:
        raise LeaseLost(f"task {claim.task.id!r} attempt {claim.attempt_number} lost its lease")
    await compiled.execute(
        conn, _SUCCEED_ATTEMPT, {"done_attempt": claim.attempt_id, "done_at": now, "done_commit": commit_sha}
    )
    if claim.task.path_length <= 1:
        return []  # nothing depends on it
    rows = await compiled.fetch(conn, _RELEASE_DEPENDANTS, {"done_pk": claim.task.pk})
    return sorted(task_id for task_id, status in rows if status == TaskStatus.READY)


def _done_values(count: int) -> sa.CTE:
    """The group's tasks as a ``done`` CTE of (pk, lease token, commit), from the parameters ``fence_pk_0``,
    ``fence_token_0``, ``done_commit_0`` …"""
    rows = [
        (
            _b(f"fence_pk_{i}", tasks.c.pk),
            _b(f"fence_token_{i}", tasks.c.lease_token),
            _b(f"done_commit_{i}", tasks.c.commit_sha),
        )
        for i in range(count)
    ]
    return (
        sa.values(
            sa.column("pk", tasks.c.pk.type),
            sa.column("token", tasks.c.lease_token.type),
            sa.column("sha", tasks.c.commit_sha.type),
            name="done",
        )
        .data(rows)
        .cte("done")  # a CTE: SQLite takes no column names on a subquery in FROM
    )


def _succeed(done: sa.CTE) -> sa.Update:
    """Mark ``done``'s tasks succeeded, each fenced by its own lease token."""
    return (
        tasks.update()
        .where(tasks.c.pk == done.c.pk, tasks.c.lease_token == done.c.token, _may_become(TaskStatus.SUCCEEDED))
        .values(
            status=TaskStatus.SUCCEEDED,
            lease_token=None,
            lease_expires_at=None,
            worker_id=None,
            commit_sha=done.c.sha,
            finished_at=_b("done_at", tasks.c.finished_at),
        )
    )


def _close_attempts(succeeded: sa.CTE) -> sa.Update:
    """Close the attempts of ``succeeded`` (a CTE returning ``attempt_id`` and ``commit_sha``) as succeeded."""
    return (
        attempts.update()
        .where(attempts.c.id == succeeded.c.attempt_id)
        .values(
            status=AttemptStatus.SUCCEEDED,
            finished_at=_b("done_at", attempts.c.finished_at),
            error=None,
            commit_sha=succeeded.c.commit_sha,
        )
    )


def _release(finished: Any, *where: sa.ColumnElement[bool]) -> sa.Update:
    """Each dependant of ``finished`` (task pks: a list of parameters or a select) loses as many pending
    dependencies as ``finished`` holds of them, and becomes ready at none; returns (run_id, id, status)."""
    done_deps = (
        sa.select(sa.func.count())
        .where(dependencies.c.task_pk == tasks.c.pk, dependencies.c.depends_on_pk.in_(finished))
        .scalar_subquery()
    )
    return (
        tasks.update()
        .where(
            tasks.c.pk.in_(sa.select(dependencies.c.task_pk).where(dependencies.c.depends_on_pk.in_(finished))), *where
        )
        .values(
            pending_deps=tasks.c.pending_deps - done_deps,
            status=sa.case(
                (
                    sa.and_(tasks.c.pending_deps == done_deps, tasks.c.status == TaskStatus.PENDING),
                    TaskStatus.READY.value,
                ),
                else_=tasks.c.status,
            ),
        )
        .returning(tasks.c.run_id, tasks.c.id, tasks.c.status)
    )


@functools.cache
def _succeed_tasks(count: int, with_attempts: bool) -> compiled.Compiled:
    """Mark ``count`` tasks succeeded in one statement, each fenced by its own lease token; returns the pks
    that still held their lease, each with its attempt id. Built once per count (a group holds at most a
    worker's slots).

    ``with_attempts`` (PostgreSQL: a data-modifying CTE) closes their attempts in the same statement, one
    round trip instead of two; SQLite runs ``_SUCCEED_ATTEMPT`` after it."""
    succeed = _succeed(_done_values(count))
    if not with_attempts:
        return compiled.Compiled(succeed.returning(tasks.c.pk, tasks.c.attempt_id))
    succeeded = succeed.returning(tasks.c.pk, tasks.c.attempt_id, tasks.c.commit_sha).cte("succeeded")
    closed = _close_attempts(succeeded).cte("closed")
    return compiled.Compiled(sa.select(succeeded.c.pk, succeeded.c.attempt_id).add_cte(closed))


@functools.cache
def _succeed_and_release(count: int) -> compiled.Compiled:
    """PostgreSQL: ``_succeed_tasks(count, True)`` and ``_release_dependants_of`` in one statement (data-modifying
    CTEs), one round trip instead of two. Its rows: ``("done", pk, attempt_id, None)`` for each task that held
    its lease, ``("ready", None, run_id, task_id)`` for each dependant that became ready.

    Every sub-statement sees the same snapshot, so the release counts the dependencies finished by this
    statement from ``succeeded``'s RETURNING (the tasks that held their lease), as the separate statement
    counted those of the held claims; the tasks being succeeded are left out of the release, so no row is
    changed twice in the statement (PostgreSQL would keep one of the two changes)."""
    done = _done_values(count)
    succeeded = _succeed(done).returning(tasks.c.pk, tasks.c.attempt_id, tasks.c.commit_sha).cte("succeeded")
    closed = _close_attempts(succeeded).cte("closed")
    released = _release(sa.select(succeeded.c.pk), tasks.c.pk.not_in(sa.select(done.c.pk))).cte("released")
    no_text = sa.cast(sa.null(), sa.String)
    return compiled.Compiled(
        sa.union_all(
            sa.select(sa.literal("done").label("kind"), succeeded.c.pk, succeeded.c.attempt_id, no_text),
            sa.select(sa.literal("ready"), sa.cast(sa.null(), tasks.c.pk.type), released.c.run_id, released.c.id).where(
                released.c.status == TaskStatus.READY.value
            ),
        ).add_cte(closed)
    )


@functools.cache
def _release_dependants_of(count: int) -> compiled.Compiled:
    """One statement for a group of ``count`` tasks (parameters ``done_pk_0`` …): each dependant loses as many
    pending dependencies as the group finished of them. Built once per count (an IN list of parameters
    cannot be compiled once)."""
    return compiled.Compiled(_release([_b(f"done_pk_{i}", tasks.c.pk) for i in range(count)]))


async def complete_tasks(
    conn: AsyncConnection, done: Sequence[tuple[Claim, str | None]], *, now: datetime
) -> tuple[list[Claim], list[tuple[str, str]]]:
    """Mark several tasks succeeded (``(claim, commit_sha)`` pairs), each fenced by its own lease.

    A claim that lost its lease changes nothing and is left out of the result; the others are
    recorded as ``complete_task`` records one. Returns the claims that held their lease, and the
    dependants that became ready as ``(run_id, task_id)``.
    """
    fold = compiled.dialect_name(conn) == "postgresql"
    if len(done) == 1 and not fold:
        claim, commit_sha = done[0]
        try:
            released = await complete_task(conn, claim, commit_sha=commit_sha, now=now)
        except LeaseLost:
            return [], []
        return [claim], [(claim.task.run_id, task_id) for task_id in released]
    if not done:
        return [], []
    params: dict[str, object] = {"done_at": now}
    for i, (claim, commit_sha) in enumerate(done):
        params[f"fence_pk_{i}"] = claim.task.pk
        params[f"fence_token_{i}"] = claim.lease_token
        params[f"done_commit_{i}"] = commit_sha
    if fold and any(claim.task.path_length > 1 for claim, _ in done):
        # PostgreSQL, and something depends on the group: its dependants are released in the same statement.
        rows = await compiled.fetch(conn, _succeed_and_release(len(done)), params)
        ours = {(pk, attempt_id) for kind, pk, attempt_id, _ in rows if kind == "done"}
        held_claims = [claim for claim, _ in done if (claim.task.pk, claim.attempt_id) in ours]
        return held_claims, sorted((run_id, task_id) for kind, _, run_id, task_id in rows if kind == "ready")
    # By attempt, not by task: a group may hold a zombie's outcome and the newer attempt's of one task.
    ours = {(pk, attempt_id) for pk, attempt_id in await compiled.fetch(conn, _succeed_tasks(len(done), fold), params)}
    held = [(claim, sha) for claim, sha in done if (claim.task.pk, claim.attempt_id) in ours]
    if not held:
        return [], []
    if not fold:
        await compiled.execute_many(
            conn,
            _SUCCEED_ATTEMPT,
            [{"done_attempt": claim.attempt_id, "done_at": now, "done_commit": sha} for claim, sha in held],
        )
    # Nothing depends on a task whose critical path is itself alone.
    parents = [claim.task.pk for claim, _ in held if claim.task.path_length > 1]
    ready: list[tuple[str, str]] = []
    if parents:
        rows = await compiled.fetch(
            conn, _release_dependants_of(len(parents)), {f"done_pk_{i}": pk for i, pk in enumerate(parents)}
        )
        ready = sorted((run_id, task_id) for run_id, task_id, status in rows if status == TaskStatus.READY)
    return [claim for claim, _ in held], ready


async def fail_task(
    conn: AsyncConnection,
    claim: Claim,
    *,
    error: str,
    retry_at: datetime | None,
    now: datetime,
    checkpoint: Checkpoint | None = None,
    status: TaskStatus = TaskStatus.FAILED,
    block: bool = True,
) -> list[str]:
    """Record a failed attempt; requeue it at ``retry_at``, or fail it and (unless ``block`` is off)
    block every dependant. ``checkpoint`` replaces the task's checkpoint: a failed attempt's steps
    are redone by the next attempt, even after a re-queue.

    Returns the ids of the tasks that became blocked.
    """
    if retry_at is not None:
        await _finish(
            conn,
            claim,
            TaskStatus.READY,
            AttemptStatus.FAILED,
            now,
            error=error,
            not_before=retry_at,
            failures=tasks.c.failures + 1,
            checkpoint=_stored(checkpoint),
        )
        return []
    await _finish(
        conn,
        claim,
        status,
        AttemptStatus.FAILED,
        now,
        error=error,
        finished_at=now,
        failures=tasks.c.failures + 1,
        checkpoint=_stored(checkpoint),
    )
    if not block:
        return []
    return await block_dependants(conn, claim.task.pk, f"dependency {claim.task.id!r} failed", now)


async def create_follow_up(
    conn: AsyncConnection,
    original: TaskRecord,
    *,
    task_id: str,
    title: str,
    prompt: str,
    runtime: str,
    options: dict[str, object],
    checkpoint: Checkpoint,
    now: datetime,
) -> None:
    """Add a ready task to the original's run that takes over its place in the DAG.

    Whatever depended on the original now depends on the follow-up instead.
    """
    seq = (await conn.execute(sa.select(sa.func.max(tasks.c.seq)).where(tasks.c.run_id == original.run_id))).scalar()
    inserted = await conn.execute(
        tasks.insert()
        .values(
            run_id=original.run_id,
            id=task_id,
            seq=(seq or 0) + 1,
            title=title,
            prompt=prompt,
            runtime=runtime,
            options=options,
            verify=original.verify,
            acceptance_criteria=original.acceptance_criteria,
            source_path=original.source_path,
            source_line=original.source_line,
            priority=original.priority + 1,
            path_length=original.path_length,
            estimate_s=original.estimate_s,
            path_estimate_ms=original.path_estimate_ms,
            max_attempts=original.max_attempts,
            timeout_s=original.timeout_s,
            budget_usd=original.budget_usd,
            max_revisions=original.max_revisions,
            status=TaskStatus.READY,
            pending_deps=0,
            attempts=0,
            failures=0,
            checkpoint=_stored(checkpoint),
            created_at=now,
        )
        .returning(tasks.c.pk)
    )
    new_pk = inserted.scalar_one()
    await conn.execute(
        dependencies.update().where(dependencies.c.depends_on_pk == original.pk).values(depends_on_pk=new_pk)
    )


async def block_dependants(conn: AsyncConnection, pk: int, reason: str, now: datetime) -> list[str]:
    """Block every task that (transitively) depends on task ``pk``; returns their ids."""
    result = await conn.execute(
        tasks.update()
        .where(tasks.c.pk.in_(descendants(pk)), tasks.c.status.in_(allowed_from(TaskStatus.BLOCKED)))
        .values(status=TaskStatus.BLOCKED, error=reason, finished_at=now)
        .returning(tasks.c.id)
    )
    return sorted(result.scalars().all())


@dataclass(frozen=True, slots=True)
class Expired:
    """A lease that ran out: the task went back to ``ready``."""

    run_id: str
    task_id: str
    attempt_id: str | None
    worker_id: str | None


async def reap_expired(conn: AsyncConnection, *, now: datetime) -> list[Expired]:
    """Hand every task whose lease expired back to ``ready``; its attempt ends ``expired``.

    A worker dying is not the task's fault: the attempt is kept in the history but is not a
    failure, so it does not count against ``max_attempts``.
    """
    result = await conn.execute(
        tasks.update()
        .where(tasks.c.status == TaskStatus.RUNNING, tasks.c.lease_expires_at < now)
        .values(
            status=TaskStatus.READY,
            lease_token=None,
            lease_expires_at=None,
            worker_id=None,
        )
        .returning(tasks.c.run_id, tasks.c.id, tasks.c.attempt_id)
    )
    expired = [Expired(run_id, task_id, attempt_id, None) for run_id, task_id, attempt_id in result]
    if expired:
        attempt_ids = [e.attempt_id for e in expired if e.attempt_id]
        rows = await conn.execute(
            attempts.update()
            .where(attempts.c.id.in_(attempt_ids), attempts.c.status == AttemptStatus.RUNNING)
            .values(status=AttemptStatus.EXPIRED, finished_at=now, error="lease expired")
            .returning(attempts.c.id, attempts.c.worker_id)
        )
        workers: dict[str, str] = {attempt_id: worker for attempt_id, worker in rows}
        await budgets.release_reservations(conn, attempt_ids)
        expired = [Expired(e.run_id, e.task_id, e.attempt_id, workers.get(e.attempt_id or "")) for e in expired]
    return expired


async def read_task(conn: AsyncConnection, run_id: str, task_id: str) -> TaskRecord:
    """One task of a run, or NotFound."""
    row = (await conn.execute(sa.select(tasks).where(tasks.c.run_id == run_id, tasks.c.id == task_id))).first()
    if row is None:
        raise NotFound(f"no task {task_id!r} in run {run_id!r}")
    return TaskRecord.from_row(row._mapping)


async def read_newest_run_of_task(conn: AsyncConnection, task_id: str) -> str:
    """The id of the newest run with a task called ``task_id``, or NotFound."""
    row = (
        await conn.execute(
            sa.select(tasks.c.run_id).where(tasks.c.id == task_id).order_by(tasks.c.created_at.desc()).limit(1)
        )
    ).first()
    if row is None:
        raise NotFound(f"no task {task_id!r} in any run")
    return str(row[0])


async def read_tasks(conn: AsyncConnection, run_id: str) -> list[TaskRecord]:
    """A run's tasks in plan order."""
    rows = await conn.execute(sa.select(tasks).where(tasks.c.run_id == run_id).order_by(tasks.c.seq))
    return [TaskRecord.from_columns(r) for r in rows]


async def read_attempts(conn: AsyncConnection, task_pk: int) -> list[AttemptRecord]:
    """A task's attempts, first first."""
    rows = await conn.execute(sa.select(attempts).where(attempts.c.task_pk == task_pk).order_by(attempts.c.number))
    return [AttemptRecord.from_row(r._mapping) for r in rows]
