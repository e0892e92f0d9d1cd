"""Chaos: a run of 40 tasks on PostgreSQL while the database's sessions are terminated every 0.3-0.9 s,
the database goes away for 5 s, and a worker is killed -9 in the middle of a landing.

Only the test's own database is touched (``pg_terminate_backend`` filtered by ``datname``; the outage is
``ALTER DATABASE … ALLOW_CONNECTIONS false``, which unlike a connection limit also holds off superusers):
other tests share the server. The blips are counted, and so are those that hit a session inside a
transaction: a run the blips never touched would prove nothing. Printed with ``-s``: the blips and what
the recovery cost (the run's wall time against the same plan's calm run is in the closing note of issue 17).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type stubs
import httpx
import pytest
import redis
import yaml

from quarterdeck.app import Quarterdeck
from quarterdeck.domain.statuses import AttemptStatus
from quarterdeck.settings import Settings
from tests.api.conftest import PASSWORD, free_port
from tests.support.databases import ADMIN_URL, PostgresTemplate
from tests.support.gitrepo import git, make_repo, shared_dir, trailer_tasks
from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BRANCH = "integration"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _plan(tmp_path: Path, ledger: Path) -> tuple[Path, list[str]]:
    """Four chains of eight, a diamond and four loose tasks: 40 shell tasks, each a commit of its own."""
    specs: list[tuple[str, list[str]]] = []
    for chain in range(1, 5):
        specs += [(f"c{chain}-{n}", [f"c{chain}-{n - 1}"] if n > 1 else []) for n in range(1, 9)]
    specs += [("d-top", []), ("d-left", ["d-top"]), ("d-right", ["d-top"]), ("d-bottom", ["d-left", "d-right"])]
    specs += [(f"loose-{n}", []) for n in range(1, 5)]
    tasks = [
        {
            "id": task_id,
            "title": f"Task {task_id}",
            "depends_on": deps,
            "runtime": "shell",
            "timeout_s": 120,
            "max_attempts": 1,  # a system failure must never be counted as one: a single failure fails the run
            "options": {
                "script": f'echo "$QUARTERDECK_TASK_ID $QUARTERDECK_ATTEMPT" >> {ledger}; sleep 0.2; '
                f"echo {task_id} > {task_id}.txt"
            },
        }
        for task_id, deps in specs
    ]
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"name": "chaos", "tasks": tasks}, sort_keys=False))
    return path, [task_id for task_id, _ in specs]


#: git's reference-transaction hook: on the first landing after ``arm`` exists, it reports its pid and
#: waits (the branch's ref lock held) until the test has killed the worker that is landing, and it.
_HOOK = """#!/bin/sh
[ "$1" = prepared ] || exit 0
grep -q " refs/heads/{branch}$" || exit 0
[ -e "{arm}" ] || exit 0
mkdir "{once}" 2>/dev/null || exit 0
echo $$ > "{marker}"
while :; do sleep 0.05; done
"""


@dataclass
class Blips:
    """What the blipper did: sessions terminated, and how many of them were inside a transaction."""

    rounds: int = 0
    terminated: int = 0
    in_transaction: int = 0
    writing: int = 0
    outage_s: float = 0.0


class Blipper:
    """Terminates every other session of one database every 0.3-0.9 s, in a thread of its own."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.blips = Blips()
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._loop()), daemon=True)
        self._error: BaseException | None = None

    def __enter__(self) -> Blipper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self._error is not None:
            raise self._error

    async def _loop(self) -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            while not self._stop.wait(random.uniform(0.3, 0.9)):
                if not self.paused.is_set():
                    await self._strike(conn)
        except BaseException as error:
            self._error = error
        finally:
            await conn.close()

    async def _strike(self, conn: asyncpg.Connection) -> None:
        """Terminates every session, first watching up to 0.2 s for a moment when one is inside a transaction.

        Transactions are short, so a blind blow mostly finds idle sessions; this one aims at work in flight.
        """
        for _ in range(20):  # a look every 10 ms
            if await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() "
                "AND xact_start IS NOT NULL",
                self.database,
            ):
                break
            await asyncio.sleep(0.01)
        await self._terminate(conn)

    async def _terminate(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT state, xact_start IS NOT NULL AS in_xact, query, pg_terminate_backend(pid) AS killed "
            "FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.database,
        )
        killed = [r for r in rows if r["killed"]]
        self.blips.rounds += 1
        self.blips.terminated += len(killed)
        inside = [r for r in killed if r["in_xact"]]
        self.blips.in_transaction += len(inside)
        self.blips.writing += sum(1 for r in inside if r["query"].lstrip().upper().startswith(("UPDATE", "INSERT")))
        return len(killed)

    def outage(self, seconds: float) -> None:
        """The database refuses every connection for ``seconds``, its sessions terminated."""

        async def run() -> None:
            conn = await asyncpg.connect(ADMIN_URL)
            try:
                await conn.execute(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS false')
                began = time.monotonic()
                try:
                    while time.monotonic() - began < seconds:
                        await self._terminate(conn)
                        await asyncio.sleep(0.2)
                finally:
                    await conn.execute(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS true')
                self.blips.outage_s += time.monotonic() - began
            finally:
                await conn.close()

        self.paused.set()
        try:
            asyncio.run(run())
        finally:
            self.paused.clear()


def _env(url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    return env | {
        "QUARTERDECK_DATABASE_URL": url,
        "QUARTERDECK_STATE_DIR": str(tmp_path / "state"),
        "QUARTERDECK_LEASE_S": "2",
        "QUARTERDECK_HEARTBEAT_S": "0.3",
        "QUARTERDECK_POLL_MAX_S": "0.1",
        "QUARTERDECK_KILL_GRACE_S": "1",
    }


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[str]
    stderr: Path

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        if proc.popen.poll() is None:
            proc.popen.kill()
        proc.popen.communicate(timeout=30)


def _spawn(procs: list[Proc], tmp_path: Path, name: str, *args: str, env: dict[str, str]) -> Proc:
    stderr = tmp_path / f"{name}.stderr"
    with stderr.open("w") as err:
        popen = subprocess.Popen(
            [sys.executable, "-m", "quarterdeck", *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    proc = Proc(name, popen, stderr)
    procs.append(proc)
    return proc


def _serving(worker: Proc) -> bool:
    return "serving" in worker.log()


def _wait_serving(workers: list[Proc]) -> None:
    for worker in workers:
        wait_for(functools.partial(_serving, worker), worker.popen, timeout=90)


def _ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        chain.append(pid)
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return chain


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def _attempts(url: str, tmp_path: Path, run_id: str) -> dict[str, list[AttemptStatus]]:
    async with Quarterdeck(Settings(database_url=url, state_dir=tmp_path / "state")) as app:
        view = await app.view(run_id)
        return {t.id: [a.status for a in await app.attempts(t)] for t in view.tasks}


def test_a_run_rides_out_database_blips_an_outage_and_a_worker_killed_mid_landing(
    tmp_path: Path, pg_template: PostgresTemplate, procs: list[Proc]
) -> None:
    database = pg_template.clone()
    try:
        _chaos(tmp_path, database, pg_template.url(database), procs)
    finally:
        pg_template.drop(database)


def _chaos(tmp_path: Path, database: str, url: str, procs: list[Proc]) -> None:
    env = _env(url, tmp_path)
    repo = make_repo(tmp_path / "repo")
    ledger = shared_dir(repo, tmp_path / "box") / "ledger"  # written by every step's sandbox
    plan, task_ids = _plan(tmp_path, ledger)
    git(repo, "branch", BRANCH)
    arm, marker = tmp_path / "arm", tmp_path / "landing.pid"
    hook = repo / ".git" / "hooks" / "reference-transaction"
    hook.write_text(_HOOK.format(branch=BRANCH, arm=arm, once=tmp_path / "once", marker=marker))
    hook.chmod(0o755)

    began = time.monotonic()
    workers = [_spawn(procs, tmp_path, f"worker{n}", "worker", "--slots", "2", env=env) for n in range(3)]
    runner = _spawn(
        procs, tmp_path, "run", "run", str(plan), "--repo", str(repo), "--branch", BRANCH,
        "--workers", "0", "--json", env=env,
    )  # fmt: skip
    # (Starting up and submitting are not retried: the blips begin once the processes serve and the run is under way.)
    _wait_serving(workers)
    wait_for(lambda: len(_lines(ledger)) >= 1, runner.popen, timeout=90)
    with Blipper(database) as blipper:
        # Blips from now on; a 5 s outage once a quarter of the tasks have run.
        wait_for(lambda: len(_lines(ledger)) >= 10, runner.popen, timeout=90)
        blipper.outage(5.0)
        # Then a worker is killed -9 while it lands a commit (git's ref lock held, mid-transaction).
        arm.touch()
        wait_for(marker.exists, runner.popen, timeout=90)
        hook_pid = int(marker.read_text())
        chain = _ancestors(hook_pid)
        victim = next(w for w in workers if w.popen.pid in chain)
        # The worker first, then git (which leaves its ref lock behind), then the hook git waits for.
        for pid in reversed(chain[: chain.index(victim.popen.pid) + 1]):
            os.kill(pid, signal.SIGKILL)
        victim.popen.communicate(timeout=30)
        out, _ = runner.popen.communicate(timeout=180)
    elapsed = time.monotonic() - began
    blips = blipper.blips
    print(f"\nchaos: {blips} run took {elapsed:.1f}s")

    assert runner.popen.returncode == 0, runner.log()
    outcome = json.loads(out)
    statuses = {t["id"]: t["status"] for t in outcome["tasks"]}
    assert statuses == dict.fromkeys(task_ids, "succeeded"), runner.log()
    # One commit per task on the integration branch: nothing landed twice, nothing lost.
    assert sorted(trailer_tasks(repo, BRANCH)) == sorted(task_ids)
    attempts = asyncio.run(_attempts(url, tmp_path, outcome["run"]["id"]))
    assert all(a.count(AttemptStatus.SUCCEEDED) == 1 for a in attempts.values()), attempts
    assert not any(AttemptStatus.FAILED in a for a in attempts.values()), attempts
    # Every worker but the one killed is still serving; each stops cleanly when asked.
    survivors = [w for w in workers if w is not victim]
    for worker in survivors:
        assert worker.popen.poll() is None, worker.log()
        worker.popen.send_signal(signal.SIGTERM)
    for worker in survivors:
        worker.popen.communicate(timeout=60)
        assert worker.popen.returncode == 0, worker.log()
        assert "Traceback" not in worker.log(), worker.log()
    # The next landing found the dead worker's record in the merge lock and removed git's ref lock it left.
    assert any(f"refs/heads/{BRANCH}.lock, left by process {victim.popen.pid}" in w.log() for w in survivors)
    # The blips hit work in flight: sessions inside transactions, and the attempts' own writes retried.
    assert blips.rounds >= 10, blips
    assert blips.in_transaction >= 5, blips
    retried = sum(w.log().count("database away, retrying") for w in workers)
    print(f"chaos: attempts' writes retried in place {retried} times; ledger {len(_lines(ledger))} starts")
    assert blips.outage_s >= 5.0


class RedisKiller:
    """Kills the Redis connections named ``name`` (the test's own, never another client) every 0.3-0.9 s."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.killed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RedisKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        client = redis.Redis.from_url(REDIS_URL, client_name=f"{self.name}-killer")
        try:
            while not self._stop.wait(random.uniform(0.3, 0.9)):
                for entry in client.client_list():
                    if entry.get("name") == self.name:
                        self.killed += int(client.client_kill_filter(_id=str(entry["id"])))
        finally:
            client.close()


class Follower:
    """A client following ``/api/v1/events`` as an EventSource does: on a dropped stream it reconnects
    with ``Last-Event-ID``. Keeps the ids it saw, in order, until ``run.finished``."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token
        self.ids: list[int] = []
        self.reconnects = 0
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Follower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not (self._stop.is_set() or self.finished.is_set()):
            headers = {"Authorization": f"Bearer {self.token}"}
            if self.ids:
                headers["Last-Event-ID"] = str(self.ids[-1])
            try:
                with (
                    httpx.Client(base_url=self.base, timeout=httpx.Timeout(10, read=30)) as client,
                    client.stream("GET", "/api/v1/events", headers=headers) as sse,
                ):
                    if sse.status_code == 200:
                        self._read(sse)
            except httpx.TransportError:
                pass
            if not self.finished.is_set():
                self.reconnects += 1
                self._stop.wait(0.2)  # an EventSource's reconnect delay, not synchronisation

    def _read(self, sse: httpx.Response) -> None:
        event_id = 0
        for line in sse.iter_lines():
            if line.startswith("id: "):
                event_id = int(line.removeprefix("id: "))
            elif line.startswith("data: "):
                self.ids.append(event_id)
                if json.loads(line.removeprefix("data: "))["type"] == "run.finished":
                    self.finished.set()
                    return
            if self._stop.is_set():
                return


def _ready(base: str) -> int:
    try:
        return httpx.get(f"{base}/readyz", timeout=5).status_code
    except httpx.TransportError:
        return 0


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "quarterdeck", *args], input=stdin, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _event_ids(url: str, tmp_path: Path, run_id: str) -> list[int]:
    async with Quarterdeck(Settings(database_url=url, state_dir=tmp_path / "state")) as app:
        return [e.id for e in await app.events(run_id)]


def test_a_followed_event_stream_has_no_gap_while_redis_and_database_connections_are_killed(
    tmp_path: Path, pg_template: PostgresTemplate, procs: list[Proc]
) -> None:
    database = pg_template.clone()
    try:
        _redis_chaos(tmp_path, database, pg_template.url(database), procs)
    finally:
        pg_template.drop(database)


def _redis_chaos(tmp_path: Path, database: str, url: str, procs: list[Proc]) -> None:
    name = f"qdchaos-{os.getpid()}-{random.randrange(1 << 32):08x}"
    env = _env(url, tmp_path) | {
        "QUARTERDECK_REDIS_URL": f"{REDIS_URL}?client_name={name}",
        "QUARTERDECK_BUS_PREFIX": f"{name}:",
        "QUARTERDECK_ORG": "acme",
    }
    _cli(env, "user", "create", "--email", "admin@acme.io", "--name", "Admin", "--role", "admin",
         "--password-stdin", stdin=f"{PASSWORD}\n")  # fmt: skip
    repo = make_repo(tmp_path / "repo")
    ledger = shared_dir(repo, tmp_path / "box") / "ledger"  # written by every step's sandbox
    plan, task_ids = _plan(tmp_path, ledger)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _spawn(procs, tmp_path, "serve", "serve", "--port", str(port), "--no-worker", env=env)
    wait_for(lambda: _ready(base) == 200, server.popen, timeout=60)
    login = httpx.post(
        f"{base}/api/v1/auth/login", json={"email": "admin@acme.io", "password": "correct horse battery"}
    )
    token = login.json()["access_token"]

    began = time.monotonic()
    workers = [_spawn(procs, tmp_path, f"worker{n}", "worker", "--slots", "2", env=env) for n in range(3)]
    with Follower(base, token) as follower, RedisKiller(name) as killer:
        runner = _spawn(
            procs, tmp_path, "run", "run", str(plan), "--repo", str(repo), "--workers", "0", "--json", env=env
        )
        _wait_serving(workers)
        wait_for(lambda: len(_lines(ledger)) >= 1, runner.popen, timeout=90)
        with Blipper(database) as blipper:
            wait_for(lambda: len(_lines(ledger)) >= 10, runner.popen, timeout=90)
            # While the database is away, serve says it is not ready; it recovers on its own afterwards.
            outage = threading.Thread(target=blipper.outage, args=(5.0,))
            outage.start()
            wait_for(lambda: _ready(base) == 503, server.popen, timeout=30)
            outage.join()
            out, _ = runner.popen.communicate(timeout=180)
        wait_for(follower.finished.is_set, server.popen, timeout=60)
    elapsed = time.monotonic() - began
    wait_for(lambda: _ready(base) == 200, server.popen, timeout=60)
    print(f"\nredis chaos: {blipper.blips}, {killer.killed} Redis connections killed, "
          f"{follower.reconnects} stream reconnects; run took {elapsed:.1f}s")  # fmt: skip

    assert runner.popen.returncode == 0, runner.log()
    outcome = json.loads(out)
    assert {t["id"]: t["status"] for t in outcome["tasks"]} == dict.fromkeys(task_ids, "succeeded")
    assert sorted(trailer_tasks(repo, outcome["run"]["integration_branch"])) == sorted(task_ids)
    # The client saw every event of the run, each once: no gap, however its stream was cut. (Ids are not
    # committed in id order: one that commits late is released late, after higher ones.)
    table = asyncio.run(_event_ids(url, tmp_path, outcome["run"]["id"]))
    assert len(follower.ids) == len(set(follower.ids))
    assert sorted(follower.ids) == table
    late = sum(1 for a, b in zip(follower.ids, follower.ids[1:], strict=False) if b < a)
    print(f"redis chaos: {len(table)} events followed, {late} released after a higher id")
    for proc in (*workers, server):
        assert proc.popen.poll() is None, proc.log()
        proc.popen.send_signal(signal.SIGTERM)
    for proc in (*workers, server):
        proc.popen.communicate(timeout=60)
        assert proc.popen.returncode == 0, proc.log()
        assert "Traceback" not in proc.log(), proc.log()
    assert killer.killed >= 10
    assert blipper.blips.in_transaction >= 5, blipper.blips
