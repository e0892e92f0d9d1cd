"""The store's contract, run on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import plans
from quarterdeck.domain.statuses import AttemptStatus, RunStatus, TaskStatus
from quarterdeck.errors import LeaseLost, NotFound
from quarterdeck.store import compiled, database, records, tables
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import Claim
from quarterdeck.store.types import utcnow


def _plan(*specs: tuple[str, tuple[str, ...], int]) -> plans.Plan:
    return plans.Plan(
        name="contract",
        tasks=tuple(plans.TaskSpec(id=i, title=i.upper(), depends_on=d, priority=p) for i, d, p in specs),
    )


DIAMOND = _plan(("a", (), 0), ("b", ("a",), 0), ("c", ("a",), 5), ("d", ("b", "c"), 0), ("e", ("d",), 0))


async def _create(db: Database, plan: plans.Plan, run_id: str = "r1") -> None:
    async with db.transaction() as conn:
        await run_store.create_run(
            conn, run_id=run_id, plan=plan, repo_path="/repo", base_ref="abc", integration_branch="qd"
        )


async def _claim(db: Database, worker: str = "w1", lease_s: float = 30, run_id: str | None = None) -> Claim | None:
    async with db.transaction() as conn:
        return await task_store.claim_task(
            conn, dialect=db.dialect, worker_id=worker, lease_s=lease_s, now=utcnow(), run_id=run_id
        )


async def _statuses(db: Database, run_id: str = "r1") -> dict[str, TaskStatus]:
    async with db.read() as conn:
        return {t.id: t.status for t in await task_store.read_tasks(conn, run_id)}


async def test_migrations_reach_head_and_are_idempotent(db: Database) -> None:
    assert await db.current_revision() == db.head_revision()
    assert await db.upgrade() is False


async def test_create_run_marks_roots_ready(db: Database) -> None:
    await _create(db, DIAMOND)
    assert await _statuses(db) == {
        "a": TaskStatus.READY,
        "b": TaskStatus.PENDING,
        "c": TaskStatus.PENDING,
        "d": TaskStatus.PENDING,
        "e": TaskStatus.PENDING,
    }
    async with db.read() as conn:
        run = await run_store.read_run(conn, "r1")
        tasks = await task_store.read_tasks(conn, "r1")
    assert run.status is RunStatus.RUNNING
    assert [t.path_length for t in tasks] == [4, 3, 3, 2, 1]
    assert tasks[3].pending_deps == 2


async def test_read_missing_run_is_not_found(db: Database) -> None:
    async with db.read() as conn:
        with pytest.raises(NotFound, match="no run 'nope'"):
            await run_store.read_run(conn, "nope")


async def test_claim_order_is_priority_then_critical_path_then_plan_order(db: Database) -> None:
    await _create(db, _plan(("low", (), 0), ("short", (), 1), ("long", (), 1), ("tail", ("long",), 0)))
    order = []
    while (claim := await _claim(db)) is not None:
        order.append(claim.task.id)
    assert order == ["long", "short", "low"]


def _timed(task_id: str, estimate_s: float | None, *deps: str, priority: int = 0) -> plans.TaskSpec:
    return plans.TaskSpec(id=task_id, title=task_id, depends_on=deps, priority=priority, estimate_s=estimate_s)


async def test_claim_order_with_estimates_is_priority_then_time_behind_then_tasks_behind_then_plan_order(
    db: Database,
) -> None:
    # estimates 0.5, 3, 1, 4 and 2 s: their median, 2 s, stands in for "guess" (and "urgent")
    plan = plans.Plan(
        name="estimates",
        tasks=(
            _timed("small", 0.5),
            _timed("guess", None),
            _timed("big", 3),
            _timed("chain", 1),
            _timed("chain-end", 4, "chain"),
            _timed("mid", 2),
            _timed("urgent", None, priority=1),
        ),
    )
    await _create(db, plan)
    async with db.read() as conn:
        stored = {t.id: (t.estimate_s, t.path_estimate_ms) for t in await task_store.read_tasks(conn, "r1")}
    assert stored == {
        "small": (0.5, 500),
        "guess": (None, 2000),
        "big": (3.0, 3000),
        "chain": (1.0, 5000),
        "chain-end": (4.0, 4000),
        "mid": (2.0, 2000),
        "urgent": (None, 2000),
    }
    async with db.transaction() as conn:  # a batch claim returns its tasks in the same order
        batch = await task_store.claim_tasks(
            conn, dialect=db.dialect, worker_id="w1", lease_s=30, now=utcnow(), count=3
        )
    assert [c.task.id for c in batch] == ["urgent", "chain", "big"]
    order = []
    while (claim := await _claim(db)) is not None:
        order.append(claim.task.id)
    # "guess" and "mid" tie at 2 s and 1 task: plan order
    assert order == ["guess", "mid", "small"]


async def test_a_plan_without_estimates_ranks_by_tasks_behind_alone(db: Database) -> None:
    await _create(db, plans.Plan(name="blind", tasks=(_timed("a", None), _timed("b", None), _timed("c", None, "b"))))
    async with db.read() as conn:
        assert [t.path_estimate_ms for t in await task_store.read_tasks(conn, "r1")] == [0, 0, 0]
    first = await _claim(db)
    assert first is not None
    assert first.task.id == "b"


async def test_concurrent_claims_never_share_a_task(db: Database) -> None:
    await _create(db, _plan(*((f"t{i}", (), 0) for i in range(30))))
    claims = await asyncio.gather(*(_claim(db, worker=f"w{i}") for i in range(40)))
    won = [c.task.id for c in claims if c is not None]
    assert len(won) == 30
    assert len(set(won)) == 30


async def test_success_promotes_dependants_once_all_their_dependencies_succeed(db: Database) -> None:
    await _create(db, DIAMOND)
    a = await _claim(db)
    assert a is not None
    assert a.attempt_number == 1
    async with db.transaction() as conn:
        assert await task_store.complete_task(conn, a, commit_sha="c0ffee", now=utcnow()) == ["b", "c"]
    c = await _claim(db)
    assert c is not None
    assert c.task.id == "c"  # priority 5
    async with db.transaction() as conn:
        assert await task_store.complete_task(conn, c, commit_sha=None, now=utcnow()) == []
    b = await _claim(db)
    assert b is not None
    async with db.transaction() as conn:
        assert await task_store.complete_task(conn, b, commit_sha=None, now=utcnow()) == ["d"]
        assert await run_store.finish_run_if_done(conn, "r1") is None


async def test_a_group_completes_each_task_fenced_by_its_own_lease(db: Database) -> None:
    # x and y both feed z: finishing both in one group releases z (two dependencies at once);
    # w's outcome comes from a zombie and changes nothing, while the others still land.
    await _create(db, _plan(("x", (), 0), ("y", (), 0), ("w", (), 0), ("z", ("x", "y"), 0), ("v", ("w",), 0)))
    async with db.transaction() as conn:
        claims = await task_store.claim_tasks(
            conn, dialect=db.dialect, worker_id="w1", lease_s=30, now=utcnow(), run_id="r1", count=3
        )
    by_id = {c.task.id: c for c in claims}
    assert set(by_id) == {"x", "y", "w"}
    zombie = Claim(task=by_id["w"].task, attempt_id=by_id["w"].attempt_id, attempt_number=1, lease_token="stale")
    async with db.transaction() as conn:
        held, ready = await task_store.complete_tasks(
            conn, [(by_id["x"], "c1"), (zombie, "bad"), (by_id["y"], None)], now=utcnow()
        )
    assert [c.task.id for c in held] == ["x", "y"]
    assert ready == [("r1", "z")]
    assert await _statuses(db) == {
        "x": TaskStatus.SUCCEEDED,
        "y": TaskStatus.SUCCEEDED,
        "w": TaskStatus.RUNNING,
        "z": TaskStatus.READY,
        "v": TaskStatus.PENDING,
    }
    async with db.read() as conn:
        tasks = {t.id: t for t in await task_store.read_tasks(conn, "r1")}
        attempts = {i: await task_store.read_attempts(conn, tasks[i].pk) for i in ("x", "y", "w")}
    assert tasks["x"].commit_sha == "c1"
    assert tasks["y"].commit_sha is None
    assert tasks["z"].pending_deps == 0
    assert tasks["w"].lease_token == by_id["w"].lease_token
    assert [a.status for a in attempts["x"]] == [AttemptStatus.SUCCEEDED]
    assert attempts["x"][0].commit_sha == "c1"
    assert [a.status for a in attempts["w"]] == [AttemptStatus.RUNNING]
    # The real holder of w still completes it, alone in its group.
    async with db.transaction() as conn:
        held, ready = await task_store.complete_tasks(conn, [(by_id["w"], None)], now=utcnow())
    assert [c.task.id for c in held] == ["w"]
    assert ready == [("r1", "v")]


def test_records_list_their_tables_columns_in_table_order() -> None:
    # ``from_columns`` builds a record positionally from ``select(table)`` rows.
    pairs = [
        (tables.tasks, records.TaskRecord),
        (tables.attempts, records.AttemptRecord),
        (tables.runs, records.RunRecord),
        (tables.events, records.EventRecord),
    ]
    for table, record in pairs:
        assert [c.name for c in table.c] == [f.name for f in fields(record)], record.__name__


async def test_statements_of_one_transaction_run_in_one_switch(db: Database) -> None:
    await _create(db, DIAMOND)

    async def claim_and_complete(conn: AsyncConnection) -> list[str]:
        claim = await task_store.claim_task(conn, dialect=db.dialect, worker_id="w1", lease_s=30, now=utcnow())
        assert claim is not None
        return await task_store.complete_task(conn, claim, commit_sha=None, now=utcnow())

    async def sleeps(conn: AsyncConnection) -> None:
        await task_store.claim_task(conn, dialect=db.dialect, worker_id="w1", lease_s=30, now=utcnow())
        await asyncio.sleep(0)

    async with db.transaction() as conn:
        assert await database.in_one_switch(conn, claim_and_complete) == ["b", "c"]
    with pytest.raises(RuntimeError, match="awaited something other"):
        async with db.transaction() as conn:
            await database.in_one_switch(conn, sleeps)
    # The failed block's claim was rolled back with its transaction.
    assert (await _statuses(db))["c"] is TaskStatus.READY


async def test_compiled_statements_convert_values_as_sqlalchemy_does_and_wrap_driver_errors(db: Database) -> None:
    # The hot path runs its statements on the driver (store/compiled.py): the rows it returns must be the
    # ones SQLAlchemy returns (aware timestamps, decoded JSON), inside in_one_switch too, and a driver error
    # must surface as SQLAlchemy's (so the engine's error handling and retries see no difference).
    await _create(db, DIAMOND)
    by_pk = compiled.Compiled(sa.select(tables.tasks).where(tables.tasks.c.pk == sa.bindparam("pk")))
    claim = await _claim(db)
    assert claim is not None
    async with db.read() as conn:
        expected = (await conn.execute(sa.select(tables.tasks).where(tables.tasks.c.pk == claim.task.pk))).one()
        direct = await compiled.fetch(conn, by_pk, {"pk": claim.task.pk})

        async def switched(c: AsyncConnection) -> list[tuple[object, ...]]:
            return await compiled.fetch(c, by_pk, {"pk": claim.task.pk})

        in_switch = await database.in_one_switch(conn, switched)
    assert direct == in_switch == [tuple(expected)]
    task = records.TaskRecord.from_columns(direct[0])
    assert task.started_at is not None
    assert task.started_at.utcoffset() == timedelta(0)
    assert task.lease_token == claim.lease_token
    assert isinstance(task.verify, list)
    orphan = event_store.NewEvent("no-such-run", "task_ready")
    with pytest.raises(sa.exc.IntegrityError):
        async with db.transaction() as conn:
            await event_store.create_events(conn, [orphan])

    async def orphans(c: AsyncConnection) -> None:
        await event_store.create_events(c, [orphan, orphan])

    async def in_switch_failing() -> None:
        async with db.transaction() as conn:
            await database.in_one_switch(conn, orphans)

    with pytest.raises(sa.exc.IntegrityError):
        await in_switch_failing()
    # Nothing of the failed transactions stayed, and the connections still work.
    async with db.read() as conn:
        assert await event_store.read_event_log(conn, after_id=0, run_ids=["no-such-run"]) == []


async def test_many_rows_are_inserted_at_once_in_order_with_their_json_nulls_and_timestamps(db: Database) -> None:
    # Tasks and events are inserted by RowsInsert: one unnest statement on PostgreSQL. Read back, they
    # must be what each row said, in the given order, JSON and nulls intact.
    tasks = tuple(
        plans.TaskSpec(
            id=f"t{i}",
            title=f"task {i} — “quoted”",
            options={"nested": {"list": [i, None, "x"]}, "unicode": "é"} if i % 2 else {},
            verify=(f"echo {i}",),
            budget_usd=None if i % 3 else 1.5,
            not_before=utcnow() + timedelta(hours=i) if i == 4 else None,
        )
        for i in range(7)
    )
    await _create(db, plans.Plan(name="many", tasks=tasks))
    payloads = [{"n": i, "text": "a'b\"c", "none": None} for i in range(5)]
    async with db.transaction() as conn:
        await event_store.create_events(
            conn, [event_store.NewEvent("r1", "probe", p, f"t{i}") for i, p in enumerate(payloads)]
        )
    async with db.read() as conn:
        stored = await task_store.read_tasks(conn, "r1")
        events = [e for e in await event_store.read_events(conn, "r1") if e.type == "probe"]
    assert [t.id for t in stored] == [t.id for t in tasks]
    for spec, task in zip(tasks, stored, strict=True):
        assert (task.title, task.options, task.verify, task.budget_usd) == (
            spec.title,
            dict(spec.options),
            list(spec.verify),
            spec.budget_usd,
        )
        assert task.not_before == spec.not_before
    assert [e.payload for e in events] == payloads
    assert [e.task_id for e in events] == [f"t{i}" for i in range(5)]
    assert [e.id for e in events] == sorted(e.id for e in events)


async def test_completion_is_fenced_by_the_lease_token(db: Database) -> None:
    await _create(db, DIAMOND)
    claim = await _claim(db)
    assert claim is not None
    zombie = Claim(task=claim.task, attempt_id=claim.attempt_id, attempt_number=1, lease_token="not-the-token")
    async with db.transaction() as conn:
        with pytest.raises(LeaseLost):
            await task_store.complete_task(conn, zombie, commit_sha="bad", now=utcnow())
    async with db.transaction() as conn:
        with pytest.raises(LeaseLost):
            await task_store.renew_lease(conn, zombie, lease_s=30, now=utcnow())
    assert (await _statuses(db))["a"] is TaskStatus.RUNNING


async def test_failure_blocks_every_dependant_and_ends_the_run_failed(db: Database) -> None:
    await _create(db, DIAMOND)
    a = await _claim(db)
    assert a is not None
    async with db.transaction() as conn:
        blocked = await task_store.fail_task(conn, a, error="boom", retry_at=None, now=utcnow())
        assert await run_store.finish_run_if_done(conn, "r1") is RunStatus.FAILED
    assert blocked == ["b", "c", "d", "e"]
    assert set((await _statuses(db)).values()) == {TaskStatus.FAILED, TaskStatus.BLOCKED}
    async with db.read() as conn:
        tasks = await task_store.read_tasks(conn, "r1")
        attempts = await task_store.read_attempts(conn, tasks[0].pk)
    assert tasks[1].error == "dependency 'a' failed"
    assert [(x.status, x.error) for x in attempts] == [(AttemptStatus.FAILED, "boom")]


async def test_retry_waits_until_not_before(db: Database) -> None:
    await _create(db, _plan(("a", (), 0)))
    first = await _claim(db)
    assert first is not None
    async with db.transaction() as conn:
        await task_store.fail_task(conn, first, error="flaky", retry_at=utcnow() + timedelta(hours=1), now=utcnow())
    assert await _claim(db) is None
    async with db.transaction() as conn:
        later = await task_store.claim_task(
            conn, dialect=db.dialect, worker_id="w", lease_s=30, now=utcnow() + timedelta(hours=2)
        )
    assert later is not None
    assert later.attempt_number == 2
    assert later.task.failures == 1


async def test_expired_leases_are_reaped_and_the_attempt_kept(db: Database) -> None:
    await _create(db, _plan(("a", (), 0)))
    claim = await _claim(db, worker="dead", lease_s=0.001)
    assert claim is not None
    async with db.transaction() as conn:
        expired = await task_store.reap_expired(conn, now=utcnow() + timedelta(seconds=1))
    assert [(e.task_id, e.worker_id) for e in expired] == [("a", "dead")]
    second = await _claim(db, worker="alive")
    assert second is not None
    assert second.attempt_number == 2
    async with db.transaction() as conn:
        with pytest.raises(LeaseLost):  # the dead worker's late completion is fenced off
            await task_store.complete_task(conn, claim, commit_sha="late", now=utcnow())
        await task_store.complete_task(conn, second, commit_sha="ok", now=utcnow())
        assert await run_store.finish_run_if_done(conn, "r1") is RunStatus.SUCCEEDED
        attempts = await task_store.read_attempts(conn, second.task.pk)
    assert [(x.number, x.status, x.worker_id) for x in attempts] == [
        (1, AttemptStatus.EXPIRED, "dead"),
        (2, AttemptStatus.SUCCEEDED, "alive"),
    ]


async def test_a_group_with_a_zombie_and_the_newer_attempt_of_one_task_keeps_only_the_newer(db: Database) -> None:
    # A worker whose outcome waited past its lease, and the attempt that reclaimed the task, can finish
    # at the same moment and be recorded in one group: only the lease holder's outcome counts.
    await _create(db, _plan(("a", (), 0), ("b", ("a",), 0)))
    zombie = await _claim(db, worker="slow", lease_s=0.001)
    assert zombie is not None
    async with db.transaction() as conn:
        await task_store.reap_expired(conn, now=utcnow() + timedelta(seconds=1))
    newer = await _claim(db, worker="alive")
    assert newer is not None
    assert newer.task.pk == zombie.task.pk
    async with db.transaction() as conn:
        held, ready = await task_store.complete_tasks(conn, [(zombie, "late"), (newer, "ok")], now=utcnow())
    assert [c.attempt_id for c in held] == [newer.attempt_id]
    assert ready == [("r1", "b")]
    async with db.read() as conn:
        attempts = await task_store.read_attempts(conn, newer.task.pk)
    assert [(x.number, x.status, x.commit_sha) for x in attempts] == [
        (1, AttemptStatus.EXPIRED, None),
        (2, AttemptStatus.SUCCEEDED, "ok"),
    ]


async def test_paused_runs_are_not_claimed_and_claims_can_be_scoped_to_a_run(db: Database) -> None:
    await _create(db, _plan(("a", (), 0)), run_id="r1")
    await _create(db, _plan(("a", (), 0)), run_id="r2")
    async with db.transaction() as conn:
        assert await run_store.update_run_status(conn, "r1", RunStatus.PAUSED, allowed_from=[RunStatus.RUNNING])
    assert await _claim(db, run_id="r1") is None
    claim = await _claim(db)
    assert claim is not None
    assert claim.task.run_id == "r2"


async def test_events_are_appended_in_order_and_read_after_an_id(db: Database) -> None:
    await _create(db, _plan(("a", (), 0)))
    async with db.transaction() as conn:
        await event_store.create_events(
            conn,
            [event_store.NewEvent("r1", "x", {"n": n}, task_id="a" if n % 2 else None) for n in range(5)],
        )
    async with db.read() as conn:
        everything = await event_store.read_events(conn, "r1")
        after = await event_store.read_events(conn, "r1", after_id=everything[1].id)
        of_task = await event_store.read_events(conn, "r1", task_id="a")
    assert [e.payload["n"] for e in everything] == [0, 1, 2, 3, 4]
    assert [e.payload["n"] for e in after] == [2, 3, 4]
    assert [e.payload["n"] for e in of_task] == [1, 3]


async def test_a_claim_appends_the_events_it_is_given_in_order_whether_or_not_it_claims(db: Database) -> None:
    # A group of outcomes hands its events to the claim of its slots' next tasks (on PostgreSQL one statement
    # does both); with nothing to claim, or under limits (claimed through SQLAlchemy), they are appended too.
    await _create(db, _plan(("a", (), 0), ("b", ("a",), 0)))
    new = [event_store.NewEvent("r1", "x", {"n": n}, task_id="a" if n % 2 else None) for n in range(5)]

    async def claim(
        events: list[event_store.NewEvent], count: int = 1, limits: dict[str, int] | None = None
    ) -> list[Claim]:
        async with db.transaction() as conn:
            return await task_store.claim_tasks(
                conn,
                dialect=db.dialect,
                worker_id="w1",
                lease_s=30,
                now=utcnow(),
                events=events,
                count=count,
                limits=limits,
            )

    assert [c.task.id for c in await claim(new[:2], count=2)] == ["a"]
    assert await claim(new[2:3]) == []  # b waits for a
    assert await claim(new[3:], limits={"global": 5}) == []

    async def claim_then_fail() -> None:
        async with db.transaction() as conn:
            await task_store.claim_tasks(conn, dialect=db.dialect, worker_id="w1", lease_s=30, now=utcnow(), events=new)
            raise RuntimeError("after the claim")

    with pytest.raises(RuntimeError):  # a transaction that fails keeps neither the claim nor the events
        await claim_then_fail()
    async with db.read() as conn:
        logged = await event_store.read_events(conn, "r1")
    assert [(e.type, e.payload["n"], e.task_id) for e in logged] == [("x", n, "a" if n % 2 else None) for n in range(5)]
    assert await _statuses(db) == {"a": TaskStatus.RUNNING, "b": TaskStatus.PENDING}


async def test_the_last_two_tasks_finishing_at_once_end_the_run_exactly_once(db: Database) -> None:
    await _create(db, _plan(("a", (), 0), ("b", (), 0)))
    first, second = await _claim(db), await _claim(db)
    assert first is not None
    assert second is not None
    both_open = asyncio.Barrier(2)

    async def finish(claim: Claim) -> tuple[RunStatus | None, RunStatus | None]:
        async with db.transaction() as conn:
            if db.dialect == "postgresql":  # (SQLite's writers are serial: the second would wait forever)
                await both_open.wait()  # both transactions are open before either writes
            await task_store.complete_task(conn, claim, commit_sha=None, now=utcnow())
            inside = await run_store.finish_run_if_done(conn, "r1")
        async with db.transaction() as conn:  # the engine's look after its commit
            after = await run_store.finish_run_if_done(conn, "r1")
        return inside, after

    outcomes = [o for pair in await asyncio.gather(finish(first), finish(second)) for o in pair]
    assert outcomes.count(RunStatus.SUCCEEDED) == 1
    assert outcomes.count(None) == 3
    async with db.read() as conn:
        assert (await run_store.read_run(conn, "r1")).status is RunStatus.SUCCEEDED


async def _claim_limited(db: Database, limits: dict[str, int]) -> Claim | None:
    async with db.transaction() as conn:
        return await task_store.claim_task(
            conn, dialect=db.dialect, worker_id="w", lease_s=30, now=utcnow(), limits=limits
        )


async def test_tasks_over_a_runtime_limit_wait_without_blocking_others(db: Database) -> None:
    plan = plans.Plan(
        name="limits",
        tasks=(
            plans.TaskSpec(id="s1", title="s1", runtime="shell", priority=9),
            plans.TaskSpec(id="s2", title="s2", runtime="shell", priority=9),
            plans.TaskSpec(id="n1", title="n1", runtime="noop"),
        ),
    )
    await _create(db, plan)
    limits = {"runtime:shell": 1}
    first = await _claim_limited(db, limits)
    second = await _claim_limited(db, limits)
    assert first is not None
    assert second is not None
    assert (first.task.id, second.task.id) == ("s1", "n1")  # s2 waits: shell is at its limit
    assert await _claim_limited(db, limits) is None
    async with db.transaction() as conn:
        await task_store.complete_task(conn, first, commit_sha=None, now=utcnow())
    third = await _claim_limited(db, limits)
    assert third is not None
    assert third.task.id == "s2"


async def test_global_and_repository_limits(db: Database) -> None:
    await _create(db, _plan(("a", (), 0), ("b", (), 0), ("c", (), 0)))
    assert await _claim_limited(db, {"global": 1}) is not None
    assert await _claim_limited(db, {"global": 1}) is None
    assert await _claim_limited(db, {"repo:/elsewhere": 1}) is not None
    assert await _claim_limited(db, {"repo:/repo": 2}) is None


async def test_tasks_over_a_provider_key_limit_wait_while_other_keys_and_keyless_tasks_run(db: Database) -> None:
    plan = plans.Plan(
        name="keys",
        tasks=(
            plans.TaskSpec(id="a1", title="a1", priority=9),
            plans.TaskSpec(id="a2", title="a2", priority=8),
            plans.TaskSpec(id="b1", title="b1", priority=7),
            plans.TaskSpec(id="shell", title="shell"),
        ),
    )
    keys = {"a1": "TEAM_A_KEY", "a2": "TEAM_A_KEY", "b1": "TEAM_B_KEY", "shell": None}
    async with db.transaction() as conn:
        await run_store.create_run(
            conn, run_id="r1", plan=plan, repo_path="/repo", base_ref="abc", integration_branch="qd", provider_keys=keys
        )
    limits = {"key:TEAM_A_KEY": 1, "key:TEAM_B_KEY": 1}
    claimed = [await _claim_limited(db, limits) for _ in range(4)]
    assert [c.task.id if c else None for c in claimed] == ["a1", "b1", "shell", None]  # a2 waits for a1's key
    first = claimed[0]
    assert first is not None
    assert first.task.provider_key == "TEAM_A_KEY"
    async with db.transaction() as conn:
        await task_store.complete_task(conn, first, commit_sha=None, now=utcnow())
    after = await _claim_limited(db, limits)
    assert after is not None
    assert after.task.id == "a2"


async def test_delayed_tasks_are_not_claimed_before_not_before(db: Database) -> None:
    later = utcnow() + timedelta(hours=1)
    plan = plans.Plan(
        name="delayed",
        tasks=(plans.TaskSpec(id="later", title="L", not_before=later), plans.TaskSpec(id="now", title="N")),
    )
    await _create(db, plan)
    first = await _claim(db)
    assert first is not None
    assert first.task.id == "now"
    assert await _claim(db) is None
    async with db.transaction() as conn:
        due = await task_store.claim_task(
            conn, dialect=db.dialect, worker_id="w", lease_s=30, now=later + timedelta(seconds=1)
        )
    assert due is not None
    assert due.task.id == "later"


async def test_tasks_added_by_a_replan_rank_in_the_place_of_the_task_they_replace(db: Database) -> None:
    await _create(db, plans.Plan(name="replan", tasks=(_timed("old", 2), _timed("next", 1, "old"))))
    async with db.transaction() as conn:
        target = await task_store.read_task(conn, "r1", "old")
        await crew_store.create_tasks(
            conn,
            "r1",
            [_timed("new", 5), _timed("newer", None)],
            priority=target.priority,
            path_length=target.path_length,
            path_estimate_ms=target.path_estimate_ms,
        )
        rows = await task_store.read_tasks(conn, "r1")
    added = {t.id: (t.estimate_s, t.path_length, t.path_estimate_ms) for t in rows}
    assert added["new"] == (5.0, 2, 3000)
    assert added["newer"] == (None, 2, 3000)
