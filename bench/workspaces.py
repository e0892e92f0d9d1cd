"""Benchmark: a worktree per task in a big repository, and landing 50 branches through the merge train.

A repository of 20,000 files and 2,000 commits is built with ``git fast-import``; then it times
creating a task worktree (the engine's own ``create_worktree``, best and mean of 5) and landing 50
independent task branches one after another with ``merge.land`` (squash, no checks), printing the
time per landing. Goals (issue 5): under 1.5 s per worktree and under 0.5 s per clean landing.

    .venv/bin/python bench/workspaces.py [--files N] [--commits N] [--branches N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from quarterdeck.workspaces import merge, worktrees

IDENTITY = ["-c", "user.name=Bench", "-c", "user.email=bench@example.invalid"]


def git(cwd: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", *IDENTITY, *args], cwd=cwd, input=stdin, capture_output=True, check=True, env=env
    ).stdout.decode()


def build_repository(path: Path, files: int, commits: int) -> None:
    """``files`` files in 100 folders; ``commits`` commits, the first adding everything."""
    path.mkdir(parents=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    stream: list[bytes] = []
    for mark, n in enumerate(range(commits), 1):
        message = f"commit {n}".encode()
        stream.append(b"commit refs/heads/main\n")
        stream.append(f"mark :{mark}\ncommitter Bench <bench@example.invalid> {1700000000 + n} +0000\n".encode())
        stream.append(b"data %d\n%s\n" % (len(message), message))
        if n == 0:
            for i in range(files):
                body = f"file {i}\n".encode()
                stream.append(f"M 644 inline dir{i % 100}/file{i}.txt\n".encode())
                stream.append(b"data %d\n%s\n" % (len(body), body))
        else:
            i = (n * 7919) % files
            body = f"file {i} changed in {n}\n".encode()
            stream.append(f"M 644 inline dir{i % 100}/file{i}.txt\n".encode())
            stream.append(b"data %d\n%s\n" % (len(body), body))
    git(path, "fast-import", "--quiet", stdin=b"".join(stream))
    git(path, "checkout", "--quiet", "main")


async def time_worktrees(repo: Path, root: Path, runs: int) -> list[float]:
    head = await worktrees.resolve_commit(repo, "main")
    times = []
    for n in range(runs):
        start = time.perf_counter()
        ws = await worktrees.create_worktree(repo, root, "rbench", f"wt{n}", 1, head)
        times.append(time.perf_counter() - start)
        await worktrees.remove_worktree(repo, ws.path)
    return times


def make_task_commits(repo: Path, branches: int) -> list[str]:
    """One commit per task on top of main, each adding its own file (built without a worktree)."""
    head = git(repo, "rev-parse", "main").strip()
    git(repo, "branch", "integration", head)
    commits = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "PATH": "/usr/bin:/bin"}
        for n in range(branches):
            blob = git(repo, "hash-object", "-w", "--stdin", stdin=f"task {n}\n".encode()).strip()
            git(repo, "read-tree", head, env=env)
            git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},tasks/task{n}.txt", env=env)
            tree = git(repo, "write-tree", env=env).strip()
            commits.append(git(repo, "commit-tree", tree, "-p", head, "-m", f"task {n}").strip())
    return commits


async def time_landings(repo: Path, commits: list[str]) -> list[float]:
    times = []
    for commit in commits:
        start = time.perf_counter()
        result = await merge.land(repo, "integration", commit)
        times.append(time.perf_counter() - start)
        assert result.ok, result.conflicts
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--commits", type=int, default=2_000)
    parser.add_argument("--branches", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        start = time.perf_counter()
        build_repository(repo, args.files, args.commits)
        print(f"repository: {args.files} files, {args.commits} commits, built in {time.perf_counter() - start:.1f} s")
        wt = asyncio.run(time_worktrees(repo, Path(tmp) / "worktrees", 5))
        each = ", ".join(f"{t:.2f}" for t in wt)
        print(f"worktree per task: best {min(wt):.3f} s, mean {statistics.mean(wt):.3f} s ({each})  (goal < 1.5 s)")
        landed = asyncio.run(time_landings(repo, make_task_commits(repo, args.branches)))
        print(
            f"{args.branches} clean landings: mean {statistics.mean(landed) * 1000:.1f} ms, "
            f"max {max(landed) * 1000:.1f} ms per landing  (goal < 500 ms)"
        )


if __name__ == "__main__":
    main()
