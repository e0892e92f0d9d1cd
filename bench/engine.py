"""Benchmark: pure orchestration overhead with no-op tasks, Quarterdeck against Celery, Prefect and procrastinate.

Three workloads, 4 worker slots each, on SQLite and on PostgreSQL:

* ``independent`` — N independent no-op tasks; figure: tasks/s (higher is better)
* ``chain``       — a chain of N no-op steps; figure: ms per step (lower is better)
* ``fanout``      — 1 → N → 1 no-op tasks; figure: wall time in s (lower is better)

Every figure is wall clock from the first submit/dispatch call to the moment the client knows the
workload finished (the last outcome is committed). Quarterdeck is fully durable in every figure
(each claim and each outcome is a committed transaction). Peers run in subprocesses
(``bench/peers/*.py``) that print one JSON line per workload.

    .venv/bin/python bench/engine.py [--quick] [--only quarterdeck,celery,...] [--backend sqlite|postgresql|both]

Peers come from the ``bench`` extra: ``pip install -e '.[bench]'``. Celery needs Redis on
127.0.0.1:6379; procrastinate and Quarterdeck-on-PostgreSQL need the server at ``--pg-url``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
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

from quarterdeck.app import Quarterdeck
from quarterdeck.domain.plans import Plan, TaskSpec
from quarterdeck.engine.attempt import AttemptOutcome
from quarterdeck.settings import Settings
from quarterdeck.store import runs as run_store

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
PEERS_DIR = HERE / "peers"
SLOTS = 4
SYSTEMS = ("quarterdeck", "celery", "prefect", "procrastinate")
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


def run_peer(system: str, sizes: Sizes, pg_url: str, report: Report, timeout_s: float) -> None:
    """Run ``bench/peers/<system>_peer.py`` and collect its JSON lines."""
    print(f"  {system} …", file=sys.stderr, flush=True)
    script = PEERS_DIR / f"{system}_peer.py"
    args = [
        sys.executable,
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
    versions = ", ".join(
        f"{d} {_version(d)}" for d in ("quarterdeck", "sqlalchemy", "celery", "redis", "prefect", "procrastinate")
    )
    print(f"versions: {versions}")
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
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(only) - set(SYSTEMS):
        parser.error(f"unknown system(s): {', '.join(sorted(unknown))}")
    sizes = QUICK if args.quick else FULL
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    report = Report()
    print(f"running {', '.join(only)} …", file=sys.stderr, flush=True)
    if "quarterdeck" in only:
        run_quarterdeck(backends, sizes, args.pg_url, report)
    for system in only:
        if system != "quarterdeck":
            run_peer(system, sizes, args.pg_url, report, args.peer_timeout)
    print_report(report, sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
