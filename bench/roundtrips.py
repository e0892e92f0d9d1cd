"""Benchmark aid: the PostgreSQL round trips of Quarterdeck's no-op workloads, per task, by statement.

Runs ``bench/engine.py``'s no-op workloads on a fresh database of the local PostgreSQL (one 4-slot worker,
as there) with asyncpg's query logger (its public ``Connection.add_query_logger``) on every connection
the store opens, and prints, per workload, each kind of statement the process sent (BEGIN, COMMIT, the
hot statements by their first words) with how many per task and their summed time on the client (from
sending to the answer, as asyncpg times it). Round trips per task do not depend on the machine's load;
their times do.

    .venv/bin/python bench/roundtrips.py [--workload chain|independent|fanout|all] [--n N] [--pg-url URL]
                                         [--rounds R] [--async-commit]

``--async-commit`` runs the bench database with ``synchronous_commit = off`` (``ALTER DATABASE`` on the
fresh database alone): a commit then does not wait for the WAL flush, whose time on a shared machine moves
with other processes' disk writes by more than the round trips cost, so A/B runs of the statements show.
(Quarterdeck itself never changes it: every figure of ``bench/engine.py`` is durable.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import re
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import Pool

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine

from quarterdeck.app import Quarterdeck
from quarterdeck.settings import Settings

__all__ = ["main"]

UNITS = {"independent": "tasks/s", "chain": "ms/step", "fanout": "wall s"}


@functools.cache
def kind(query: str) -> str:
    """A short name for a statement: its first words, and the CTEs it names."""
    text = " ".join(query.split())
    ctes = re.findall(r"(?:WITH|,)\s+(\w+)(?:\([^)]*\))?\s+AS\s+\(", text, flags=re.IGNORECASE)
    head = " ".join(re.sub(r"WITH .*?\)\s*(SELECT|UPDATE|INSERT)", r"\1", text, count=1).split()[:3])
    return f"{head[:48]}" + (f" [ctes: {','.join(ctes)}]" if ctes else "")


class Log:
    """Every statement sent while ``on`` is set: how many of each kind and their summed elapsed time."""

    def __init__(self) -> None:
        self.on = False
        self.count: dict[str, int] = defaultdict(int)
        self.elapsed: dict[str, float] = defaultdict(float)

    def __call__(self, record: Any) -> None:
        if not self.on:
            return
        name = kind(record.query)
        self.count[name] += 1
        self.elapsed[name] += record.elapsed

    def reset(self) -> None:
        self.count.clear()
        self.elapsed.clear()

    def print(self, title: str, tasks: int, wall_s: float) -> None:
        total = sum(self.count.values())
        spent = sum(self.elapsed.values())
        print(f"\n{title}: {tasks} tasks, wall {wall_s:.3f} s ({wall_s * 1000 / tasks:.3f} ms per task)")
        print(f"  round trips per task {total / tasks:6.2f}, their time per task {spent * 1000 / tasks:.3f} ms")
        for name in sorted(self.count, key=lambda n: -self.count[n]):
            print(f"  {self.count[name] / tasks:6.2f} × {self.elapsed[name] * 1e6 / self.count[name]:7.0f} µs  {name}")


async def measure(workloads: list[str], n: int, pg_url: str, rounds: int, async_commit: bool) -> None:
    log = Log()

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None:
            driver.add_query_logger(log)

    event.listen(Pool, "connect", on_connect)
    with tempfile.TemporaryDirectory(prefix="qd-rt-") as tmp:
        root = Path(tmp)
        repo = engine.make_repo(root)
        async with contextlib.AsyncExitStack() as stack:
            url = await stack.enter_async_context(engine.postgres_database(pg_url))
            if async_commit:
                import asyncpg

                name = make_url(url).database
                admin = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
                try:
                    await admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
                finally:
                    await admin.close()
            settings = Settings(database_url=url, state_dir=root / "state", poll_max_s=0.5)
            app = await stack.enter_async_context(Quarterdeck(settings))
            await engine.qd_workload(app, repo, "independent", 20, "postgresql")  # warm-up
            figures: dict[str, list[float]] = defaultdict(list)
            for _ in range(rounds):
                for workload in workloads:
                    log.reset()
                    log.on = True
                    size = n if n else engine.FULL.of(workload)
                    result = await engine.qd_workload(app, repo, workload, size, "postgresql")
                    log.on = False
                    await asyncio.sleep(0.05)  # the logger's last callbacks (scheduled with call_soon)
                    log.print(workload, result.n + (2 if workload == "fanout" else 0), result.wall_s)
                    figures[workload].append(result.figure)
            if rounds > 1:
                print()
                for workload, values in figures.items():
                    shown = ", ".join(f"{v:.3f}" for v in values)
                    print(f"{workload} ({UNITS[workload]}): median {statistics.median(values):.3f} of {shown}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", choices=(*engine.WORKLOADS, "all"), default="chain")
    parser.add_argument("--n", type=int, default=0, help="tasks (default: bench/engine.py's full sizes)")
    parser.add_argument("--pg-url", default=engine.PG_URL)
    parser.add_argument("--rounds", type=int, default=1, help="run the workloads this many times (medians printed)")
    parser.add_argument("--async-commit", action="store_true", help="the bench database without WAL flush waits")
    args = parser.parse_args(argv)
    workloads = list(engine.WORKLOADS) if args.workload == "all" else [args.workload]
    asyncio.run(measure(workloads, args.n, args.pg_url, args.rounds, args.async_commit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
