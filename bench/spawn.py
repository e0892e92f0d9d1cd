"""Benchmark: how long starting processes stalls an event loop, by loop and by the size of the process.

Issue 26 measured 660-750 ms of stalled loop when 50 tasks started in ``quarterdeck serve`` (uvloop, a
~150 MB process): libuv's ``uv_spawn`` forks, and ``fork`` copies the page tables of the whole process
on the loop's thread. CPython's own ``subprocess`` (the standard asyncio loop, which ``quarterdeck
worker`` runs on) uses ``vfork`` where it can, whose cost does not grow with the process. This starts
``--n`` ``git --version`` processes at once, as 50 starting tasks do, in a process holding ``--mb`` MB
of live Python objects, and prints the longest stall of a 1 ms ticker on the same loop and the wall
time until all have exited.

    .venv/bin/python bench/spawn.py [--n 50] [--mb 0,150] [--rounds 3]

Figures (2026-12-07, load average 16.5: the 2-core machine shared with seven test suites; best / worst of
3 rounds, ms):

    loop     RSS MB   stall (best)  stall (worst)
    asyncio      21          190          505
    uvloop       23          544          828
    asyncio     184          296          429
    uvloop      186         1792         3242

So ``quarterdeck serve`` runs its workers as ``quarterdeck worker`` processes on the standard loop:
starting 50 tasks' processes stalls the worker's loop 6× less than uvloop would at that size, and the
API's loop (uvloop, answering requests) not at all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path


async def _round(n: int) -> tuple[float, float]:
    """(longest tick stall ms, wall ms) for ``n`` concurrent spawns."""
    stalls: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)  # the probe: how late a 1 ms timer fires
            stalls.append((time.perf_counter() - before) * 1000 - 1)

    probe = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    started = time.perf_counter()

    async def one() -> None:
        proc = await asyncio.create_subprocess_exec(
            "git", "--version", stdout=asyncio.subprocess.DEVNULL, start_new_session=True
        )
        await proc.wait()

    await asyncio.gather(*(one() for _ in range(n)))
    wall = (time.perf_counter() - started) * 1000
    stop.set()
    await probe
    return max(stalls), wall


def child(loop: str, mb: int, n: int, rounds: int) -> None:
    ballast = [bytearray(1024) for _ in range(mb * 1024)]  # live heap pages, as a big server has
    runner = asyncio.run
    if loop == "uvloop":
        import uvloop

        runner = uvloop.run
    results = [runner(_round(n)) for _ in range(rounds)]
    rss = int(Path(f"/proc/{os.getpid()}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    best = min(results)
    print(f"  {loop:<8}{rss:>8.0f}{best[0]:>14.1f}{max(r[0] for r in results):>12.1f}{best[1]:>10.0f}")
    del ballast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--mb", default="0,150")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.n, args.rounds)
        return
    print(f"{args.n} concurrent `git --version` spawns, {args.rounds} rounds; load average {os.getloadavg()[0]:.2f}")
    print(f"  {'loop':<8}{'RSS MB':>8}{'stall ms min':>14}{'stall max':>12}{'wall ms':>10}")
    for mb in (int(m) for m in args.mb.split(",")):
        for loop in ("asyncio", "uvloop"):
            command = [
                sys.executable,
                __file__,
                "--n",
                str(args.n),
                "--rounds",
                str(args.rounds),
                "--child",
                loop,
                str(mb),
            ]
            subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
