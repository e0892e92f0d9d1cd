"""Benchmark: 50 tasks' worktrees made at once, and removed at once (what ``bench/load.py``'s run does at its
start and end), with the engine's own functions on a small repository; it counts the git processes too.

One process, the standard event loop (as ``quarterdeck worker``); ``--src`` imports another checkout's
quarterdeck (A/B back to back in one invocation: ``--src /tmp/base/src --src src``), ``--rounds`` alternates them.
Prints per variant: wall seconds to create all (and the last one ready), to remove all, and git processes
started per task, for create and for remove.

    .venv/bin/python bench/worktrees_burst.py [--tasks 50] [--pool 4] [--rounds 3] [--src DIR ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _child(src: str, tasks: int, pool_size: int) -> dict[str, float]:
    sys.path.insert(0, src)
    import asyncio

    from quarterdeck.workspaces import git as git_mod
    from quarterdeck.workspaces import worktrees

    spawned = [0]
    real = asyncio.create_subprocess_exec

    async def counting(*args: object, **kwargs: object) -> asyncio.subprocess.Process:
        spawned[0] += 1
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    git_mod.asyncio.create_subprocess_exec = counting  # type: ignore[attr-defined]

    def make_repo(tmp: str) -> tuple[Path, str]:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        ident = ["-c", "user.name=b", "-c", "user.email=b@b"]
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
        for i in range(20):
            (repo / f"f{i}.txt").write_text(f"{i}\n")
        subprocess.run(["git", *ident, "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", *ident, "commit", "-qm", "init"], cwd=repo, check=True)
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True)
        return repo, head.stdout.strip()

    async def main(tmp: str, repo: Path, base: str) -> dict[str, float]:
        root = Path(tmp) / "wt"
        spawned[0] = 0
        started = time.perf_counter()
        ready: list[float] = []

        async def make(i: int) -> worktrees.Workspace:
            ws = await worktrees.create_worktree(repo, root, "r1", f"t{i:03d}", 1, base)
            ready.append(time.perf_counter() - started)
            return ws

        made = await asyncio.gather(*(make(i) for i in range(tasks)))
        create_s, create_git = time.perf_counter() - started, spawned[0]
        spawned[0] = 0
        started = time.perf_counter()
        await asyncio.gather(*(worktrees.remove_worktree(repo, ws.path, pool_size=pool_size) for ws in made))
        return {
            "create_s": create_s,
            "first_ready_s": min(ready),
            "remove_s": time.perf_counter() - started,
            "create_git": create_git / tasks,
            "remove_git": spawned[0] / tasks,
        }

    with tempfile.TemporaryDirectory(prefix="qd-bench-wt-") as tmp:
        repo, base = make_repo(tmp)
        return asyncio.run(main(tmp, repo, base))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--pool", type=int, default=4, help="worktree pool size (QUARTERDECK_WORKTREE_POOL)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", action="append", default=[], help="a checkout's src/ (repeat for A/B)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.tasks, args.pool)))
        return
    sources = args.src or [str(Path(__file__).resolve().parents[1] / "src")]
    print(f"{args.tasks} worktrees at once, pool {args.pool}; load average {os.getloadavg()[0]:.2f}")
    for _ in range(args.rounds):
        for src in sources:
            out = subprocess.run(
                [sys.executable, __file__, "--child", src, "--tasks", str(args.tasks), "--pool", str(args.pool)],
                check=True,
                capture_output=True,
                text=True,
            )
            r = json.loads(out.stdout)
            print(
                f"  {src:<28} create all {r['create_s']:6.2f} s (first {r['first_ready_s']:5.2f} s), "
                f"{r['create_git']:.1f} git/task; remove all {r['remove_s']:6.2f} s, {r['remove_git']:.1f} git/task; "
                f"load {os.getloadavg()[0]:.2f}"
            )


if __name__ == "__main__":
    main()
