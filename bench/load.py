"""Benchmark: ``quarterdeck serve`` under a dashboard's load while its workers run printing agents (issue 26).

A real ``quarterdeck serve --workers N`` (``--processes K`` API processes) on loopback runs one run of
``--tasks`` shell tasks, each printing a line every ``--interval`` s for ``--seconds`` s, while:

* ``--readers`` API clients read what the dashboard reads (runs, the run, its tasks, a task, its
  events, costs, queue), each waiting a random 0.25–0.75 s between requests (closed loop: latency is
  the request's own time);
* ``--subscribers`` WebSocket clients follow the run's events (``/api/v1/stream?after=latest``, connected
  before the run is submitted, so every event reaches them live).

It prints API p50/p95/p99 per route group, event delivery p50/p95/p99 (from the event's
``created_at``, written in the transaction that commits it, to the moment a subscriber's socket read
it; both clocks are this machine's), events lost (each subscriber's ids against the run's rows in the
table; duplicates and out-of-order ids count too), errors (non-200 answers, failed connections, a
closed stream), the makespan (the run's ``finished_at - created_at``, and submit → last subscriber saw
``run.finished``) and the server's RSS (peak of the sum over its Python processes: API processes and
worker processes, not the agents' shells; PSS beside it, which counts pages they share once) and CPU
(the same processes; PostgreSQL's and Redis's own are not counted).

The readers and the subscribers run in two processes of their own (uvloop), so that parsing 5,000
messages/s does not delay the readers' clocks; all of it shares the machine's cores with the server.

    .venv/bin/python bench/load.py [--backend sqlite,postgresql] [--tasks 50] [--seconds 15]
        [--readers 50] [--subscribers 20] [--processes 1] [--workers N] [--quick]

``--quick``: 10 tasks of 5 s, 10 readers, 5 subscribers. ``postgresql`` uses a fresh database on
``--pg-url`` (dropped afterwards) and Redis at ``--redis-url`` (own key prefix, deleted afterwards).
Issue 26's bar: API p95 < 200 ms, event delivery p95 < 100 ms, 0 errors, 0 events lost, 50 tasks of
15 s finished in under 18 s, server RSS under 300 MB. Figures are in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx

_T = TypeVar("_T")

EMAIL, PASSWORD = "load@example.test", "a long enough load password"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
ROUTES = ("runs", "run", "tasks", "task", "task events", "costs", "queue")


# -- the load generator's two processes ----------------------------------------------------------


class _Http:
    """One keep-alive HTTP/1.1 connection: a GET written as bytes, the answer read by Content-Length."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.head = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.head)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return int(head[9:12]), await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def readers(port: int, token: str, run_id: str, tasks: int, n: int, until: float) -> dict[str, Any]:
    """``n`` dashboard readers until the monotonic time ``until``: latencies (ms) per route group, errors."""
    latencies: dict[str, list[float]] = {route: [] for route in ROUTES}
    errors: list[str] = []

    def path(route: str, rng: random.Random) -> str:
        task = f"t{rng.randrange(tasks):03d}"
        return {
            "runs": "/api/v1/runs",
            "run": f"/api/v1/runs/{run_id}",
            "tasks": f"/api/v1/runs/{run_id}/tasks",
            "task": f"/api/v1/runs/{run_id}/tasks/{task}",
            "task events": f"/api/v1/runs/{run_id}/tasks/{task}/events",
            "costs": "/api/v1/costs",
            "queue": "/api/v1/queue",
        }[route]

    async def reader(i: int) -> None:
        rng = random.Random(i)
        conn = _Http(port, token)
        await asyncio.sleep(rng.uniform(0, 0.5))  # spreading the start, not synchronisation
        try:
            while time.monotonic() < until:
                route = ROUTES[rng.randrange(len(ROUTES))]
                started = time.perf_counter()
                try:
                    status, body = await conn.get(path(route, rng))
                except (OSError, asyncio.IncompleteReadError) as exc:
                    errors.append(f"{route}: {type(exc).__name__}")
                    conn.close()
                    conn = _Http(port, token)
                    continue
                latencies[route].append((time.perf_counter() - started) * 1000)
                if status != 200:
                    errors.append(f"{route}: HTTP {status} {body[:120]!r}")
                await asyncio.sleep(rng.uniform(0.25, 0.75))  # the dashboard user's pause
        finally:
            conn.close()

    await asyncio.gather(*(reader(i) for i in range(n)))
    return {"latencies": latencies, "errors": errors}


async def subscribers(port: int, token: str, n: int, until: float, batch: bool, ready: Path) -> dict[str, Any]:
    """``n`` WebSocket followers of what happens from now on (the run is started once they are all connected,
    when ``ready`` exists), until ``run.finished`` (or ``until``)."""
    import websockets

    url = f"ws://127.0.0.1:{port}/api/v1/stream?after=latest{'&batch=true' if batch else ''}"
    results: list[dict[str, Any]] = []
    connected = 0

    async def follow(i: int) -> None:
        nonlocal connected
        ids: list[int] = []
        delays: list[float] = []
        error = ""
        finished_at = None
        try:
            async with websockets.connect(
                url,
                additional_headers={"Authorization": f"Bearer {token}"},
                max_size=None,
                open_timeout=30,
                ping_interval=None,  # as a browser: the server keeps the connection alive with its own pings
            ) as ws:
                connected += 1
                if connected == n:
                    ready.touch()
                while finished_at is None:
                    left = until - time.monotonic()
                    if left <= 0:
                        error = "the run did not finish in time"
                        break
                    try:
                        message = await asyncio.wait_for(ws.recv(), left)
                    except TimeoutError:
                        continue
                    now = time.time()
                    decoded = json.loads(message)
                    for event in decoded if isinstance(decoded, list) else [decoded]:
                        if event.get("type") == "ping" and "id" not in event:
                            continue
                        ids.append(event["id"])
                        created = datetime.fromisoformat(event["created_at"]).timestamp()
                        delays.append((now - created) * 1000)
                        if event["type"] == "run.finished":
                            finished_at = time.monotonic()
        except Exception as exc:  # any failure of a client is an error of the run
            error = f"{type(exc).__name__}: {exc}"
        results.append({"ids": ids, "delays": delays, "error": error, "finished_at": finished_at})

    await asyncio.gather(*(follow(i) for i in range(n)))
    return {"subscribers": results}


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def client_main(args: argparse.Namespace) -> None:
    spec = json.loads(args.client)
    until = spec["until"]
    if spec["role"] == "readers":
        out = _run(readers(spec["port"], spec["token"], spec["run_id"], spec["tasks"], spec["n"], until))
    else:
        ready = Path(spec["out"] + ".ready")
        out = _run(subscribers(spec["port"], spec["token"], spec["n"], until, spec["batch"], ready))
    Path(spec["out"]).write_text(json.dumps(out))


# -- the server and its resources ----------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    pids, i = [pid], 0
    while i < len(pids):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pids[i]}/task").iterdir():
                pids += [int(p) for p in (task / "children").read_text().split()]
        i += 1
    return pids


def _python_tree(pid: int) -> list[int]:
    """The server's own processes (API and worker processes), not the agents' shells, git or sleep.

    A child caught between its parent's ``vfork`` (how ``subprocess`` starts git, bwrap and the agents) and
    its ``exec`` shares the parent's memory and command line: counted, it would add the parent's whole RSS and
    PSS a second time. Such a child (same command line as its parent) is left out.
    """
    out = []
    for p in _tree(pid):
        try:
            comm = Path(f"/proc/{p}/comm").read_text().strip()
            if not comm.startswith(("python", "quarterdeck")):
                continue
            ppid = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()[1]
            if Path(f"/proc/{p}/cmdline").read_bytes() == Path(f"/proc/{ppid}/cmdline").read_bytes():
                continue
        except OSError:
            continue
        out.append(p)
    return out


class Usage:
    """Samples the server's process tree every 0.25 s: peak RSS (sum), CPU seconds used (sum, incl. exited)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss_mb = 0.0
        self.peak_pss_mb = 0.0
        #: the processes of the sample with the highest PSS: (pid, command line, RSS MB, PSS MB)
        self.peak_parts: list[tuple[int, str, float, float]] = []
        self.cpu: dict[int, float] = {}
        #: the ``quarterdeck worker`` processes among them
        self.workers: set[int] = set()
        self.task: asyncio.Task[None] | None = None
        self.tick = os.sysconf("SC_CLK_TCK")
        self.page = os.sysconf("SC_PAGE_SIZE")

    def sample(self) -> None:
        rss = pss = 0
        parts: list[tuple[int, str, float, float]] = []
        for p in _python_tree(self.pid):
            try:
                stat = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
                own_rss = int(Path(f"/proc/{p}/statm").read_text().split()[1]) * self.page
                rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
                cmdline = Path(f"/proc/{p}/cmdline").read_bytes()
                if p not in self.workers and b"\0worker\0" in cmdline:
                    self.workers.add(p)
            except OSError:
                continue
            own_pss = sum(int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:"))
            rss += own_rss
            pss += own_pss
            command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
            parts.append((p, command[-70:], own_rss / 2**20, own_pss / 2**20))
            self.cpu[p] = (int(stat[11]) + int(stat[12])) / self.tick
        self.peak_rss_mb = max(self.peak_rss_mb, rss / 2**20)
        if pss / 2**20 > self.peak_pss_mb:
            self.peak_pss_mb = pss / 2**20
            self.peak_parts = parts

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.25)  # a sampling period, not synchronisation

    def cpu_s(self) -> tuple[float, float]:
        """CPU seconds so far of the API processes and of the worker processes."""
        workers = sum(cpu for pid, cpu in self.cpu.items() if pid in self.workers)
        return sum(self.cpu.values()) - workers, workers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _plan(tasks: int, seconds: float, interval: float) -> dict[str, Any]:
    lines = max(1, round(seconds / interval))
    script = (
        f'for i in $(seq {lines}); do echo "line $i of the agent\'s work, printed as it goes"; sleep {interval}; done'
    )
    return {
        "name": f"load-{tasks}",
        "defaults": {"runtime": "shell", "max_attempts": 1, "timeout_s": 600, "verify": []},
        "tasks": [
            {"id": f"t{i:03d}", "title": f"Printing agent {i}", "options": {"script": script}} for i in range(tasks)
        ],
    }


async def _create_pg(pg_url: str) -> tuple[str, str]:
    name = f"qd_bench_load_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = pg_url.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


async def _drop_pg(pg_url: str, name: str) -> None:
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _forget_redis(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _table_events(db_url: str, run_id: str) -> list[tuple[int, str | None, str, float]]:
    """The run's events as the table holds them (the record every subscriber must have received):
    id, task, type and ``created_at`` (epoch seconds)."""
    from quarterdeck.store import events as event_store
    from quarterdeck.store.database import Database

    async def read() -> list[tuple[int, str | None, str, float]]:
        db = Database(db_url)
        try:
            out: list[tuple[int, str | None, str, float]] = []
            async with db.read() as conn:
                while True:
                    rows = await event_store.read_event_log(
                        conn, after_id=out[-1][0] if out else 0, run_ids=frozenset({run_id}), limit=5000
                    )
                    out += [(r.id, r.task_id, r.type, r.created_at.timestamp()) for r in rows]
                    if len(rows) < 5000:
                        return out
        finally:
            await db.dispose()

    return asyncio.run(read())


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- one measurement -----------------------------------------------------------------------------


def measure(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qd-bench-load-") as tmp_dir:
        tmp = Path(tmp_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
        env |= {"QUARTERDECK_STATE_DIR": str(tmp / "state"), "QUARTERDECK_SECRET_KEY": "load-" + "k" * 40}
        env["QUARTERDECK_REPO_ROOTS"] = json.dumps([str(tmp / "repo")])  # the runs name their repository by path
        env |= {k: v for k, v in (kv.split("=", 1) for kv in args.env)}
        if args.src:
            env["PYTHONPATH"] = str(Path(args.src).resolve())  # another checkout's quarterdeck, for A/B runs
        pg_name = None
        prefix = f"qdload:{secrets.token_hex(4)}:"
        if backend == "postgresql":
            pg_name, db_url = asyncio.run(_create_pg(args.pg_url))
            env["QUARTERDECK_DATABASE_URL"] = db_url
            env["QUARTERDECK_REDIS_URL"] = args.redis_url
            env["QUARTERDECK_BUS_PREFIX"] = prefix
        else:
            db_url = f"sqlite:///{tmp / 'state' / 'quarterdeck.db'}"
            env["QUARTERDECK_DATABASE_URL"] = db_url
            if args.processes > 1:
                env["QUARTERDECK_REDIS_URL"] = args.redis_url
                env["QUARTERDECK_BUS_PREFIX"] = prefix
        qd = [sys.executable, "-m", "quarterdeck"]
        subprocess.run([*qd, "db", "upgrade"], env=env, check=True, capture_output=True)
        user = ["user", "create", "--email", EMAIL, "--name", "Load", "--role", "admin", "--password-stdin"]
        subprocess.run([*qd, *user], env=env, input=PASSWORD, text=True, check=True, capture_output=True)
        repo = tmp / "repo"
        repo.mkdir()
        git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
        subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "init"], cwd=repo, check=True)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        command = [*qd, "serve", "--port", str(port), "--workers", str(args.workers or args.tasks)]
        if args.processes > 1:
            command += ["--processes", str(args.processes)]
        command += args.serve_arg
        log = (tmp / "serve.log").open("w")
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("quarterdeck serve did not start:\n" + (tmp / "serve.log").read_text()[-3000:])
                time.sleep(0.1)
            time.sleep(1.0)  # every API process of --processes up, not only the first to answer
            with httpx.Client(base_url=base, timeout=60) as client:
                login = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
                login.raise_for_status()
                token = login.json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                # A warm-up run of one short task: the first run's imports and caches are not the load's.
                warm = _plan(1, 0.2, 0.1) | {"name": "warm-up"}
                created = client.post("/api/v1/runs", json={"plan": warm, "repo": str(repo)}, headers=headers)
                created.raise_for_status()
                while client.get(f"/api/v1/runs/{created.json()['id']}", headers=headers).json()["status"] == "running":
                    time.sleep(0.1)
                # The subscribers follow what happens from now on; the run starts once they are all connected.
                subs = {"role": "subscribers", "port": port, "token": token, "n": args.subscribers}
                subs |= {"until": time.monotonic() + 60 + args.seconds + args.timeout, "batch": args.ws_batch}
                subs["out"] = str(tmp / "subscribers.json")
                clients = [subprocess.Popen([sys.executable, __file__, "--client", json.dumps(subs)])]
                ready = Path(subs["out"] + ".ready")
                deadline = time.monotonic() + 60
                while not ready.exists():
                    if clients[0].poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("the subscribers did not connect")
                    time.sleep(0.05)  # waiting for another process's file
                usage = Usage(server.pid)
                usage.sample()
                cpu0 = usage.cpu_s()
                load0 = os.getloadavg()[0]
                started = time.monotonic()
                created = client.post(
                    "/api/v1/runs",
                    json={"plan": _plan(args.tasks, args.seconds, args.interval), "repo": str(repo)},
                    headers=headers,
                )
                created.raise_for_status()
                run_id = created.json()["id"]
            spec = {"role": "readers", "port": port, "token": token, "run_id": run_id, "tasks": args.tasks}
            spec |= {"n": args.readers, "until": started + args.seconds, "out": str(tmp / "readers.json")}
            clients.append(subprocess.Popen([sys.executable, __file__, "--client", json.dumps(spec)]))

            async def watch() -> None:
                task = asyncio.create_task(usage.run())
                await asyncio.gather(*(asyncio.to_thread(c.wait) for c in clients))
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

            asyncio.run(watch())
            outs = [
                json.loads(p.read_text()) if p.exists() else {}
                for p in (tmp / "subscribers.json", tmp / "readers.json")
            ]
            usage.sample()
            cpu = [after - before for after, before in zip(usage.cpu_s(), cpu0, strict=True)]
            wall = time.monotonic() - started
            with httpx.Client(base_url=base, timeout=60) as client:
                run = client.get(f"/api/v1/runs/{run_id}", headers=headers).json()
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
        rows = _table_events(db_url, run_id)
        table = [row[0] for row in rows]
        if args.keep_db and backend == "sqlite":
            keep = Path(args.keep_db)
            keep.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["sqlite3", db_url.removeprefix("sqlite:///"), f".backup {keep}"], check=True)
            print(f"  the database is kept as {keep} (run {run_id})")
        if pg_name is not None and args.keep_db:
            print(f"  the database is kept: {db_url} (run {run_id})")
        elif pg_name is not None:
            asyncio.run(_drop_pg(args.pg_url, pg_name))
        if "QUARTERDECK_REDIS_URL" in env:
            _forget_redis(args.redis_url, prefix)
        serve_log = (tmp / "serve.log").read_text()

    subs: list[dict[str, Any]] = outs[0].get("subscribers", [])
    reads: dict[str, Any] = outs[1]
    errors = list(reads.get("errors", []))
    lost = dupes = 0
    delays: list[float] = []
    finished = []
    expected = set(table)
    for sub in subs:
        if sub["error"]:
            errors.append("subscriber: " + sub["error"])
        got = sub["ids"]
        lost += len(expected - set(got))
        dupes += len(got) - len(set(got)) + sum(1 for a, b in itertools.pairwise(got) if b <= a)
        delays += sub["delays"]
        if sub["finished_at"] is not None:
            finished.append(sub["finished_at"] - started)
    created_at = datetime.fromisoformat(run["created_at"])
    finished_at = datetime.fromisoformat(run["finished_at"]) if run.get("finished_at") else None
    return {
        "backend": backend + (" + redis" if "QUARTERDECK_REDIS_URL" in env else ""),
        "status": run["status"],
        "latencies": reads.get("latencies", {}),
        "delays": delays,
        "events": len(table),
        "lost": lost,
        "dupes": dupes,
        "errors": errors,
        "makespan_s": (finished_at - created_at).total_seconds() if finished_at else float("nan"),
        "seen_finished_s": max(finished) if finished else float("nan"),
        "rss_mb": usage.peak_rss_mb,
        "peak_parts": usage.peak_parts,
        "pss_mb": usage.peak_pss_mb,
        "cpu_pct": sum(cpu) / wall * 100,
        "cpu_s": cpu,
        "load": (load0, os.getloadavg()[0]),
        "tracebacks": serve_log.count("Traceback"),
        "first_traceback": serve_log[serve_log.find("Traceback") - 300 :][:3000] if "Traceback" in serve_log else "",
        "phases": _phases(rows, created_at.timestamp()),
    }


#: a task's milestones, in the order an attempt reaches them (engine/attempt.py)
_MILESTONES = (
    "task.claimed",
    "workspace.ready",
    "agent.output",
    "agent.result",
    "commit.created",
    "merge.started",
    "merge.done",
    "task.succeeded",
)


def _phases(rows: list[tuple[int, str | None, str, float]], created: float) -> list[tuple[str, float, float, float]]:
    """Where the makespan went: for each milestone (its first event per task), when the first and the last
    task reached it (s after the run's creation) and the p50 of the time since the task's previous milestone."""
    seen: dict[str, dict[str, float]] = {}
    for _, task, kind, at in rows:
        if task is not None and kind in _MILESTONES:
            seen.setdefault(task, {}).setdefault(kind, at)
    out = []
    for i, kind in enumerate(_MILESTONES):
        times = [m[kind] for m in seen.values() if kind in m]
        if not times:
            continue
        steps = [m[kind] - m[_MILESTONES[i - 1]] for m in seen.values() if i and kind in m and _MILESTONES[i - 1] in m]
        out.append((kind, min(times) - created, max(times) - created, _pct(steps, 50) if steps else float("nan")))
    return out


def _row(name: str, values: list[float]) -> str:
    return f"  {name:<14}{len(values):>7}{_pct(values, 50):>9.1f}{_pct(values, 95):>9.1f}{_pct(values, 99):>9.1f}"


def _report_phases(r: dict[str, Any]) -> None:
    print("  where the makespan went (s after the run's creation: first task, last task; p50 since the previous):")
    for kind, first, last, step in r["phases"]:
        print(f"    {kind:<16} {first:7.2f} {last:7.2f}   step p50 {step:6.2f}")


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    load = f"load average {r['load'][0]:.2f} → {r['load'][1]:.2f}"
    print(f"\n== {r['backend']}: run {r['status']}, {r['events']} events, {load}")
    print(f"  {'API route':<14}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    every: list[float] = []
    for route, values in r["latencies"].items():
        every += values
        print(_row(route, values))
    print(_row("all", every) + "  (goal p95 < 200)")
    d = r["delays"]
    print(
        f"  event delivery ms: p50 {_pct(d, 50):.1f}  p95 {_pct(d, 95):.1f}  p99 {_pct(d, 99):.1f}  max "
        f"{max(d) if d else float('nan'):.1f}  ({len(d)} deliveries; goal p95 < 100)"
    )
    print(f"  events lost {r['lost']}, duplicated or out of order {r['dupes']}, errors {len(r['errors'])}")
    for error in sorted(set(r["errors"]))[:8]:
        print(f"    {error}")
    print(
        f"  makespan {r['makespan_s']:.1f} s ({args.tasks} tasks of {args.seconds:g} s; submit → run.finished seen: "
        f"{r['seen_finished_s']:.1f} s)"
    )
    print(
        f"  server: peak RSS {r['rss_mb']:.0f} MB (PSS {r['pss_mb']:.0f}), CPU {r['cpu_pct']:.0f}% of a core over "
        f"the run: {r['cpu_s'][0]:.1f} s API, {r['cpu_s'][1]:.1f} s worker processes; log tracebacks {r['tracebacks']}"
    )
    for pid, command, rss, pss in sorted(r["peak_parts"], key=lambda part: -part[3]):
        print(f"    at the PSS peak: {pss:5.0f} MB PSS {rss:5.0f} MB RSS  pid {pid}  {command}")
    _report_phases(r)
    if r["first_traceback"]:
        print("  the server log's first traceback:\n" + r["first_traceback"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each task prints")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between a task's lines")
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--workers", type=int, default=0, help="serve --workers (default: --tasks)")
    parser.add_argument("--processes", type=int, default=1, help="serve --processes (more than 1: through Redis)")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds the run may take past --seconds")
    parser.add_argument("--quick", action="store_true", help="10 tasks of 5 s, 10 readers, 5 subscribers")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra argument to quarterdeck serve")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server's environment")
    parser.add_argument("--ws-batch", action="store_true", help="subscribers ask for batched messages (batch=true)")
    parser.add_argument("--src", help="serve this checkout's src/ instead (e.g. an older commit, for before/after)")
    parser.add_argument("--keep-db", help="keep the database: SQLite copied to this path, PostgreSQL's not dropped")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    if args.quick:
        args.tasks, args.seconds, args.readers, args.subscribers = 10, 5.0, 10, 5
    print(
        f"{args.tasks} shell tasks printing every {args.interval:g} s for {args.seconds:g} s on serve --workers "
        f"{args.workers or args.tasks}{f' --processes {args.processes}' if args.processes > 1 else ''}; "
        f"{args.readers} API readers, {args.subscribers} WebSocket subscribers; {os.cpu_count()} cores; "
        f"serving {args.src or 'this checkout'}"
    )
    for backend in [b.strip() for b in args.backend.split(",") if b.strip()]:
        report(measure(backend, args), args)


if __name__ == "__main__":
    main()
