"""A fleet: workers on hosts that share nothing but PostgreSQL and a git remote.

Hosts are network namespaces on a bridge (``tests/support/hosts.py``): the hub runs ``git daemon`` with
receive-pack, the remote every machine fetches from and pushes to; two worker hosts and a client host
(which submits the run and waits for it, ``quarterdeck run --workers 0``). Every process has a mount
namespace of its own with an empty tmpfs at the same path for its state directory and worktrees: no
process sees another's repository cache or worktrees, as on separate machines. The database is the
machine's PostgreSQL, reached from each host's loopback through a relay (see ``hosts.py`` for why).

A plan of 30 tasks (chains, a diamond, two tasks editing one file) must land on the remote's integration
branch, each exactly once; then a second run of it while one worker host is killed (``kill -9`` of every
process in it) mid-run.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from quarterdeck.app import Quarterdeck
from quarterdeck.domain.statuses import AttemptStatus
from quarterdeck.settings import Settings
from tests.support import hosts
from tests.support.databases import PostgresTemplate
from tests.support.gitrepo import git, make_repo, trailer_tasks

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(hosts.available() is not None, reason=str(hosts.available())),
]

#: twenty lines: two tasks edit lines far apart in it, and both land
_SHARED = "".join(f"line {i}\n" for i in range(1, 21))


def _plan(path: Path, name: str) -> list[str]:
    """Three chains of six, a diamond, two tasks editing one file and six loose tasks: 30 shell tasks."""
    specs: list[tuple[str, list[str], str]] = []
    for chain in range(1, 4):
        specs += [(f"c{chain}-{n}", [f"c{chain}-{n - 1}"] if n > 1 else [], "") for n in range(1, 7)]
    specs += [("d-top", [], ""), ("d-left", ["d-top"], ""), ("d-right", ["d-top"], "")]
    specs += [("d-bottom", ["d-left", "d-right"], "test -f d-left.txt && test -f d-right.txt && ")]
    specs += [
        ("edit-head", [], "sed -i 's/^line 2$/line 2 (head)/' shared.txt && "),
        ("edit-tail", [], "sed -i 's/^line 19$/line 19 (tail)/' shared.txt && "),
    ]
    specs += [(f"loose-{n}", [], "") for n in range(1, 7)]
    tasks = [
        {
            "id": task_id,
            "title": f"Task {task_id}",
            "depends_on": deps,
            "runtime": "shell",
            "timeout_s": 120,
            "max_attempts": 1,  # a failure of the fleet must never count as the task's: one would fail the run
            "options": {"script": f"{before}sleep 0.1; echo {task_id} > {task_id}.txt"},
        }
        for task_id, deps, before in specs
    ]
    path.write_text(yaml.safe_dump({"name": name, "tasks": tasks}, sort_keys=False))
    return [task_id for task_id, _, _ in specs]


def _env(database_url: str, private: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    return env | {
        "QUARTERDECK_DATABASE_URL": database_url,
        "QUARTERDECK_STATE_DIR": str(private / "state"),
        "QUARTERDECK_WORKTREE_ROOT": str(private / "worktrees"),
        "QUARTERDECK_LEASE_S": "3",
        "QUARTERDECK_HEARTBEAT_S": "0.5",
        "QUARTERDECK_POLL_MAX_S": "0.1",
        "QUARTERDECK_KILL_GRACE_S": "1",
    }


def _says(log: Path, text: str) -> bool:
    return text in log.read_text()


def _wait(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


_Attempts = dict[str, list[tuple[AttemptStatus, str | None]]]


async def _attempts(url: str, tmp_path: Path, run_id: str) -> _Attempts:
    async with Quarterdeck(Settings(database_url=url, state_dir=tmp_path / "reader")) as app:
        view = await app.view(run_id)
        return {t.id: [(a.status, a.worker_id) for a in await app.attempts(t)] for t in view.tasks}


def test_a_fleet_lands_every_task_once_through_the_remote_even_with_a_host_killed(
    tmp_path: Path, pg_template: PostgresTemplate
) -> None:
    database = pg_template.clone()
    try:
        with hosts.lan(["w1", "w2", "client"]) as lan:
            _fleet(tmp_path, lan, pg_template.url(database))
    finally:
        pg_template.drop(database)


def _fleet(tmp_path: Path, lan: hosts.Lan, url: str) -> None:
    # The remote, served by the hub; only its files are on the test's disk (the hub's own).
    served = tmp_path / "hub"
    source = make_repo(tmp_path / "source", {"README.md": "# fleet\n", "shared.txt": _SHARED})
    git(tmp_path, "clone", "--quiet", "--bare", str(source), str(served / "remote.git"))
    remote = f"git://{lan.hub.address}/remote.git"
    with (tmp_path / "daemon.log").open("w") as daemon_log:
        lan.spawn(
            "hub",
            ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", f"--base-path={served}",
             f"--listen={lan.hub.address}", str(served)],
            env=dict(os.environ), cwd=tmp_path, stdout=daemon_log, stderr=daemon_log,
        )  # fmt: skip
    for host in ("w1", "w2", "client"):
        lan.forward_postgres(host)
    private = tmp_path / "private"  # the same path on every host, a different tmpfs in each process

    def reachable() -> bool:
        probe = lan.spawn("client", ["git", "ls-remote", remote], env=dict(os.environ), cwd=tmp_path,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        return probe.wait(timeout=30) == 0

    _wait(reachable, "git daemon on the hub")

    logs: dict[str, Path] = {}

    def worker(host: str) -> subprocess.Popen[str]:
        logs[host] = tmp_path / f"{host}-{len(logs)}.log"
        with logs[host].open("w") as log:
            return lan.spawn(
                host, [sys.executable, "-m", "quarterdeck", "worker", "--slots", "2"], private=private,
                env=_env(url, private), cwd=ROOT, stdout=log, stderr=log,
            )  # fmt: skip

    workers = {host: worker(host) for host in ("w1", "w2")}
    for host in workers:
        _wait(functools.partial(_says, logs[host], "serving"), f"the worker on {host}")

    def run(name: str, branch: str) -> tuple[subprocess.Popen[str], list[str], Path]:
        plan = tmp_path / f"{name}.yaml"
        task_ids = _plan(plan, name)
        err = tmp_path / f"{name}.stderr"
        with err.open("w") as log:
            runner = lan.spawn(
                "client",
                [sys.executable, "-m", "quarterdeck", "run", str(plan), "--repo", remote, "--branch", branch,
                 "--workers", "0", "--json"],
                private=private, env=_env(url, private), cwd=ROOT, stdout=subprocess.PIPE, stderr=log,
            )  # fmt: skip
        return runner, task_ids, err

    def landed(branch: str) -> list[str]:
        ref = f"refs/heads/{branch}"
        exists = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", ref], cwd=served / "remote.git", capture_output=True
        )
        return trailer_tasks(served / "remote.git", ref) if exists.returncode == 0 else []

    def check(runner: subprocess.Popen[str], task_ids: list[str], err: Path, branch: str) -> _Attempts:
        out, _ = runner.communicate(timeout=300)
        assert runner.returncode == 0, err.read_text() + "".join(p.read_text() for p in logs.values())
        outcome = json.loads(out)
        statuses = {t["id"]: t["status"] for t in outcome["tasks"]}
        assert statuses == dict.fromkeys(task_ids, "succeeded"), err.read_text()
        # one commit per task on the remote's integration branch, in dependency order, nothing lost
        on_remote = landed(branch)
        assert sorted(on_remote) == sorted(task_ids)
        for chain in range(1, 4):
            steps = [on_remote.index(f"c{chain}-{n}") for n in range(1, 7)]
            assert steps == sorted(steps)
        assert on_remote.index("d-bottom") > max(on_remote.index("d-left"), on_remote.index("d-right"))
        shared = git(served / "remote.git", "show", f"{branch}:shared.txt")
        assert "line 2 (head)\n" in shared
        assert "line 19 (tail)\n" in shared
        attempts = asyncio.run(_attempts(url, tmp_path, outcome["run"]["id"]))
        assert all([s for s, _ in a].count(AttemptStatus.SUCCEEDED) == 1 for a in attempts.values()), attempts
        assert not any(AttemptStatus.FAILED in [s for s, _ in a] for a in attempts.values()), attempts
        return attempts

    # 1. Calm: both hosts work, each through its own cache.
    began = time.monotonic()
    runner, task_ids, err = run("calm", "integration")
    attempts = check(runner, task_ids, err, "integration")
    calm_s = time.monotonic() - began
    by = {w for a in attempts.values() for s, w in a if s is AttemptStatus.SUCCEEDED}
    assert len(by) == 2, by  # both workers landed tasks

    # 2. A host killed mid-run: every process on w2, while tasks of the run are still to land.
    began = time.monotonic()
    runner, task_ids, err = run("killed", "integration-2")
    _wait(lambda: len(landed("integration-2")) >= 8, "a quarter of the second run to land")
    killed = lan.kill_host("w2")
    assert workers["w2"].pid in killed or workers["w2"].poll() is not None
    workers["w2"].communicate(timeout=30)
    assert len(landed("integration-2")) < len(task_ids)  # (killed mid-run, not after it)
    attempts = check(runner, task_ids, err, "integration-2")
    killed_s = time.monotonic() - began
    print(f"\nfleet: calm run {calm_s:.1f}s; run with a host killed {killed_s:.1f}s")
    # the survivor took over what the dead host held (its lease ran out), and gave nothing up
    assert workers["w1"].poll() is None, logs["w1"].read_text()
    assert "Traceback" not in logs["w1"].read_text()
