"""An agent CLI's session on disk and in flight: its per-attempt area, raw JSONL, cost ledger and process.

Each attempt gets ``<worktrees>/<run>/.agents/<task>-<attempt>/``, outside the worktree so nothing in
it is committed. It holds the CLI's own config directory (``CLAUDE_CONFIG_DIR``, ``CODEX_HOME``), the
raw JSON lines of every invocation (``stream-1.jsonl``, ``stream-2.jsonl`` for a follow-up turn, …)
for replay and debugging, and ``sessions.json``, the cumulative cost and tokens per session id: the
CLIs report a resumed session's totals, and Quarterdeck records each run's share.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from quarterdeck.runtimes import process
from quarterdeck.runtimes.agent_events import AgentEvent, sink_event
from quarterdeck.runtimes.base import EventSink, RunResult, TaskContext, TokenUsage

__all__ = ["AgentArea", "LineParser", "Outcome", "Spend", "copy_login", "json_records", "report_usage", "run_agent"]

_LEDGER = "sessions.json"


class LineParser(Protocol):
    """A CLI's JSON-lines parser: one line in, Quarterdeck agent events out."""

    def feed(self, line: str) -> list[AgentEvent]: ...


@dataclass(frozen=True, slots=True)
class Spend:
    """A session's cumulative cost and tokens, as its CLI reports them."""

    cost_usd: float = 0.0
    tokens: TokenUsage = field(default_factory=TokenUsage)

    def since(self, earlier: Spend) -> Spend:
        """What was used after ``earlier`` (never negative)."""
        a, b = self.tokens, earlier.tokens
        return Spend(
            max(0.0, self.cost_usd - earlier.cost_usd),
            TokenUsage(
                max(0, a.input - b.input),
                max(0, a.output - b.output),
                max(0, a.cache_read - b.cache_read),
                max(0, a.cache_write - b.cache_write),
                max(0, a.reasoning - b.reasoning),
            ),
        )


@dataclass(frozen=True, slots=True)
class AgentArea:
    """The attempt's own directory beside the worktrees of its run."""

    root: Path

    @classmethod
    def for_task(cls, task: TaskContext) -> AgentArea:
        """``<run>/.agents/<task>-<attempt>`` when the worktree lies under a directory named for the run."""
        workdir = task.workdir.resolve()
        run_dir = next((p for p in workdir.parents if p.name == task.run_id), workdir.parent)
        area = cls(run_dir / ".agents" / f"{task.task_id}-{task.attempt}")
        area.root.mkdir(parents=True, exist_ok=True)
        return area

    def config_dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def next_log(self) -> Path:
        """A fresh ``stream-N.jsonl`` for this invocation's raw output."""
        n = 1 + sum(1 for _ in self.root.glob("stream-*.jsonl"))
        return self.root / f"stream-{n}.jsonl"

    def _ledger(self) -> dict[str, Any]:
        try:
            data = json.loads((self.root / _LEDGER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def spent(self, session_id: str) -> Spend:
        """What the session has used so far, as recorded in this attempt or an earlier one."""
        for area in (self, *self.siblings()):
            entry = area._ledger().get(session_id)
            if isinstance(entry, dict):
                raw = entry.get("tokens")
                counts = [int(n) for n in raw if isinstance(n, int)] if isinstance(raw, list) else []
                tokens = TokenUsage(*counts[:5]) if len(counts) >= 5 else TokenUsage()
                cost = entry.get("cost_usd")
                return Spend(float(cost) if isinstance(cost, int | float) else 0.0, tokens)
        return Spend()

    def record_spent(self, session_id: str, cumulative: Spend) -> None:
        """Remember what the session has used in all, so a later resume records only its own share."""
        ledger = self._ledger()
        t = cumulative.tokens
        ledger[session_id] = {
            "cost_usd": cumulative.cost_usd,
            "tokens": [t.input, t.output, t.cache_read, t.cache_write, t.reasoning],
        }
        tmp = self.root / f".{_LEDGER}.tmp"
        tmp.write_text(json.dumps(ledger, indent=1), encoding="utf-8")
        tmp.replace(self.root / _LEDGER)

    def siblings(self) -> list[AgentArea]:
        """The areas of the same task's other attempts, newest first."""
        task = self.root.name.rpartition("-")[0]
        found = [p for p in self.root.parent.glob(f"{task}-*") if p != self.root and p.name.rpartition("-")[0] == task]
        return [AgentArea(p) for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]

    def adopt(self, name: str, contains: Callable[[Path], bool]) -> bool:
        """Copy config dir ``name`` from an earlier attempt whose copy ``contains`` the session; False if none."""
        mine = self.config_dir(name)
        if contains(mine):
            return True
        for area in self.siblings():
            theirs = area.root / name
            if theirs.is_dir() and contains(theirs):
                shutil.copytree(theirs, mine, dirs_exist_ok=True, symlinks=True)
                return True
        return False


def copy_login(candidates: Iterable[Path], target: Path) -> None:
    """Copy the first existing login file (a subscription credential) into a fresh config dir."""
    for source in candidates:
        if source.is_file() and not target.exists():
            with contextlib.suppress(OSError):
                shutil.copy2(source, target)
                os.chmod(target, 0o600)
            return


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the CLI process ended: its exit code, or that it timed out or was stopped early, and why."""

    returncode: int
    timed_out: bool = False
    stopped: str | None = None


def json_records(path: Path) -> Iterator[Any]:
    """The records of a CLI's own JSON-lines file (a session it wrote); an unreadable file or a line that is not
    JSON (one being written) is skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    for line in lines:
        try:
            yield json.loads(line)
        except ValueError:
            continue


async def run_agent(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    parser: LineParser,
    events: EventSink,
    log: Path,
    stdin: bytes | None = None,
    should_stop: Callable[[], str | None] | None = None,
    grace_s: float = 5.0,
) -> Outcome:
    """Run the CLI, keep every line in ``log``, parse it and stream the events as they arrive.

    ``should_stop`` is asked after each line; a reason stops the process group early (Codex
    retries forever when its provider is unreachable).
    """
    stop_reason: str | None = None
    job: asyncio.Task[process.ProcessResult] | None = None

    with log.open("a", encoding="utf-8") as raw:

        async def on_line(line: str) -> None:
            nonlocal stop_reason
            raw.write(line + "\n")
            raw.flush()
            for event in parser.feed(line):
                converted = sink_event(event)
                if converted is not None:
                    await events(converted[0], **converted[1])
            if should_stop is not None and stop_reason is None and (stop_reason := should_stop()) is not None:
                assert job is not None
                job.cancel()

        job = asyncio.ensure_future(
            process.run_process(
                argv,
                cwd=cwd,
                env=env,
                timeout_s=timeout_s,
                on_line=on_line,
                grace_s=grace_s,
                stdin=stdin,
                reap=True,  # nothing the agent started outlives it
            )
        )
        try:
            result = await job
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if stop_reason is None or (current is not None and current.cancelling()):
                raise
            return Outcome(returncode=-15, stopped=stop_reason)
    return Outcome(returncode=result.returncode, timed_out=result.timed_out)


async def report_usage(events: EventSink, result: RunResult) -> RunResult:
    """Record what the run spent as an ``agent.usage`` event (cost, tokens, model, session), then return it."""
    tokens = result.tokens
    await events(
        "agent.usage",
        cost_usd=round(result.cost_usd, 8),
        cost_source=result.cost_source,
        input_tokens=tokens.input,
        output_tokens=tokens.output,
        cache_read_tokens=tokens.cache_read,
        cache_write_tokens=tokens.cache_write,
        reasoning_tokens=tokens.reasoning,
        model=result.model,
        turns=result.turns,
        session_id=result.session_id,
    )
    return result
