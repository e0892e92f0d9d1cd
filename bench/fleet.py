"""Benchmark: what naming the repository by URL costs per task, against the same plan on a local path.

The same plan — N independent shell tasks, each writing a file of its own (a worktree, the step in the
sandbox, a commit and a landing each) — is run on SQLite by one worker with ``--slots`` slots, twice per
round: on a local repository (worked on in place), and on a bare copy of it named by a ``file://`` URL (the
worker's cache fetches the integration branch and the run's task branches before each attempt, pushes each
task's commit, and lands by compare-and-swap push). Rounds alternate the two, so machine load hits both alike.
Figures: wall seconds per run and milliseconds per task (mean of ``--rounds``), and the URL/local ratio.

    .venv/bin/python bench/fleet.py [--tasks N] [--slots N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.settings import Settings

__all__ = ["main"]


def _git(cwd: Path, *args: str) -> None:
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run(["git", *ident, *args], cwd=cwd, check=True, capture_output=True)


def _plan(n: int) -> plans.Plan:
    tasks = tuple(
        plans.TaskSpec(id=f"t{i}", title=f"t{i}", runtime="shell", options={"script": f"echo {i} > t{i}.txt"})
        for i in range(n)
    )
    return plans.Plan(name="fleet-bench", tasks=tasks)


async def _once(where: Path, repo: Path | str, tasks: int, slots: int) -> float:
    settings = Settings(state_dir=where / "state", worktree_root=where / "wt", poll_max_s=0.05)
    async with Quarterdeck(settings) as app:
        began = time.perf_counter()
        record = await app.submit(_plan(tasks), repo=repo)
        view = await app.run_until_done(record.id, worker=app.worker(slots=slots), tick_s=0.02)
        elapsed = time.perf_counter() - began
    if view.run.status is not RunStatus.SUCCEEDED:
        raise SystemExit(f"the run on {repo} ended {view.run.status}: {[t.error for t in view.tasks if t.error]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"local path": [], "file:// URL": []}
    with tempfile.TemporaryDirectory(prefix="qd-bench-fleet-") as tmp:
        base = Path(tmp)
        for n in range(args.rounds):
            source = base / f"source-{n}"
            source.mkdir()
            _git(source, "init", "--quiet", "--initial-branch=main")
            (source / "README.md").write_text("# bench\n")
            _git(source, "add", "README.md")
            _git(source, "commit", "--quiet", "-m", "initial")
            bare = base / f"remote-{n}.git"
            _git(base, "clone", "--quiet", "--bare", str(source), str(bare))
            order = [("local path", source), ("file:// URL", f"file://{bare}")]
            for label, repo in order if n % 2 == 0 else reversed(order):
                times[label].append(asyncio.run(_once(base / f"{label[:5]}-{n}", repo, args.tasks, args.slots)))
    load = os.getloadavg()
    print(f"{args.tasks} independent shell tasks, {args.slots} slots, SQLite, {args.rounds} rounds")
    print(f"load average at the end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
    print(f"  {'repository':<14}{'wall s (mean)':>15}{'min':>8}{'max':>8}{'ms/task':>10}")
    for label, values in times.items():
        mean = statistics.mean(values)
        per = 1000 * mean / args.tasks
        print(f"  {label:<14}{mean:>15.2f}{min(values):>8.2f}{max(values):>8.2f}{per:>10.0f}")
    ratio = statistics.mean(times["file:// URL"]) / statistics.mean(times["local path"])
    print(f"  URL / local: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
