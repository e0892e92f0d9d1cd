"""saq peer: the three workloads as Redis jobs run by an in-process saq worker of concurrency ``--slots``.

independent: N jobs enqueued at once; chain: each step enqueues the next from within the job; fan-out:
the root enqueues N leaves, each leaf bumps a Redis counter, and the leaf that brings it to N enqueues
the join. Jobs are async no-ops; the worker blocks on Redis (``BLMOVE``), so a job is picked up as soon
as it is queued. The clock starts before the first enqueue and stops when the last job's body has run
and saq has recorded every job's end (nothing ``incomplete``). Every key lives under a queue name of
its own (``saq:qd-bench-<hex>:…``, ``saq:job:qd-bench-<hex>:…``) and is deleted at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import Any

from peer_common import emit, parse_args, skip

TIMEOUT_S = 180.0


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

    async def wait(self, queue: Any) -> None:
        """Until the last body ran, then until the worker has recorded every job's end."""
        await asyncio.wait_for(self.event.wait(), TIMEOUT_S)
        while True:
            if not await queue.count("incomplete"):
                return
            await asyncio.sleep(0.001)


async def bench(args: Any) -> None:
    from saq import Queue, Worker

    name = f"qd-bench-{secrets.token_hex(4)}"
    queue = Queue.from_url(args.redis_url, name=name)
    finish = Finish()
    counter = f"saq:{name}:bench-counter"

    async def noop(ctx: dict[str, Any]) -> None:
        finish.one_done()

    async def step(ctx: dict[str, Any], *, remaining: int) -> None:
        if remaining > 1:
            await queue.enqueue("step", remaining=remaining - 1)
        finish.one_done()

    async def root(ctx: dict[str, Any], *, n: int) -> None:
        await queue.redis.set(counter, 0)
        await asyncio.gather(*(queue.enqueue("leaf", n=n) for _ in range(n)))
        finish.one_done()

    async def leaf(ctx: dict[str, Any], *, n: int) -> None:
        if await queue.redis.incr(counter) == n:
            await queue.enqueue("noop")
        finish.one_done()

    await queue.connect()
    functions = [("noop", noop), ("step", step), ("root", root), ("leaf", leaf)]
    worker = Worker(queue, functions=functions, concurrency=args.slots)
    running = asyncio.create_task(worker.start())
    try:
        finish.expect(20)  # warm-up: the worker is up, its connections open
        await asyncio.gather(*(queue.enqueue("noop") for _ in range(20)))
        await finish.wait(queue)

        n = args.independent
        finish.expect(n)
        start = time.perf_counter()
        await asyncio.gather(*(queue.enqueue("noop") for _ in range(n)))
        await finish.wait(queue)
        emit("redis", "independent", n, time.perf_counter() - start)

        n = args.chain
        finish.expect(n)
        start = time.perf_counter()
        await queue.enqueue("step", remaining=n)
        await finish.wait(queue)
        emit("redis", "chain", n, time.perf_counter() - start)

        n = args.fanout
        finish.expect(n + 2)
        start = time.perf_counter()
        await queue.enqueue("root", n=n)
        await finish.wait(queue)
        emit("redis", "fanout", n, time.perf_counter() - start)
    finally:
        await worker.stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        redis = queue.redis
        for pattern in (f"saq:{name}:*", f"saq:job:{name}:*"):
            async for key in redis.scan_iter(match=pattern, count=1000):
                await redis.delete(key)
        await queue.disconnect()


def main() -> None:
    args = parse_args(__doc__ or "")
    try:
        import saq  # noqa: F401
    except ImportError:
        skip("saq is not installed (bench/peers/requirements.txt)")
        return
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
