"""Helpers for running the real agent CLIs in tests: where npm put them, a task context, an event recorder."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from quarterdeck.app import Quarterdeck
from quarterdeck.runtimes import process
from quarterdeck.runtimes.base import RuntimeOptions, TaskContext
from quarterdeck.store.tables import cost_entries

ROOT = Path(__file__).parents[2]
AGENTS_BIN = ROOT / "tools" / "agents" / "node_modules" / ".bin"
REPLAY = Path(__file__).parent / "replay_agent.py"
SAMPLES = ROOT / "tests" / "fixtures" / "agent_samples"


def agent_bin(name: str) -> str:
    """The npm-installed CLI; a clear failure (never a skip) when ``make agents`` has not run."""
    path = AGENTS_BIN / name
    assert path.exists(), f"{path} is missing: run `make agents` (npm ci --prefix tools/agents)"
    return str(path)


@dataclass
class Recorder:
    """An event sink that keeps every event, for assertions."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, type: str, /, **payload: Any) -> None:
        self.events.append((type, payload))

    def of(self, type: str) -> list[dict[str, Any]]:
        return [p for t, p in self.events if t == type]

    def types(self) -> list[str]:
        return [t for t, _ in self.events]


def context(
    tmp_path: Path,
    options: RuntimeOptions,
    *,
    prompt: str = "Create hello.py that prints hi, then run it.",
    attempt: int = 1,
    timeout_s: float = 60.0,
    env: dict[str, str] | None = None,
    **extra: Any,
) -> TaskContext:
    """A task context with a worktree-like directory ``<tmp>/worktrees/run/task``."""
    workdir = tmp_path / "worktrees" / "run" / "task"
    workdir.mkdir(parents=True, exist_ok=True)
    return TaskContext(
        run_id="run",
        task_id="task",
        attempt=attempt,
        title="a task",
        prompt=prompt,
        options=options,
        timeout_s=timeout_s,
        plan_dir=tmp_path,
        workdir=workdir,
        env=process.base_env(env) if env is None or "PATH" not in env else env,
        **extra,
    )


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Wait for ``condition`` with a monotonic deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def processes_in(directory: Path) -> list[int]:
    """Live processes whose working directory is ``directory``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and alive(int(proc.name)):
            try:
                if Path(os.readlink(proc / "cwd")) == directory.resolve():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


async def cost_rows(app: Quarterdeck, run_id: str) -> list[tuple[str, str]]:
    """The run's cost rows as (source, model), in the order they were recorded."""
    query = sa.select(cost_entries.c.source, cost_entries.c.model).where(cost_entries.c.run_id == run_id)
    async with app.db.read() as conn:
        return [(row.source, row.model) for row in await conn.execute(query.order_by(cost_entries.c.id))]
