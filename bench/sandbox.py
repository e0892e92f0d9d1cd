"""Benchmark: what the sandbox adds to each step an attempt starts, and to a task end to end.

Two measurements, each alternating confined and unconfined runs in one invocation (so the machine's load
hits both alike), median and mean of ``--runs``:

- **per process**: ``process.run_process(["true"])`` in a worktree, unconfined, then confined with network
  ``none`` (bubblewrap, the step's cgroup, rlimits), ``providers`` (plus the egress proxy and the
  in-sandbox forwarder) and ``open``; the figure is the added milliseconds per process;
- **per task**: runs of ``--tasks`` ``shell`` tasks (``true``, a verify command ``true``: two processes per
  attempt) through the engine on SQLite, with ``QUARTERDECK_SANDBOX=off`` and on; the figure is the added
  milliseconds per attempt (worktree, agent step, verify, commit, landing all included in both).

Target (issue 22): under 50 ms per attempt. The engine benchmark's ``noop`` tasks have no worktree and start
no process: the sandbox is not consulted for them (``bench/engine.py`` is unchanged by it).

    .venv/bin/python bench/sandbox.py [--runs N] [--tasks N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from quarterdeck import sandbox
from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.runtimes import process
from quarterdeck.sandbox.policy import Network, Policy
from quarterdeck.settings import Settings


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.1f} ms, mean {statistics.mean(samples) * 1000:7.1f} ms"


async def _timed(step: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await step()
    return time.perf_counter() - start


async def per_process(runs: int, workdir: Path) -> None:
    env = process.base_env()
    modes: dict[str, Policy | None] = {
        "unconfined": None,
        "none": Policy(network=Network.NONE),
        "providers": Policy(network=Network.PROVIDERS, allow_hosts=("127.0.0.1:9",)),
        "open": Policy(network=Network.OPEN),
    }
    samples: dict[str, list[float]] = {name: [] for name in modes}

    async def once(policy: Policy | None) -> None:
        confinement = None if policy is None else sandbox.Confinement(policy=policy, rw=(workdir,))
        with sandbox.confine(confinement):
            result = await process.run_process(["true"], cwd=workdir, env=env, timeout_s=30)
        assert result.returncode == 0, result.output

    for policy in modes.values():  # warm-up: the probe, caches
        await once(policy)
    for _ in range(runs):
        for name, policy in modes.items():
            samples[name].append(await _timed(lambda p=policy: once(p)))
    base = statistics.median(samples["unconfined"])
    print("per process (`true`):")
    for name, values in samples.items():
        added = "" if name == "unconfined" else f"  (+{(statistics.median(values) - base) * 1000:.1f} ms)"
        print(f"  {name:<11} {_ms(values)}{added}")


def _repo(path: Path) -> Path:
    path.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return path


async def per_task(runs: int, tasks: int, root: Path) -> None:
    repo = _repo(root / "repo")
    settings = Settings(state_dir=root / "state", worktree_pool=4)
    plan = plans.Plan(
        name="bench",
        tasks=tuple(
            plans.TaskSpec(
                id=f"t{n}",
                title=f"t{n}",
                runtime="shell",
                options={"argv": ["true"]},
                verify=("true",),
                allow_empty=True,
            )
            for n in range(tasks)
        ),
    )
    samples: dict[str, list[float]] = {"off": [], "on": []}
    async with Quarterdeck(settings) as app:

        async def run(mode: str) -> None:
            os.environ["QUARTERDECK_SANDBOX"] = mode
            record = await app.submit(plan, repo=repo)
            view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.01)
            failed = [(t.id, t.error) for t in view.tasks if t.error]
            assert not failed, failed

        await run("on")  # warm-up
        for _ in range(runs):
            for mode in ("off", "on"):
                samples[mode].append(await _timed(lambda m=mode: run(m)) / tasks)
    os.environ.pop("QUARTERDECK_SANDBOX", None)
    added = (statistics.median(samples["on"]) - statistics.median(samples["off"])) * 1000
    print(f"per task (shell step + verify, {tasks} tasks per run, 1 slot, SQLite):")
    print(f"  sandbox off {_ms(samples['off'])}")
    print(f"  sandbox on  {_ms(samples['on'])}  (+{added:.1f} ms per attempt)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=10)
    args = parser.parse_args()
    available = sandbox.availability()
    if not available.ok:
        raise SystemExit(f"the sandbox cannot run here: {available.reason}")
    print(f"sandbox: {available.describe()}")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="qd-bench-sandbox-") as tmp:
        workdir = Path(tmp) / "wt"
        workdir.mkdir()
        await per_process(args.runs, workdir)
        await per_task(max(1, args.runs // 4), args.tasks, Path(tmp))
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
