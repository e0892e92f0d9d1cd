"""Celery 5 peer: the three workloads on a 4-process prefork worker, Redis broker and result backend.

independent: ``group`` of N no-op signatures; chain: ``chain`` of N immutable signatures;
fan-out: ``chain(root, chord(N leaves, join))``. The clock starts at ``apply_async`` and stops when
``.get()`` returns the last result.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from peer_common import emit, parse_args, skip

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 180.0


@contextlib.contextmanager
def worker_process(slots: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``celery worker`` in its own process group, stopped (and its pool children with it) on exit."""
    args = [sys.executable, "-m", "celery", "-A", "celery_app", "worker", f"--concurrency={slots}"]
    args += ["--pool=prefork", "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"]
    proc = subprocess.Popen(args, cwd=HERE, env=env, start_new_session=True)
    try:
        yield proc
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(10)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # pool children that outlived their parent


def main() -> None:
    args = parse_args(__doc__ or "")
    redis_url = f"{args.redis_url.rstrip('/')}/0"
    queue = f"qd-bench-{secrets.token_hex(4)}"
    os.environ["BENCH_REDIS_URL"] = redis_url
    os.environ["BENCH_QUEUE"] = queue
    try:
        import redis
    except ImportError as exc:
        skip(f"celery/redis not installed ({exc}); pip install -e '.[bench]'")
        return
    try:
        redis.Redis.from_url(redis_url).ping()
    except redis.RedisError as exc:
        skip(f"no Redis at {redis_url}: {exc}")
        return

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    try:
        run_workloads(args, env)
    finally:
        # kombu leaves its queue bindings behind; the shared Redis keeps only what others put there
        client = redis.Redis.from_url(redis_url)
        keys = [*client.scan_iter(match=f"_kombu.binding*{queue}*"), *client.scan_iter(match=queue)]
        if keys:
            client.delete(*keys)
        client.close()


def run_workloads(args: argparse.Namespace, env: dict[str, str]) -> None:
    from celery import chain, chord, group
    from celery_app import app, join, noop

    with worker_process(args.slots, env):
        noop.si().apply_async().get(timeout=60)  # warm-up: the worker is up and the pool started
        group(noop.si() for _ in range(20)).apply_async().get(timeout=60)

        n = args.independent
        start = time.perf_counter()
        group(noop.si() for _ in range(n)).apply_async().get(timeout=TIMEOUT_S)
        emit("redis", "independent", n, time.perf_counter() - start)

        n = args.chain
        start = time.perf_counter()
        chain(noop.si() for _ in range(n)).apply_async().get(timeout=TIMEOUT_S)
        emit("redis", "chain", n, time.perf_counter() - start)

        n = args.fanout
        start = time.perf_counter()
        got = chain(noop.si(), chord((noop.si() for _ in range(n)), join.s())).apply_async().get(timeout=TIMEOUT_S)
        wall = time.perf_counter() - start
        if got != n:
            raise RuntimeError(f"the join saw {got} results, not {n}")
        emit("redis", "fanout", n, wall)
    app.close()


if __name__ == "__main__":
    main()
