"""Fault tests with real processes: kill -9 a worker, kill -9 the run, cut the database connections.

Each task writes ``<task> <attempt>`` to a ledger when it starts, so the ledger counts executions.
A task that must be caught mid-flight waits for a flag file (the "test runtime that blocks until told").
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type stubs
import pytest
import yaml

from quarterdeck.app import Quarterdeck
from quarterdeck.domain.statuses import AttemptStatus
from quarterdeck.settings import Settings
from tests.support.databases import PostgresTemplate
from tests.support.gitrepo import git, make_repo, shared_dir
from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    env |= {
        "QUARTERDECK_DATABASE_URL": database_url,
        "QUARTERDECK_STATE_DIR": str(tmp_path / "state"),
        "QUARTERDECK_LEASE_S": "2",
        "QUARTERDECK_HEARTBEAT_S": "0.3",
        "QUARTERDECK_POLL_MAX_S": "0.05",
        "QUARTERDECK_KILL_GRACE_S": "1",
    }
    return env


def _spawn(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "quarterdeck", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []

    def has(self, line: str) -> Callable[[], bool]:
        return lambda: line in self.lines()


def _plan(tmp_path: Path, ledger: Ledger, flag: Path, chain: int, blocking: str) -> Path:
    tasks = []
    for n in range(1, chain + 1):
        task_id = f"t{n}"
        start = f'echo "$QUARTERDECK_TASK_ID $QUARTERDECK_ATTEMPT" >> {ledger.path}'
        wait = f"; until [ -e {flag} ]; do sleep 0.05; done" if task_id == blocking else ""
        tasks.append({
            "id": task_id,
            "title": f"Task {n}",
            "depends_on": [f"t{n - 1}"] if n > 1 else [],
            "runtime": "shell",
            "timeout_s": 120,
            "options": {"script": f"{start}{wait}; echo {n} > {task_id}.txt"},
        })  # fmt: skip
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"name": "faults", "tasks": tasks}, sort_keys=False))
    return path


def _kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


@pytest.fixture
def stop_all() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


async def _attempts(database_url: str, tmp_path: Path, run_id: str, task_id: str) -> list[AttemptStatus]:
    async with Quarterdeck(Settings(database_url=database_url, state_dir=tmp_path / "state")) as app:
        view = await app.view(run_id)
        task = next(t for t in view.tasks if t.id == task_id)
        return [a.status for a in await app.attempts(task)]


def test_a_worker_killed_mid_task_is_replaced_and_the_task_done_once(
    tmp_path: Path, database_url: str, stop_all: list[subprocess.Popen[str]]
) -> None:
    env = _env(database_url, tmp_path)
    repo = make_repo(tmp_path / "repo")
    box = shared_dir(repo, tmp_path / "box")  # what the steps' sandboxes and the test both see
    ledger, flag = Ledger(box / "ledger"), box / "flag"
    plan = _plan(tmp_path, ledger, flag, chain=2, blocking="t1")
    first = _spawn("worker", env=env)
    stop_all.append(first)
    runner = _spawn("run", str(plan), "--repo", str(repo), "--workers", "0", "--json", env=env)
    stop_all.append(runner)
    wait_for(ledger.has("t1 1"), first)
    _kill9(first)
    flag.touch()  # the orphaned agent of attempt 1 may finish too; its worker is gone, so nothing records it
    second = _spawn("worker", env=env)
    stop_all.append(second)
    out, err = runner.communicate(timeout=120)
    assert runner.returncode == 0, err
    outcome = json.loads(out)
    assert [t["status"] for t in outcome["tasks"]] == ["succeeded", "succeeded"]
    assert sorted(ledger.lines()) == ["t1 1", "t1 2", "t2 1"]
    statuses = asyncio.run(_attempts(database_url, tmp_path, outcome["run"]["id"], "t1"))
    assert statuses == [AttemptStatus.EXPIRED, AttemptStatus.SUCCEEDED]
    second.send_signal(signal.SIGTERM)
    second.communicate(timeout=60)
    assert second.returncode == 0


def test_the_run_process_killed_mid_run_is_resumed_without_redoing_finished_tasks(
    tmp_path: Path, database_url: str, stop_all: list[subprocess.Popen[str]]
) -> None:
    env = _env(database_url, tmp_path)
    repo = make_repo(tmp_path / "repo")
    box = shared_dir(repo, tmp_path / "box")  # what the steps' sandboxes and the test both see
    ledger, flag = Ledger(box / "ledger"), box / "flag"
    plan = _plan(tmp_path, ledger, flag, chain=5, blocking="t3")
    runner = _spawn("run", str(plan), "--repo", str(repo), "--workers", "2", "--json", env=env)
    stop_all.append(runner)
    wait_for(ledger.has("t3 1"), runner)
    _kill9(runner)
    flag.touch()
    runs = json.loads(subprocess.run(
        [sys.executable, "-m", "quarterdeck", "status", "--json"], env=env, cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout)  # fmt: skip
    assert [r["status"] for r in runs] == ["running"]
    resumed = subprocess.run(
        [sys.executable, "-m", "quarterdeck", "resume", runs[0]["id"], "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert {t["status"] for t in json.loads(resumed.stdout)["tasks"]} == {"succeeded"}
    # Finished tasks ran once; only the task the dead process held ran again.
    assert sorted(ledger.lines()) == ["t1 1", "t2 1", "t3 1", "t3 2", "t4 1", "t5 1"]


@pytest.mark.postgres
def test_workers_ride_out_terminated_database_connections(
    tmp_path: Path, pg_template: PostgresTemplate, stop_all: list[subprocess.Popen[str]]
) -> None:
    name = pg_template.clone()
    try:
        env = _env(pg_template.url(name), tmp_path)
        repo = make_repo(tmp_path / "repo")
        box = shared_dir(repo, tmp_path / "box")  # what the steps' sandboxes and the test both see
        ledger, flag = Ledger(box / "ledger"), box / "flag"
        plan = _plan(tmp_path, ledger, flag, chain=6, blocking="t3")
        runner = _spawn("run", str(plan), "--repo", str(repo), "--workers", "2", "--json", env=env)
        stop_all.append(runner)
        wait_for(ledger.has("t3 1"), runner)
        terminated = asyncio.run(_terminate_backends(name))
        assert terminated >= 1
        flag.touch()
        out, err = runner.communicate(timeout=120)
        assert runner.returncode == 0, err
        assert {t["status"] for t in json.loads(out)["tasks"]} == {"succeeded"}
        assert sorted(ledger.lines()) == [f"t{n} 1" for n in range(1, 7)]
    finally:
        pg_template.drop(name)


async def _terminate_backends(database: str) -> int:
    from tests.support.databases import ADMIN_URL

    conn = await asyncpg.connect(ADMIN_URL)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
        return len(rows)
    finally:
        await conn.close()


def test_a_retry_after_a_crash_does_not_redo_the_agents_committed_work(
    tmp_path: Path, database_url: str, stop_all: list[subprocess.Popen[str]]
) -> None:
    env = _env(database_url, tmp_path)
    repo = make_repo(tmp_path / "repo")
    box = shared_dir(repo, tmp_path / "box")  # what the steps' sandboxes and the test both see
    agent_ledger, verify_ledger, flag = Ledger(box / "agent"), Ledger(box / "verify"), box / "flag"
    plan = tmp_path / "plan.yaml"
    record = f'echo "$QUARTERDECK_ATTEMPT" >> {verify_ledger.path}'
    plan.write_text(yaml.safe_dump({
        "name": "checkpoints",
        "tasks": [{
            "id": "costly",
            "title": "An expensive agent step",
            "runtime": "shell",
            "options": {"script": f'echo "$QUARTERDECK_ATTEMPT" >> {agent_ledger.path}; echo work > work.txt'},
            # Verification waits until told, so the worker can be killed after the agent's commit.
            "verify": [f"{record}; until [ -e {flag} ]; do sleep 0.05; done; test -f work.txt"],
        }],
    }, sort_keys=False))  # fmt: skip
    first = _spawn("worker", env=env)
    stop_all.append(first)
    runner = _spawn("run", str(plan), "--repo", str(repo), "--workers", "0", "--json", env=env)
    stop_all.append(runner)
    wait_for(verify_ledger.has("1"), first)
    _kill9(first)
    flag.touch()
    second = _spawn("worker", env=env)
    stop_all.append(second)
    out, err = runner.communicate(timeout=120)
    assert runner.returncode == 0, err
    assert agent_ledger.lines() == ["1"]  # the agent ran once
    assert verify_ledger.lines() == ["1", "2"]  # the interrupted verification ran again
    outcome = json.loads(out)
    assert subprocess.run(
        ["git", "show", f"{outcome['run']['integration_branch']}:work.txt"],
        cwd=repo, capture_output=True, text=True, check=True,
    ).stdout == "work\n"  # fmt: skip


def _hook(repo: Path, name: str, body: str) -> None:
    hook = repo / ".git" / "hooks" / name
    hook.write_text(f"#!/bin/sh\n{body}\n")
    hook.chmod(0o755)


def test_an_agents_commit_its_worker_died_before_checkpointing_is_not_paid_for_again(
    tmp_path: Path, database_url: str, stop_all: list[subprocess.Popen[str]]
) -> None:
    env = _env(database_url, tmp_path)
    repo = make_repo(tmp_path / "repo")
    box = shared_dir(repo, tmp_path / "box")  # what the steps' sandboxes and the test both see
    agent, committed, flag = Ledger(box / "agent"), box / "committed", box / "flag"
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({
        "name": "uncheckpointed",
        "tasks": [{
            "id": "costly",
            "title": "An expensive agent step",
            "runtime": "shell",
            "options": {"script": f'echo "$QUARTERDECK_ATTEMPT" >> {agent.path}; echo work > work.txt'},
        }],
    }, sort_keys=False))  # fmt: skip
    # The agent's work is committed; the worker dies before the checkpoint that says so is written.
    _hook(
        repo,
        "post-commit",
        f"[ -e {committed} ] && exit 0; touch {committed}; until [ -e {flag} ]; do sleep 0.05; done",
    )
    first = _spawn("worker", env=env)
    stop_all.append(first)
    runner = _spawn("run", str(plan), "--repo", str(repo), "--workers", "0", "--json", env=env)
    stop_all.append(runner)
    wait_for(committed.exists, first)
    _kill9(first)
    flag.touch()
    second = _spawn("worker", env=env)
    stop_all.append(second)
    out, err = runner.communicate(timeout=120)
    assert runner.returncode == 0, err
    assert agent.lines() == ["1"]  # found on the task's branch: the agent ran once
    outcome = json.loads(out)
    statuses = asyncio.run(_attempts(database_url, tmp_path, outcome["run"]["id"], "costly"))
    assert statuses == [AttemptStatus.EXPIRED, AttemptStatus.SUCCEEDED]
    branch = outcome["run"]["integration_branch"]
    assert (
        subprocess.run(
            ["git", "show", f"{branch}:work.txt"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
        == "work\n"
    )


def test_a_landing_whose_worker_died_before_recording_it_stands_and_is_not_landed_again(
    tmp_path: Path, database_url: str, stop_all: list[subprocess.Popen[str]]
) -> None:
    env = _env(database_url, tmp_path)
    repo = make_repo(tmp_path / "repo")
    box = shared_dir(repo, tmp_path / "box")  # what the steps' sandboxes and the test both see
    ledger, landed, flag = Ledger(box / "ledger"), box / "landed", box / "flag"
    plan = _plan(tmp_path, ledger, flag, chain=3, blocking="")
    git(repo, "branch", "integration")
    # t2's commit is on the integration branch; its worker dies before anything records that.
    _hook(repo, "reference-transaction", (
        '[ "$1" = committed ] || exit 0; grep -q " refs/heads/integration$" || exit 0; '
        f'grep -qx "t2 1" {ledger.path} || exit 0; [ -e {landed} ] && exit 0; '
        f"touch {landed}; until [ -e {flag} ]; do sleep 0.05; done"
    ))  # fmt: skip
    first = _spawn("worker", env=env)
    stop_all.append(first)
    runner = _spawn(
        "run", str(plan), "--repo", str(repo), "--branch", "integration", "--workers", "0", "--json", env=env
    )
    stop_all.append(runner)
    wait_for(landed.exists, first)
    _kill9(first)
    flag.touch()
    # Someone changes t2's file on the branch meanwhile: landing t2's commit again would now conflict.
    other = tmp_path / "other"
    git(repo, "worktree", "add", "--quiet", str(other), "integration")
    (other / "t2.txt").write_text("changed since\n")
    git(other, "commit", "--quiet", "-am", "Someone else")
    second = _spawn("worker", env=env)
    stop_all.append(second)
    out, err = runner.communicate(timeout=120)
    assert runner.returncode == 0, err
    outcome = json.loads(out)
    assert [t["status"] for t in outcome["tasks"]] == ["succeeded"] * 3
    log = subprocess.run(
        ["git", "log", "--format=%(trailers:key=Quarterdeck-Task,valueonly,separator=)", "integration"],
        cwd=repo, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert sorted(log) == ["t1", "t2", "t3"]  # one commit each: t2 was not landed a second time
    statuses = asyncio.run(_attempts(database_url, tmp_path, outcome["run"]["id"], "t2"))
    assert statuses == [AttemptStatus.EXPIRED, AttemptStatus.SUCCEEDED]
    assert sorted(ledger.lines()) == ["t1 1", "t2 1", "t3 1"]  # and its agent was not run again
