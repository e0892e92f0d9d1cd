"""The supervisor: the decision steps of crews' runs, driven by whichever process runs workers.

A step is due when a run needs a decision (``store.supervision``): ``plan`` a new goal, ``replan`` after a
task failed for good, open a ``budget`` approval when the money ran out. Every worker process runs one
supervisor next to its slots; it claims due steps under a lease, renews the lease while the manager's model
thinks, and writes the step's result in one transaction with the step's end, fenced by its holder. A process
killed mid-step loses nothing: the lease expires and another process's supervisor takes the step again, reusing
the manager's answer if it had arrived (it is checkpointed with the step, ``supervision.checkpoint_step``). A system
failure meeting a step (the repository's remote unreachable while its crew is read, the database away) is never
the goal's: the step is deferred, with a growing pause, and tried again; the run stays as it is, and a
``step.deferred`` event says why.

A person's answer (``gates.decide``) is what lets the run go on: an approved plan or re-plan makes tasks
ready for the workers, an approved budget raise makes the run claimable again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.crews import gates, goals, manager, replan, sources
from quarterdeck.crews.models import Asker, Spent
from quarterdeck.domain import plans, retry
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import RunStatus, WaitingFor
from quarterdeck.engine import agents, memory, submit
from quarterdeck.errors import InfrastructureError, QuarterdeckError, StoreError
from quarterdeck.observability import tracing
from quarterdeck.runtimes.registry import Registry
from quarterdeck.settings import Settings
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import supervision
from quarterdeck.store.database import Database
from quarterdeck.store.records import RunRecord
from quarterdeck.store.supervision import Supervision
from quarterdeck.store.types import utcnow

__all__ = ["MAX_TRIES", "Supervisor"]

log = logging.getLogger(__name__)

#: how many times a step may be started (its process dying, or an unexpected error) before the run fails
MAX_TRIES = 3
#: who the audit names for the supervisor's own decisions
QUARTERDECK = "quarterdeck"
#: the pause before a step that met a system failure is tried again: doubling from 1 s, at most a minute
DEFERRAL = retry.RetryPolicy(max_attempts=2**31, base_delay_s=1.0, max_delay_s=60.0)


class _Lost(Exception):
    """The step's lease went to another process: this one's result is dropped."""


class Supervisor:
    """Takes the due decision steps of crews' runs (of one run, when ``run_id``) until ``should_exit``."""

    def __init__(
        self, db: Database, settings: Settings, registry: Registry, *, holder: str, run_id: str | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.holder = holder
        self.run_id = run_id
        self.should_exit = False
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        #: the runs whose step this supervisor is taking now
        self._taking: set[str] = set()
        #: the runs whose step met system failures, and how many in a row (the pause before the next try grows)
        self._deferred: dict[str, int] = {}

    def wake(self) -> None:
        self._wake.set()

    async def serve(self) -> None:
        """Claim due steps and run them; on exit, steps still running are stopped and handed back."""
        delay = 0.01
        try:
            while not self.should_exit:
                claimed: list[Supervision] = []
                try:
                    claimed = await self._claim()
                except StoreError as exc:
                    log.warning("supervisor %s: database away: %s", self.holder, exc)
                for step in claimed:
                    if step.run_id in self._taking:  # (its lease lapsed while it ran: it is still this one's)
                        continue
                    self._taking.add(step.run_id)
                    task = asyncio.create_task(self._step(step), name=f"supervise:{step.run_id}:{step.step}")
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
                delay = 0.01 if claimed else min(delay * 2, self.settings.poll_max_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                self._wake.clear()
        finally:
            for task in list(self._running):
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _claim(self) -> list[Supervision]:
        """Due steps, taken under a lease; an idle look is a read (no write lock on SQLite)."""
        async with self.db.read() as conn:
            if not await supervision.any_due(conn, holder=self.holder, now=utcnow(), run_id=self.run_id):
                return []
        async with self.db.transaction() as conn:
            return await supervision.claim_steps(
                conn, holder=self.holder, lease_s=self.settings.lease_s, now=utcnow(), run_id=self.run_id, limit=4
            )

    async def _step(self, step: Supervision) -> None:
        renewing = asyncio.create_task(self._renew(step.run_id))
        try:
            await self._take(step)
            self._deferred.pop(step.run_id, None)
        except _Lost:
            log.warning("supervisor %s lost the %s step of %s", self.holder, step.step, step.run_id)
        except asyncio.CancelledError:
            await asyncio.shield(self._hand_back(step.run_id))
            raise
        except InfrastructureError as exc:  # never the goal's failure: tried again later
            await asyncio.shield(self._defer(step, exc))
        except QuarterdeckError as exc:  # the manager cannot plan it: the goal fails, saying why
            self._deferred.pop(step.run_id, None)
            await self._fail(step, exc.message)
        except Exception as exc:
            log.exception("supervisor %s: the %s step of %s crashed", self.holder, step.step, step.run_id)
            if step.tries >= MAX_TRIES:
                await self._fail(step, f"the {step.step} step failed {step.tries} times: {exc!r}")
            else:
                await self._hand_back(step.run_id)
        finally:
            self._taking.discard(step.run_id)
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew(self, run_id: str) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)
            with contextlib.suppress(StoreError):
                async with self.db.transaction() as conn:
                    await supervision.renew_step(
                        conn, run_id, holder=self.holder, lease_s=self.settings.lease_s, now=utcnow()
                    )

    async def _hand_back(self, run_id: str) -> None:
        """Give the step back at once (not at the lease's end), for this or another process to retry."""
        with contextlib.suppress(StoreError):
            async with self.db.transaction() as conn:
                await supervision.release_step(conn, run_id, holder=self.holder, now=utcnow())

    async def _defer(self, step: Supervision, exc: InfrastructureError) -> None:
        """Hand the step back until a pause has passed (longer after each failure in a row), saying why."""
        failures = self._deferred[step.run_id] = self._deferred.get(step.run_id, 0) + 1
        decision = DEFERRAL.decide(failures, retryable=True)
        pause = decision.delay_s if decision is not None else DEFERRAL.max_delay_s
        log.warning(
            "supervisor %s: the %s step of %s is tried again in %.1f s: %s",
            self.holder, step.step, step.run_id, pause, exc.message,
        )  # fmt: skip
        now = utcnow()
        try:
            async with self.db.transaction() as conn:
                if await supervision.defer_step(
                    conn, step.run_id, holder=self.holder, now=now, until=now + timedelta(seconds=pause)
                ):
                    payload = {"step": step.step, "error": exc.message, "retry_in": round(pause, 3)}
                    await event_store.create_events(
                        conn, [event_store.NewEvent(step.run_id, EventType.STEP_DEFERRED, payload)]
                    )
        except StoreError as away:  # the lease lapses instead, and the step is taken again then
            log.warning("supervisor %s could not defer the step of %s: %s", self.holder, step.run_id, away)

    async def _take(self, step: Supervision) -> None:
        async with self.db.read() as conn:
            run = await run_store.read_run(conn, step.run_id)
        if step.step == "plan" and run.status is RunStatus.PLANNING:
            await self._plan(step, run)
        elif step.step == "replan" and _waits(run, WaitingFor.REPLAN) and step.task_id is not None:
            await self._replan(step, run, step.task_id)
        elif step.step == "budget" and _waits(run, WaitingFor.BUDGET):
            await self._budget(step, run)
        else:  # the run moved on (cancelled, re-queued, raised by hand): nothing to decide
            async with self.db.transaction() as conn:
                await self._end(conn, step.run_id)

    async def _end(self, conn: AsyncConnection, run_id: str, *, replanned: bool = False) -> None:
        if not await supervision.end_step(conn, run_id, holder=self.holder, now=utcnow(), replanned=replanned):
            raise _Lost

    async def _plan(self, step: Supervision, run: RunRecord) -> None:
        crew = await sources.run_crew(run, self.settings.resolved_repo_cache())
        asker = Asker(crew.manager)
        if step.answer is not None and step.answer.get("step") == "plan":  # it arrived before the step was lost
            planned = manager.Planned.from_answer(step.answer, crew)
            asker.spent.extend(Spent(**spent) for spent in step.answer.get("spent", ()))
            log.info("supervisor %s: the plan of %s is the manager's answer already given", self.holder, run.id)
        else:
            attributes = {"quarterdeck.run": run.id, "quarterdeck.org": run.org_id}
            goal = run.goal or run.name
            if lessons := await memory.recall_for_goal(
                self.db, self.settings, await sources.run_project(run, self.settings.resolved_repo_cache()), run
            ):
                goal = f"{goal}\n\n{lessons}"  # what earlier work in this repository learned (docs/memory.md)
            with tracing.span("quarterdeck.manager.plan", attributes, parent=run.traceparent):
                planned = await manager.plan_goal(goal, crew, asker)
            spent = [dataclasses.asdict(s) for s in asker.spent]
            await self._checkpoint(run.id, {"step": "plan", **planned.answer(), "spent": spent})
        plan = planned.plan
        plans.validate(plan)
        if any(t.runtime == plans.NO_RUNTIME for t in plan.tasks):
            plan = agents.choose(plan, await sources.run_agent(run, self.settings.resolved_repo_cache()))
            planned = _with_plan(planned, plan)
        keys = submit.check_runtimes(plan, self.registry)
        async with self.db.transaction() as conn:
            await self._end(conn, run.id)
            await goals.record_plan(
                conn, run, planned, crew, asker, provider_keys=keys, approve=step.approve, dialect=self.db.dialect
            )

    async def _checkpoint(self, run_id: str, answer: dict[str, Any]) -> None:
        """Keep the model's answer with the step, so that a process taking the step over does not ask again."""
        async with self.db.transaction() as conn:
            if not await supervision.checkpoint_step(conn, run_id, holder=self.holder, answer=answer):
                raise _Lost

    async def _replan(self, step: Supervision, run: RunRecord, failed: str) -> None:
        crew = await sources.run_crew(run, self.settings.resolved_repo_cache())
        asker = Asker(crew.manager)
        attributes = {"quarterdeck.run": run.id, "quarterdeck.task": failed}
        answer = step.answer
        if answer is not None and answer.get("step") == "replan" and answer.get("failed_task") == failed:
            drafted = await replan.from_answer(self.db, run.id, answer)  # it arrived before the step was lost
            asker.spent.extend(Spent(**spent) for spent in answer.get("spent", ()))
        else:
            with tracing.span("quarterdeck.manager.replan", attributes, parent=run.traceparent):
                drafted = await replan.draft(self.db, run.id, failed, crew, asker)
            spent = [dataclasses.asdict(s) for s in asker.spent]
            await self._checkpoint(run.id, {"step": "replan", **drafted.answer(), "spent": spent})
        async with self.db.transaction() as conn:
            await self._end(conn, run.id, replanned=True)
            proposal = await replan.record(conn, drafted, asker)
            approval = await gates.request(
                conn,
                org_id=run.org_id,
                kind="replan",
                payload={
                    "version": proposal.version,
                    "reason": proposal.reason,
                    "task": failed,
                    "error": next((t.error for t in drafted.tasks if t.id == failed), None),
                    "changes": list(proposal.changes),
                },
                requested_by="manager",
                run_id=run.id,
                task_id=failed,
            )
            if not step.approve:
                await gates.decide_in(
                    conn,
                    org_id=run.org_id,
                    approval_id=approval.id,
                    approve=True,
                    by=QUARTERDECK,
                    reason="the goal was started without approve-first",
                )

    async def _budget(self, step: Supervision, run: RunRecord) -> None:
        add = run.budget_usd or 1.0
        async with self.db.transaction() as conn:
            await self._end(conn, run.id)
            pending = await crew_store.read_approvals(conn, run_id=run.id, kind="budget", status="pending")
            if not pending:
                await gates.request(
                    conn,
                    org_id=run.org_id,
                    kind="budget",
                    payload={
                        "add_usd": add,
                        "spent_usd": run.spent_usd,
                        "budget_usd": run.budget_usd,
                        "reason": f"${run.spent_usd:.2f} spent of ${run.budget_usd or 0:.2f}: the next step "
                        f"cannot be afforded; raising the budget by ${add:.2f} lets the run go on",
                    },
                    requested_by=QUARTERDECK,
                    run_id=run.id,
                )

    async def _fail(self, step: Supervision, error: str) -> None:
        """The goal cannot go on: the run fails for good, saying why."""
        try:
            async with self.db.transaction() as conn:
                await self._end(conn, step.run_id)
                moved = await run_store.update_run_status(
                    conn,
                    step.run_id,
                    RunStatus.FAILED,
                    # (not a run waiting only for merges: its tasks go on, and end it themselves)
                    allowed_from=[RunStatus.PLANNING, *[(RunStatus.WAITING, w) for w in _DECIDED_HERE]],
                    error=error,
                )
                if moved:
                    await event_store.create_events(
                        conn,
                        [
                            event_store.NewEvent(
                                step.run_id,
                                EventType.RUN_FINISHED,
                                {"status": str(RunStatus.FAILED), "error": error, "step": step.step},
                            )
                        ],
                    )
        except (_Lost, StoreError) as exc:
            log.warning("supervisor %s could not fail run %s: %r", self.holder, step.run_id, exc)


#: the waits whose decision a supervisor's step prepares
_DECIDED_HERE = (WaitingFor.PLAN, WaitingFor.REPLAN, WaitingFor.BUDGET)


def _waits(run: RunRecord, what: WaitingFor) -> bool:
    return run.status is RunStatus.WAITING and run.waiting_for == what


def _with_plan(planned: manager.Planned, plan: plans.Plan) -> manager.Planned:
    return dataclasses.replace(planned, plan=plan)
