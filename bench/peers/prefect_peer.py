"""Prefect 3 peer: the three workloads as flows of no-op tasks on a 4-thread task runner.

Prefect runs on its default local backend: no ``PREFECT_API_URL``, so it starts its ephemeral
server on a SQLite database under ``PREFECT_HOME``, which is a temporary directory here so the
user's ``~/.prefect`` is never touched. independent: N ``.submit()`` then wait; chain: each
``.submit(wait_for=[previous])``; fan-out: root, N leaves ``wait_for=[root]``, a join
``wait_for=leaves``. The clock runs around the flow call.

Each workload runs in a fresh process with a fresh server and database: the ephemeral server
records task runs from an event stream after the flow returned, and a flow that follows a
large one runs 3-5 times slower while that backlog drains. A fresh server per workload shows
Prefect at its best.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from peer_common import emit, parse_args, skip

WORKLOADS = ("independent", "chain", "fanout")


def bench(args: Any, workload: str) -> None:
    from prefect import flow, task
    from prefect.futures import wait
    from prefect.task_runners import ThreadPoolTaskRunner

    @task
    def noop() -> None:
        """Does nothing."""

    runner = ThreadPoolTaskRunner(max_workers=args.slots)  # type: ignore[call-arg]

    @flow(task_runner=runner)
    def independent(n: int) -> None:
        wait([noop.submit() for _ in range(n)])

    @flow(task_runner=runner)
    def chain(n: int) -> None:
        future = noop.submit()
        for _ in range(n - 1):
            future = noop.submit(wait_for=[future])
        future.result()

    @flow(task_runner=runner)
    def fanout(n: int) -> None:
        root = noop.submit()
        leaves = [noop.submit(wait_for=[root]) for _ in range(n)]
        noop.submit(wait_for=leaves).result()

    flows = {"independent": independent, "chain": chain, "fanout": fanout}
    independent(20)  # warm-up: starts the ephemeral server, creates the database
    time.sleep(2.0)  # let the server record the warm-up's task runs
    n = int(getattr(args, workload))
    start = time.perf_counter()
    flows[workload](n)
    emit("sqlite", workload, n, time.perf_counter() - start)


def main() -> None:
    args = parse_args(__doc__ or "")
    if args.one is None:  # one fresh process (and server) per workload
        for workload in WORKLOADS:
            done = subprocess.run([sys.executable, __file__, *sys.argv[1:], f"--one={workload}"], check=False)
            if done.returncode != 0:
                print(f"prefect {workload} exited {done.returncode}", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory(prefix="qd-bench-prefect-", ignore_cleanup_errors=True) as home:
        os.environ["PREFECT_HOME"] = str(Path(home))
        os.environ.pop("PREFECT_API_URL", None)
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        os.environ.setdefault("DO_NOT_TRACK", "1")
        # the default 20 s is too short for the server to start on a busy 2-core machine
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
        try:
            import prefect  # noqa: F401
        except ImportError as exc:
            skip(f"prefect not installed ({exc}); pip install -e '.[bench]'")
            return
        bench(args, args.one)


if __name__ == "__main__":
    main()
