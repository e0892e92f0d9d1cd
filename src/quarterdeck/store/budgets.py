"""Budget repository: reserve before a step that spends, settle after it, record what it cost.

A reservation is one conditional update of the run's row, so concurrent workers can never reserve
more than the budget allows between them; the attempt remembers its reservation so an attempt
whose worker died gives it back when its lease is reaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain.statuses import RunStatus, WaitingFor
from quarterdeck.errors import InputError, LeaseLost
from quarterdeck.store import runs as run_store
from quarterdeck.store import supervision
from quarterdeck.store.merge_waits import TAKES_WORK
from quarterdeck.store.records import Claim
from quarterdeck.store.tables import attempts, cost_entries, runs, tasks
from quarterdeck.store.types import utcnow

__all__ = [
    "CostEntry",
    "Reservation",
    "add_budget",
    "mark_exhausted",
    "release_reservations",
    "reserve",
    "settle",
]

#: slack for float sums of money
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class CostEntry:
    """What one step cost, as recorded."""

    provider: str
    model: str
    cost_usd: float
    input_tokens: int = 0
    output_tokens: int = 0
    source: str = ""


@dataclass(frozen=True, slots=True)
class Reservation:
    """What was reserved for a step, and the most the step may spend: the run's budget left to it."""

    amount_usd: float
    #: the run's budget not spent or reserved by other steps (this reservation included); None: no run budget
    cap_usd: float | None


async def reserve(conn: AsyncConnection, claim: Claim, wanted_usd: float) -> Reservation | None:
    """Reserve up to ``wanted_usd`` of the run's budget for the claimed attempt: all of it when it fits, else
    what remains; None when nothing remains (or the run is not running).

    The update is conditional on the row being as it was read, so concurrent workers never reserve more
    than the budget between them (a lost race reads again).
    """
    run_id = claim.task.run_id
    while True:
        row = (
            await conn.execute(
                sa.select(runs.c.budget_usd, runs.c.spent_usd, runs.c.reserved_usd).where(
                    runs.c.id == run_id, TAKES_WORK
                )
            )
        ).first()
        if row is None:
            return None
        budget, spent, reserved = row
        cap = None if budget is None else round(float(budget) - float(spent) - float(reserved), 6)
        if cap is not None and cap <= _EPSILON:
            return None
        granted = wanted_usd if cap is None else min(wanted_usd, cap)
        result = await conn.execute(
            runs.update()
            .where(
                runs.c.id == run_id,
                TAKES_WORK,
                runs.c.spent_usd == spent,
                runs.c.reserved_usd == reserved,
            )
            .values(reserved_usd=runs.c.reserved_usd + granted)
        )
        if result.rowcount == 1:
            break
    moved = await conn.execute(
        attempts.update()
        .where(attempts.c.id == claim.attempt_id, attempts.c.lease_token == claim.lease_token)
        .values(reserved_usd=attempts.c.reserved_usd + granted)
    )
    if moved.rowcount != 1:
        raise LeaseLost(f"attempt {claim.attempt_id} is not ours")
    return Reservation(granted, cap)


async def settle(conn: AsyncConnection, claim: Claim, entry: CostEntry | None, *, now: datetime) -> None:
    """Turn the attempt's reservation into what it actually cost, and record the cost row."""
    row = (await conn.execute(sa.select(attempts.c.reserved_usd).where(attempts.c.id == claim.attempt_id))).first()
    reserved = float(row[0]) if row is not None else 0.0
    cost = entry.cost_usd if entry is not None else 0.0
    await conn.execute(
        runs.update()
        .where(runs.c.id == claim.task.run_id)
        .values(reserved_usd=runs.c.reserved_usd - reserved, spent_usd=runs.c.spent_usd + cost)
    )
    await conn.execute(
        attempts.update()
        .where(attempts.c.id == claim.attempt_id)
        .values(reserved_usd=0.0, cost_usd=attempts.c.cost_usd + cost)
    )
    if entry is not None:
        await conn.execute(
            cost_entries.insert(),
            [
                {
                    "run_id": claim.task.run_id,
                    "task_id": claim.task.id,
                    "attempt_id": claim.attempt_id,
                    "provider": entry.provider,
                    "model": entry.model,
                    "input_tokens": entry.input_tokens,
                    "output_tokens": entry.output_tokens,
                    "cost_usd": cost,
                    "source": entry.source,
                    "created_at": now,
                }
            ],
        )


async def release_reservations(conn: AsyncConnection, attempt_ids: list[str]) -> None:
    """Give back what ended attempts (expired, released, cancelled) still had reserved."""
    if not attempt_ids:
        return
    held = await conn.execute(
        sa.select(attempts.c.id, attempts.c.reserved_usd, tasks.c.run_id)
        .join(tasks, tasks.c.pk == attempts.c.task_pk)
        .where(attempts.c.id.in_(attempt_ids), attempts.c.reserved_usd > 0)
    )
    for attempt_id, amount, run_id in list(held):
        await conn.execute(runs.update().where(runs.c.id == run_id).values(reserved_usd=runs.c.reserved_usd - amount))
        await conn.execute(attempts.update().where(attempts.c.id == attempt_id).values(reserved_usd=0.0))


async def mark_exhausted(conn: AsyncConnection, run_id: str) -> bool:
    """The run waits for more budget (a crew's run asks for it in an approval); True if it moved.

    A run waiting for merge approvals waits for budget instead (``store/merge_waits.py``)."""
    moved = await run_store.update_run_status(
        conn, run_id, RunStatus.WAITING, allowed_from=run_store.TAKING_WORK, waiting_for=WaitingFor.BUDGET
    )
    if moved:
        await supervision.request_step(conn, run_id, "budget", now=utcnow())
    return moved


async def add_budget(conn: AsyncConnection, run_id: str, amount_usd: float) -> float:
    """Raise the run's budget (a run without one gets one); an exhausted run runs again. Returns the new limit."""
    if amount_usd <= 0:
        raise InputError("the amount to add must be positive")
    run = await run_store.read_run(conn, run_id)
    if run.status.terminal:
        raise InputError(f"run {run_id!r} already ended ({run.status})")
    limit = (run.budget_usd or run.spent_usd + run.reserved_usd) + amount_usd
    await conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(
            budget_usd=limit,
            status=sa.case((_WAITS_FOR_BUDGET, RunStatus.RUNNING.value), else_=runs.c.status),
            waiting_for=sa.case((_WAITS_FOR_BUDGET, None), else_=runs.c.waiting_for),
        )
    )
    return limit


#: a run that waits for more budget
_WAITS_FOR_BUDGET = sa.and_(runs.c.status == RunStatus.WAITING, runs.c.waiting_for == WaitingFor.BUDGET.value)
