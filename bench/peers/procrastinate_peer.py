"""procrastinate 3 peer: the three workloads as PostgreSQL jobs run by an in-process worker of concurrency 4.

independent: N jobs deferred in one batch; chain: each step defers the next from within the job;
fan-out: the root defers N leaves in one batch, each leaf bumps a counter row, and the leaf that
brings it to N defers the join. Jobs are async no-ops; the worker listens for NOTIFY (its default).
The clock starts before the first defer and stops when the last job's body has run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from peer_common import emit, parse_args, skip

TIMEOUT_S = 180.0
#: procrastinate's default is 5 s: a NOTIFY that arrives while the worker is fetching is cleared with the
#: fetch, so a chain step that defers its successor often waits out the whole interval (about 0.6 s a
#: step on average here). A short interval shows procrastinate at its best.
POLL_S = float(os.environ.get("BENCH_PROCRASTINATE_POLL_S", "0.05"))


@contextlib.asynccontextmanager
async def fresh_database(base_url: str) -> AsyncIterator[str]:
    """A new database on the server of ``base_url`` (a libpq URL), dropped afterwards."""
    import psycopg

    name = f"qd_bench_procrastinate_{secrets.token_hex(4)}"
    async with await psycopg.AsyncConnection.connect(base_url, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield base_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        async with await psycopg.AsyncConnection.connect(base_url, autocommit=True) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


class Finish:
    """Lets the bench know the workload's last job ran (the worker is in this process)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.remaining = 0

    def expect(self, n: int) -> None:
        self.event.clear()
        self.remaining = n

    def one_done(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self.event.set()

    async def wait(self, app: Any) -> None:
        """Until the last body ran, then until the worker has recorded every job's end."""
        await asyncio.wait_for(self.event.wait(), TIMEOUT_S)
        while True:
            row = await app.connector.execute_query_one_async(
                "SELECT count(*) AS n FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"  # type: ignore[arg-type]
            )
            if row["n"] == 0:
                return
            await asyncio.sleep(0.001)


async def bench(args: Any) -> None:
    import procrastinate

    finish = Finish()
    async with fresh_database(args.pg_url) as url:
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            await app.connector.execute_query_async(
                "CREATE TABLE bench_counter (id text PRIMARY KEY, n integer NOT NULL)"  # type: ignore[arg-type]
            )

            @app.task(name="noop")
            async def noop() -> None:
                finish.one_done()

            @app.task(name="step")
            async def step(remaining: int) -> None:
                if remaining > 1:
                    await step.defer_async(remaining=remaining - 1)
                finish.one_done()

            @app.task(name="root")
            async def root(fanout_id: str, n: int) -> None:
                await app.connector.execute_query_async(
                    "INSERT INTO bench_counter (id, n) VALUES (%(id)s, 0)",  # type: ignore[arg-type]
                    id=fanout_id,
                )
                await leaf.batch_defer_async(*({"fanout_id": fanout_id, "n": n} for _ in range(n)))
                finish.one_done()

            @app.task(name="leaf")
            async def leaf(fanout_id: str, n: int) -> None:
                row = await app.connector.execute_query_one_async(
                    "UPDATE bench_counter SET n = n + 1 WHERE id = %(id)s RETURNING n",  # type: ignore[arg-type]
                    id=fanout_id,
                )
                if row["n"] == n:
                    await noop.defer_async()
                finish.one_done()

            worker = asyncio.create_task(
                app.run_worker_async(
                    concurrency=args.slots,
                    wait=True,
                    install_signal_handlers=False,
                    fetch_job_polling_interval=POLL_S,
                )
            )
            try:
                finish.expect(20)  # warm-up: the worker is up, its pool connected
                await noop.batch_defer_async(*({} for _ in range(20)))
                await finish.wait(app)

                n = args.independent
                finish.expect(n)
                start = time.perf_counter()
                await noop.batch_defer_async(*({} for _ in range(n)))
                await finish.wait(app)
                emit("postgresql", "independent", n, time.perf_counter() - start)

                n = args.chain
                finish.expect(n)
                start = time.perf_counter()
                await step.defer_async(remaining=n)
                await finish.wait(app)
                emit("postgresql", "chain", n, time.perf_counter() - start)

                n = args.fanout
                finish.expect(n + 2)
                start = time.perf_counter()
                await root.defer_async(fanout_id="fanout", n=n)
                await finish.wait(app)
                emit("postgresql", "fanout", n, time.perf_counter() - start)
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker


def main() -> None:
    args = parse_args(__doc__ or "")
    try:
        import procrastinate  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as exc:
        skip(f"procrastinate not installed ({exc}); pip install -e '.[bench]'")
        return
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
