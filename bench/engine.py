"""Benchmark: scheduling with real durations, and orchestration overhead with no-op tasks against peers.

(d) real durations (``--suite real``): three DAGs of shell tasks that sleep 0.5-3 s (three independent
chains of four behind a quick set-up; a fan-out 1 → 9 → 1; a diamond twice over), each on 3 and 6
slots in all, in one ``quarterdeck worker`` process or spread over three, on SQLite and PostgreSQL.
Figure: the run's makespan (``finished_at - created_at``) against its lower bound ``max(critical path,
total work / slots)``, where slots are every worker process's together; the target is bound × 1.1 + 1 s
(the second for each task's worktree, commit and landing). Each task's ``estimate`` is its sleep (whoever
writes ``sleep 3`` knows it takes 3 s), so the engine ranks ready tasks by the estimated time behind them;
beside it, two list schedules without overhead: blind to durations, and ranking by the estimates.

No-op workloads (``--suite noop``), 4 worker slots each, Quarterdeck on SQLite and on PostgreSQL:

* ``independent`` — N independent no-op tasks; figure: tasks/s (higher is better)
* ``chain``       — a chain of N no-op steps; figure: ms per step (lower is better)
* ``fanout``      — 1 → N → 1 no-op tasks; figure: wall time in s (lower is better)

Every no-op figure is wall clock from the first submit/dispatch call to the moment the client knows the
workload finished (the last outcome is committed). Quarterdeck is fully durable in every figure
(each claim and each outcome is a committed transaction). Peers (Celery, Prefect, procrastinate, saq)
run in subprocesses (``bench/peers/*.py``) that print one JSON line per workload, in an environment of
their own that this script makes on first use (``bench/.venv-peers`` from ``bench/peers/requirements.txt``,
downloads cached in ``.cache/pip``): their pins never hold back the product's dependencies.

    .venv/bin/python bench/engine.py [--suite noop|real|both] [--quick] [--only quarterdeck,celery,...]
                                     [--backend sqlite|postgresql|both]

Celery and saq need Redis on 127.0.0.1:6379; procrastinate and Quarterdeck-on-PostgreSQL need the
server at ``--pg-url``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.metadata
import itertools
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from quarterdeck.app import Quarterdeck, RunView
from quarterdeck.domain.plans import Plan, TaskSpec
from quarterdeck.engine.attempt import AttemptOutcome
from quarterdeck.settings import Settings
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
PEERS_DIR = HERE / "peers"
#: the peers' own environment, made by ``peers_python`` from ``peers/requirements.txt`` (ignored by git)
PEERS_VENV = HERE / ".venv-peers"
PEERS_REQUIREMENTS = PEERS_DIR / "requirements.txt"
PEER_DISTS = ("celery", "redis", "prefect", "fastapi", "procrastinate", "saq")
SLOTS = 4
SYSTEMS = ("quarterdeck", "celery", "prefect", "procrastinate", "saq")
WORKLOADS = ("independent", "chain", "fanout")
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379"


@dataclass(frozen=True, slots=True)
class Sizes:
    independent: int
    chain: int
    fanout: int

    def of(self, workload: str) -> int:
        return int(getattr(self, workload))


FULL = Sizes(independent=1000, chain=200, fanout=500)
QUICK = Sizes(independent=200, chain=50, fanout=100)


@dataclass(frozen=True, slots=True)
class Result:
    """One workload on one system and backend: its wall time, and the engine's own stored duration if any."""

    system: str
    backend: str
    workload: str
    n: int
    wall_s: float
    stored_s: float | None = None
    #: CPU seconds of this process (all threads) for the workload: Quarterdeck only, and unlike wall
    #: time hardly affected by other load on the machine
    cpu_s: float | None = None

    @property
    def figure(self) -> float:
        if self.workload == "independent":
            return self.n / self.wall_s
        if self.workload == "chain":
            return self.wall_s * 1000 / self.n
        return self.wall_s


@dataclass(slots=True)
class Report:
    results: list[Result] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    makespans: list[Makespan] = field(default_factory=list)
    #: the peers' package versions (from their own environment)
    peer_versions: dict[str, str] = field(default_factory=dict)


# -- Quarterdeck ----------------------------------------------------------------------------


def plan_for(workload: str, n: int, tag: str) -> Plan:
    """The workload as a plan of ``noop`` tasks."""
    if workload == "independent":
        specs = [TaskSpec(id=f"t{i}", title=f"t{i}", runtime="noop") for i in range(n)]
    elif workload == "chain":
        specs = [
            TaskSpec(id=f"s{i}", title=f"s{i}", runtime="noop", depends_on=(f"s{i - 1}",) if i else ())
            for i in range(n)
        ]
    elif workload == "fanout":
        leaves = [TaskSpec(id=f"leaf{i}", title=f"leaf{i}", runtime="noop", depends_on=("root",)) for i in range(n)]
        specs = [
            TaskSpec(id="root", title="root", runtime="noop"),
            *leaves,
            TaskSpec(id="join", title="join", runtime="noop", depends_on=tuple(t.id for t in leaves)),
        ]
    else:
        raise ValueError(workload)
    return Plan(name=f"bench-{workload}-{tag}", tasks=tuple(specs))


def make_repo(root: Path) -> Path:
    """A tiny git repository with one commit: ``submit`` needs one even for no-op tasks."""
    repo = root / "repo"
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@invalid",
    }
    (repo / "README").write_text("bench\n")
    for args in (["init", "-q", "-b", "main"], ["add", "README"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    return repo


@contextlib.asynccontextmanager
async def postgres_database(base_url: str) -> AsyncIterator[str]:
    """A fresh database on the server of ``base_url``, dropped afterwards."""
    import asyncpg

    name = f"qd_bench_{secrets.token_hex(4)}"
    url = make_url(base_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def qd_workload(app: Quarterdeck, repo: Path, workload: str, n: int, backend: str) -> Result:
    """Submit the workload, serve it with one 4-slot worker, and time it until its run is finished."""
    plan = plan_for(workload, n, secrets.token_hex(3))
    done = asyncio.Event()

    def on_outcome(outcome: AttemptOutcome) -> None:
        if outcome.run_finished:
            done.set()

    start, cpu = time.perf_counter(), time.process_time()
    run = await app.submit(plan, repo=repo)
    worker = app.worker(slots=SLOTS, run_id=run.id)
    worker.on_outcome = on_outcome
    serving = asyncio.create_task(worker.serve())
    try:
        while not done.is_set():  # the callback ends the wait; the poll is a safety net only
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 1.0)
            if done.is_set():
                break
            if serving.done():
                serving.result()
                raise RuntimeError("the worker stopped before the run finished")
            async with app.db.read() as conn:  # the run row only: reading every task would load the engine
                if (await run_store.read_run(conn, run.id)).status.terminal:
                    break
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    finally:
        worker.should_exit = True
        worker.wake()
        await serving
    view = await app.view(run.id)
    if str(view.run.status) != "succeeded":
        raise RuntimeError(f"run {run.id} ended {view.run.status}")
    stored = (view.run.finished_at - view.run.created_at).total_seconds() if view.run.finished_at else None
    return Result("quarterdeck", backend, workload, n, wall, stored, cpu)


async def qd_backend(backend: str, sizes: Sizes, pg_url: str) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="qd-bench-") as tmp:
        root = Path(tmp)
        repo = make_repo(root)
        async with contextlib.AsyncExitStack() as stack:
            if backend == "sqlite":
                url = f"sqlite:///{root / 'quarterdeck.db'}"
            else:
                url = await stack.enter_async_context(postgres_database(pg_url))
            settings = Settings(database_url=url, state_dir=root / "state", poll_max_s=0.5)
            app = await stack.enter_async_context(Quarterdeck(settings))
            await qd_workload(app, repo, "independent", 20, backend)  # warm-up: pools, caches, imports
            return [await qd_workload(app, repo, w, sizes.of(w), backend) for w in WORKLOADS]


def run_quarterdeck(backends: list[str], sizes: Sizes, pg_url: str, report: Report) -> None:
    for backend in backends:
        print(f"  quarterdeck on {backend} …", file=sys.stderr, flush=True)
        try:
            report.results += asyncio.run(qd_backend(backend, sizes, pg_url))
        except Exception as exc:
            report.skipped.append((f"quarterdeck/{backend}", f"{type(exc).__name__}: {exc}"))


# -- real durations: makespan against the DAG's lower bound --------------------------------


@dataclass(frozen=True, slots=True)
class Dag:
    """A plan of shell tasks that sleep: ``tasks`` maps an id to (seconds, dependencies), in plan order."""

    name: str
    tasks: dict[str, tuple[float, tuple[str, ...]]]

    def critical_path_s(self) -> float:
        """The longest sum of durations along a chain of dependencies."""
        finish: dict[str, float] = {}
        for task_id, (seconds, deps) in self.tasks.items():  # plan order is a topological order here
            finish[task_id] = seconds + max((finish[d] for d in deps), default=0.0)
        return max(finish.values())

    def work_s(self) -> float:
        return sum(seconds for seconds, _ in self.tasks.values())

    def lower_bound_s(self, slots: int) -> float:
        """No schedule on ``slots`` slots in all (every worker's together) ends sooner."""
        return max(self.critical_path_s(), self.work_s() / slots)

    def list_schedule_s(self, slots: int, *, estimates: bool) -> float:
        """What a work-conserving scheduler gets without any overhead: whenever a slot is free it starts the
        ready task the engine ranks first — with ``estimates``, the longest estimated time behind it (here the
        exact durations), then the longest chain of tasks behind it, then plan order; without, blind to
        durations, the chain of tasks and plan order alone. A list schedule may miss the lower bound."""
        order = list(self.tasks)
        below: dict[str, int] = {}
        behind: dict[str, float] = {}
        for task_id in reversed(order):
            after = [t for t in order if task_id in self.tasks[t][1]]
            below[task_id] = 1 + max((below[t] for t in after), default=0)
            behind[task_id] = self.tasks[task_id][0] + max((behind[t] for t in after), default=0.0)
        done_at: dict[str, float] = {}
        running: list[tuple[float, str]] = []
        now, waiting = 0.0, list(order)
        while waiting or running:
            ready = [t for t in waiting if all(d in done_at and done_at[d] <= now for d in self.tasks[t][1])]
            ready.sort(key=lambda t: (-behind[t] if estimates else 0.0, -below[t], order.index(t)))
            while ready and len(running) < slots:
                task_id = ready.pop(0)
                waiting.remove(task_id)
                running.append((now + self.tasks[task_id][0], task_id))
            running.sort()
            now, task_id = running.pop(0)
            done_at[task_id] = now
        return now


def _chain(prefix: str, seconds: list[float], first_deps: tuple[str, ...]) -> dict[str, tuple[float, tuple[str, ...]]]:
    steps: dict[str, tuple[float, tuple[str, ...]]] = {}
    for i, s in enumerate(seconds):
        steps[f"{prefix}{i + 1}"] = (s, (f"{prefix}{i}",) if i else first_deps)
    return steps


#: a quick set-up, then three independent chains of four; a fan-out 1 → 9 → 1; a diamond twice over
DAGS = (
    Dag(
        "chains",
        {
            "setup": (0.5, ()),
            **_chain("a", [2.0, 1.0, 3.0, 0.5], ("setup",)),
            **_chain("b", [1.0, 2.5, 1.0, 2.0], ("setup",)),
            **_chain("c", [3.0, 0.5, 1.5, 1.0], ("setup",)),
        },
    ),
    Dag(
        "fanout",
        {
            "root": (0.5, ()),
            **{f"leaf{i}": (s, ("root",)) for i, s in enumerate([3.0, 1.0, 2.0, 0.5, 2.5, 1.5, 3.0, 1.0, 2.0])},
            "join": (0.5, tuple(f"leaf{i}" for i in range(9))),
        },
    ),
    Dag(
        "diamond",
        {
            "a": (1.0, ()),
            "b": (2.0, ("a",)),
            "c": (3.0, ("a",)),
            "d": (1.0, ("b", "c")),
            "e": (0.5, ("d",)),
            "f": (2.5, ("d",)),
            "g": (1.0, ("e", "f")),
        },
    ),
)
#: (worker processes, slots each): 3 and 6 slots in all, in one process or spread over three
LAYOUTS = ((1, 3), (1, 6), (3, 1), (3, 2))


@dataclass(frozen=True, slots=True)
class Makespan:
    """One DAG run with real durations: its makespan against what the DAG allows."""

    backend: str
    dag: str
    workers: int
    slots: int  # in all, over every worker process
    makespan_s: float
    lower_bound_s: float
    #: a list schedule without overhead, blind to durations (``Dag.list_schedule_s``)
    list_schedule_s: float
    #: the same, ranking by the estimated time behind each task (the plan gives every task its sleep as estimate)
    list_estimated_s: float
    #: mean of (a task's time from its claim to its end) - (its sleep): worktree, commit and landing
    overhead_s: float
    #: how many tasks each worker process ran
    spread: tuple[int, ...]
    #: summed over tasks, the time a task was ready (its dependencies had landed) and not started while
    #: fewer than ``slots`` tasks ran: what a work-conserving scheduler keeps near zero
    idle_wait_s: float
    #: the longest such wait of one task
    idle_wait_max_s: float
    #: from the run's creation to its first task's start: the idle workers hearing of the new run
    first_start_s: float

    @property
    def target_s(self) -> float:
        return self.lower_bound_s * 1.1 + 1.0


def dag_plan(dag: Dag, tag: str) -> Plan:
    specs = [
        TaskSpec(
            id=task_id,
            title=task_id,
            runtime="shell",
            options={"script": f"sleep {seconds}; echo {task_id} > {task_id}.txt"},
            depends_on=deps,
            estimate_s=seconds,  # whoever writes ``sleep 3`` knows it takes 3 s
        )
        for task_id, (seconds, deps) in dag.tasks.items()
    ]
    return Plan(name=f"bench-{dag.name}-{tag}", tasks=tuple(specs))


@contextlib.contextmanager
def worker_processes(count: int, slots: int, env: dict[str, str]) -> Iterator[list[subprocess.Popen[str]]]:
    """``count`` ``quarterdeck worker`` processes, each up (it said so) before this yields; drained at the end."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "quarterdeck", "worker", "--slots", str(slots)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for _ in range(count)
    ]
    try:
        for proc in procs:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            if "serving" not in line:
                raise RuntimeError(f"a worker did not start: {line}{proc.stderr.read()[-2000:]}")
        yield procs
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()


async def _makespan(app: Quarterdeck, repo: Path, dag: Dag, backend: str, workers: int, slots: int) -> Makespan:
    plan = dag_plan(dag, secrets.token_hex(3))
    run = await app.submit(plan, repo=repo)
    deadline = time.monotonic() + 300
    while True:
        async with app.db.read() as conn:
            if (await run_store.read_run(conn, run.id)).status.terminal:
                break
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run.id} of {dag.name} did not end within 300 s")
        await asyncio.sleep(0.05)
    view = await app.view(run.id)
    if str(view.run.status) != "succeeded" or view.run.finished_at is None:
        raise RuntimeError(f"run {run.id} of {dag.name} ended {view.run.status}")
    by_worker: dict[str, int] = {}
    overheads = []
    async with app.db.read() as conn:
        for task in view.tasks:
            for attempt in await task_store.read_attempts(conn, task.pk):
                by_worker[attempt.worker_id] = by_worker.get(attempt.worker_id, 0) + 1
            if task.started_at is not None and task.finished_at is not None:
                spent = (task.finished_at - task.started_at).total_seconds()
                overheads.append(spent - dag.tasks[task.id][0])
    total = workers * slots
    waits = _idle_waits(view, dag, total)
    return Makespan(
        backend=backend,
        dag=dag.name,
        workers=workers,
        slots=total,
        makespan_s=(view.run.finished_at - view.run.created_at).total_seconds(),
        lower_bound_s=dag.lower_bound_s(total),
        list_schedule_s=dag.list_schedule_s(total, estimates=False),
        list_estimated_s=dag.list_schedule_s(total, estimates=True),
        overhead_s=sum(overheads) / len(overheads),
        spread=tuple(sorted(by_worker.values(), reverse=True)),
        idle_wait_s=sum(waits),
        idle_wait_max_s=max(waits),
        first_start_s=min((t.started_at - view.run.created_at).total_seconds() for t in view.tasks if t.started_at),
    )


def _idle_waits(view: RunView, dag: Dag, slots: int) -> list[float]:
    """For each task, how long it was ready and not started while fewer than ``slots`` tasks were running."""
    base = view.run.created_at
    spans = {
        t.id: ((t.started_at - base).total_seconds(), (t.finished_at - base).total_seconds())
        for t in view.tasks
        if t.started_at is not None and t.finished_at is not None
    }
    waits = []
    for task_id, (start, _) in spans.items():
        ready = max((spans[d][1] for d in dag.tasks[task_id][1]), default=0.0)
        cuts = sorted({ready, start, *(x for span in spans.values() for x in span if ready < x < start)})
        idle = 0.0
        for a, b in itertools.pairwise(cuts):
            middle = (a + b) / 2
            if sum(1 for s, e in spans.values() if s <= middle < e) < slots:
                idle += b - a
        waits.append(idle)
    return waits


async def real_backend(backend: str, pg_url: str) -> list[Makespan]:
    """Every DAG on every layout of worker processes, on one backend (a fresh database per layout)."""
    results: list[Makespan] = []
    for workers, slots in LAYOUTS:
        with tempfile.TemporaryDirectory(prefix="qd-bench-real-") as tmp:
            root = Path(tmp)
            repo = make_repo(root)
            async with contextlib.AsyncExitStack() as stack:
                if backend == "sqlite":
                    url = f"sqlite:///{root / 'quarterdeck.db'}"
                else:
                    url = await stack.enter_async_context(postgres_database(pg_url))
                settings = Settings(database_url=url, state_dir=root / "state")
                app = await stack.enter_async_context(Quarterdeck(settings))  # (migrates the database)
                env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
                env |= {"QUARTERDECK_DATABASE_URL": url, "QUARTERDECK_STATE_DIR": str(root / "state")}
                with worker_processes(workers, slots, env):
                    for dag in DAGS:
                        result = await _makespan(app, repo, dag, backend, workers, slots)
                        print(
                            f"    {backend} {dag.name} {workers}×{slots}: {result.makespan_s:.2f} s "
                            f"(bound {result.lower_bound_s:.2f} s)",
                            file=sys.stderr,
                            flush=True,
                        )
                        results.append(result)
    return results


def run_real(backends: list[str], pg_url: str) -> tuple[list[Makespan], list[tuple[str, str]]]:
    results: list[Makespan] = []
    skipped: list[tuple[str, str]] = []
    for backend in backends:
        print(f"  quarterdeck real durations on {backend} …", file=sys.stderr, flush=True)
        try:
            results += asyncio.run(real_backend(backend, pg_url))
        except Exception as exc:
            skipped.append((f"real/{backend}", f"{type(exc).__name__}: {exc}"))
    return results, skipped


def print_makespans(results: list[Makespan]) -> None:
    print()
    print("(d) real durations (shell sleeps of 0.5-3 s): makespan against its lower bound")
    print("    bound: max(critical path, total work / slots)")
    print("    slots: in all, over every worker process; target: bound × 1.1 + 1 s; list: a work-conserving")
    print("    schedule without overhead, blind to durations / ranking by estimated time behind a task (each")
    print("    task's estimate is its sleep, as the engine ranks them); overhead: mean (claim → end) - sleep;")
    print("    idle-wait: total (longest) time tasks were ready, not started, while a slot was free;")
    print("    first: from the run's creation to its first task's start")
    print(
        f"  {'backend':<12}{'DAG':<9}{'workers×slots':>14}{'makespan s':>12}{'bound s':>9}{'list s':>13}"
        f"{'target s':>10}{'met':>5}{'overhead s':>12}{'idle-wait s':>13}{'first s':>9}  tasks per worker"
    )
    for r in results:
        layout = f"{r.workers}×{r.slots // r.workers}"
        met = "yes" if r.makespan_s <= r.target_s else "NO"
        lists = f"{r.list_schedule_s:.2f} / {r.list_estimated_s:.2f}"
        print(
            f"  {r.backend:<12}{r.dag:<9}{layout:>14}{r.makespan_s:>12.2f}{r.lower_bound_s:>9.2f}"
            f"{lists:>13}{r.target_s:>10.2f}{met:>5}{r.overhead_s:>12.2f}"
            f"{f'{r.idle_wait_s:.2f} ({r.idle_wait_max_s:.2f})':>13}{r.first_start_s:>9.2f}  {list(r.spread)}"
        )


# -- peers ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _process_group(args: list[str], env: dict[str, str], timeout_s: float) -> Iterator[subprocess.Popen[str]]:
    """A subprocess in its own session; its whole process group is terminated, then killed, on exit."""
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        yield proc
    finally:
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(wait)
                # the leader is gone; make sure its children went with it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                break
            except subprocess.TimeoutExpired:
                continue


def peers_python() -> Path:
    """The interpreter of the peers' own environment (``bench/.venv-peers``), made on first use and brought
    up to date when ``peers/requirements.txt`` changes. The peers' pins (Prefect's server needs
    fastapi < 0.155) stay there and never hold back the product's dependencies; downloads are cached in
    ``.cache/pip``."""
    python = PEERS_VENV / "bin" / "python"
    stamp = PEERS_VENV / ".installed"
    wanted = hashlib.sha256(PEERS_REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"  making the peers' environment {PEERS_VENV} …", file=sys.stderr, flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    env = {**os.environ, "PIP_CACHE_DIR": str(HERE.parent / ".cache" / "pip"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [str(python), "-m", "pip", "install", "--quiet", "-r", str(PEERS_REQUIREMENTS)]
    subprocess.run(pip, check=True, env=env)
    stamp.write_text(wanted)
    return python


def peer_versions(python: Path) -> dict[str, str]:
    """The peers' package versions, as installed in their environment."""
    code = (
        "import importlib.metadata as m, json\n"
        "def v(d):\n"
        "    try:\n"
        "        return m.version(d)\n"
        "    except m.PackageNotFoundError:\n"
        "        return 'not installed'\n"
        f"print(json.dumps({{d: v(d) for d in {PEER_DISTS!r}}}))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out))


def run_peer(python: Path, system: str, sizes: Sizes, pg_url: str, report: Report, timeout_s: float) -> None:
    """Run ``bench/peers/<system>_peer.py`` in the peers' environment and collect its JSON lines."""
    print(f"  {system} …", file=sys.stderr, flush=True)
    script = PEERS_DIR / f"{system}_peer.py"
    args = [
        str(python),
        str(script),
        f"--independent={sizes.independent}",
        f"--chain={sizes.chain}",
        f"--fanout={sizes.fanout}",
        f"--slots={SLOTS}",
        f"--pg-url={pg_url}",
        f"--redis-url={REDIS_URL}",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PEERS_DIR), os.environ.get("PYTHONPATH", "")])}
    with _process_group(args, env, timeout_s) as proc:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            report.skipped.append((system, f"did not finish within {timeout_s:.0f} s"))
            return
    got = 0
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        data = json.loads(line)
        if "skip" in data:
            report.skipped.append((system, data["skip"]))
            continue
        report.results.append(Result(system, data["backend"], data["workload"], int(data["n"]), float(data["wall_s"])))
        got += 1
    if got < len(WORKLOADS) and not any(what == system for what, _ in report.skipped):
        errors = [line for line in err.splitlines() if "Error" in line or "error" in line] or err.splitlines()
        tail = "\n      ".join(line.strip()[:200] for line in errors[-4:])
        report.skipped.append((system, f"{got} of {len(WORKLOADS)} workloads (exit {proc.returncode}):\n      {tail}"))


# -- output ---------------------------------------------------------------------------------

_UNITS = {"independent": "tasks/s", "chain": "ms/step", "fanout": "wall s"}
_TITLES = {
    "independent": "(a) {n} independent tasks — tasks/s, higher is better",
    "chain": "(b) a chain of {n} — ms per step, lower is better",
    "fanout": "(c) fan-out 1 → {n} → 1 — wall time in s, lower is better",
}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _ratio(qd: Result, peer: Result) -> float:
    """Quarterdeck's advantage: >1 means Quarterdeck is better."""
    if qd.workload == "independent":
        return qd.figure / peer.figure
    return peer.figure / qd.figure


def print_report(report: Report, sizes: Sizes) -> None:
    print()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"
    print(f"machine: {machine}, Python {platform.python_version()}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load} (other work on the machine makes figures noisy)")
    versions = ", ".join(f"{d} {_version(d)}" for d in ("quarterdeck", "sqlalchemy", "asyncpg", "fastapi"))
    print(f"versions: {versions}")
    if report.peer_versions:
        print(f"peers (bench/.venv-peers): {', '.join(f'{d} {v}' for d, v in report.peer_versions.items())}")
    if report.makespans:
        print_makespans(report.makespans)
    print(f"worker slots: {SLOTS}; wall clock from first submit to known completion")
    print("stored s: the run's finished_at - created_at; CPU ms/task: this process's CPU time per task")
    qd = {(r.backend, r.workload): r for r in report.results if r.system == "quarterdeck"}
    qd_backends = [b for b in ("sqlite", "postgresql") if any(k[0] == b for k in qd)]
    for workload in WORKLOADS:
        rows = [r for r in report.results if r.workload == workload]
        if not rows:
            continue
        print()
        print(_TITLES[workload].format(n=sizes.of(workload)))
        head = f"  {'system':<14}{'backend':<12}{_UNITS[workload]:>10}{'wall s':>9}{'stored s':>10}{'CPU ms/task':>13}"
        head += "".join(f"{'QD ' + b + ' ×':>16}" for b in qd_backends)
        print(head)
        for r in rows:
            stored = f"{r.stored_s:.3f}" if r.stored_s is not None else "—"
            line = f"  {r.system:<14}{r.backend:<12}{r.figure:>10.{1 if workload == 'independent' else 3}f}"
            cpu = f"{r.cpu_s * 1000 / r.n:.2f}" if r.cpu_s is not None else "—"
            line += f"{r.wall_s:>9.3f}{stored:>10}{cpu:>13}"
            for b in qd_backends:
                mine = qd.get((b, workload))
                cell = "—" if r.system == "quarterdeck" or mine is None else f"{_ratio(mine, r):.2f}"
                line += f"{cell:>16}"
            print(line)
    if report.skipped:
        print()
        print("not measured:")
        for what, why in report.skipped:
            print(f"  {what}: {why}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (200 / 50 / 100)")
    parser.add_argument(
        "--only", default=",".join(SYSTEMS), help=f"comma-separated systems to run (default: all of {SYSTEMS})"
    )
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help="Quarterdeck's database (peers always use their own: Redis, Prefect's SQLite, PostgreSQL)",
    )
    parser.add_argument("--pg-url", default=PG_URL, help="a PostgreSQL server and database to create bench DBs from")
    parser.add_argument("--peer-timeout", type=float, default=240.0, help="seconds each peer may take")
    parser.add_argument(
        "--suite",
        choices=("noop", "real", "both"),
        default="both",
        help="noop: the no-op workloads against the peers; real: real durations against the DAG's lower bound",
    )
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(only) - set(SYSTEMS):
        parser.error(f"unknown system(s): {', '.join(sorted(unknown))}")
    sizes = QUICK if args.quick else FULL
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    report = Report()
    if args.suite in ("real", "both"):
        report.makespans, skipped = run_real(backends, args.pg_url)
        report.skipped += skipped
    if args.suite in ("noop", "both"):
        print(f"running {', '.join(only)} …", file=sys.stderr, flush=True)
        if "quarterdeck" in only:
            run_quarterdeck(backends, sizes, args.pg_url, report)
        peers = [system for system in only if system != "quarterdeck"]
        if peers:
            python = peers_python()
            report.peer_versions = peer_versions(python)
            for system in peers:
                run_peer(python, system, sizes, args.pg_url, report, args.peer_timeout)
    print_report(report, sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
