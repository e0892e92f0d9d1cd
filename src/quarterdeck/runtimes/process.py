"""Child processes for runtimes: own process group, streamed output, timeout and cancellation.

A cancelled or timed-out child gets SIGTERM for its whole group, then SIGKILL after a grace period,
so nothing an agent started outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.errors import RuntimeFailure

__all__ = ["ProcessResult", "base_env", "run_process"]

#: The most output kept in memory per process (the rest is still streamed as events).
_KEEP = 64_000
#: The longest line read at once; a longer one is split rather than failing the read.
_LINE_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """How a child process ended and the tail of what it printed."""

    returncode: int
    output: str
    timed_out: bool = False


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for children: ours, with the running interpreter's directory first on PATH."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.pop("VIRTUAL_ENV_PROMPT", None)
    env.update(extra or {})
    return env


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def _stop(proc: asyncio.subprocess.Process, grace_s: float) -> None:
    _signal_group(proc, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), grace_s)
    except TimeoutError:
        _signal_group(proc, signal.SIGKILL)
        await proc.wait()
    # Whatever the group leader left behind goes too.
    _signal_group(proc, signal.SIGKILL)


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    on_line: Callable[[str], Awaitable[None]] | None = None,
    grace_s: float = 5.0,
    stdin: bytes | None = None,
) -> ProcessResult:
    """Run ``argv`` (no shell unless argv asks for one) and stream its merged output line by line."""
    if not argv:
        raise RuntimeFailure("empty command")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            limit=_LINE_LIMIT,
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise RuntimeFailure(f"cannot run {argv[0]!r}: {exc.strerror}") from None
    assert proc.stdout is not None
    kept: list[str] = []
    size = 0

    async def pump() -> None:
        nonlocal size
        if stdin is not None and proc.stdin is not None:
            proc.stdin.write(stdin)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await proc.stdin.drain()
            proc.stdin.close()
        assert proc.stdout is not None
        while line := await _read_line(proc.stdout):
            text = line.decode(errors="replace").rstrip("\n")
            kept.append(text)
            size += len(text) + 1
            while size > _KEEP and len(kept) > 1:
                size -= len(kept.pop(0)) + 1
            if on_line is not None:
                await on_line(text)
        await proc.wait()

    try:
        await asyncio.wait_for(pump(), timeout_s)
    except TimeoutError:
        await _stop(proc, grace_s)
        return ProcessResult(returncode=proc.returncode or -9, output="\n".join(kept), timed_out=True)
    except asyncio.CancelledError:
        await asyncio.shield(_stop(proc, grace_s))
        raise
    return ProcessResult(returncode=proc.returncode or 0, output="\n".join(kept))


async def _read_line(stream: asyncio.StreamReader) -> bytes:
    """The next line, or the next ``_LINE_LIMIT`` bytes of an overlong one."""
    try:
        return await stream.readuntil(b"\n")
    except asyncio.IncompleteReadError as eof:
        return eof.partial
    except asyncio.LimitOverrunError as overrun:
        return await stream.readexactly(overrun.consumed)
