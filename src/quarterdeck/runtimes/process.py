"""Child processes for runtimes: the one launcher of agents, shell steps, checks and setup commands.

Each child runs in its own process group, its merged output streamed line by line, with a timeout and
cancellation. Its whole process *tree* is tracked: agent CLIs start tools in sessions of their own
(Claude Code's Bash tool calls ``setsid``), which a signal to the group misses, and a process whose
parent died is re-parented to init. So every child carries a tag in its environment
(``QUARTERDECK_PROC_TAG``, inherited by everything it starts) and a stop finds its descendants by
walking ``/proc`` (parent links, and the tag for orphans): SIGTERM to all of them, a grace period
(``QUARTERDECK_KILL_GRACE_S``), SIGKILL to whatever is left, then a check that nothing is. A run with
``reap=True`` (agents) also ends whatever its child left running when it exits normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from quarterdeck import sandbox
from quarterdeck.errors import RuntimeFailure

__all__ = ["TAG_ENV", "ProcessResult", "base_env", "kill_tree", "run_process", "tree_of"]

log = logging.getLogger(__name__)

#: the environment variable that marks every process a child started (see the module's doc)
TAG_ENV = "QUARTERDECK_PROC_TAG"
_PROC = Path("/proc")

#: The most output kept in memory per process (the rest is still streamed as events).
_KEEP = 64_000
#: The longest line read at once; a longer one is split rather than failing the read.
_LINE_LIMIT = 8 * 1024 * 1024
#: how long a reaped child's output may keep coming after it exited, before its leftovers are ended
_DRAIN_S = 1.0


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


def _stat(pid: str) -> tuple[int, str] | None:
    """A process's parent pid and state, or None when it is gone."""
    try:
        fields = (_PROC / pid / "stat").read_bytes().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0].decode()


def _tagged(pid: str, marker: bytes) -> bool:
    try:
        return marker in (_PROC / pid / "environ").read_bytes()
    except OSError:
        return False


def tree_of(root: int | None, tag: str | None = None) -> set[int]:
    """The live processes descended from ``root`` (itself included) or carrying ``tag``: a /proc walk.

    Zombies are not counted (they are dead; their parent reaps them). Without /proc (not Linux):
    just ``root``.
    """
    if not _PROC.is_dir():
        return set() if root is None else {root}
    children: dict[int, list[int]] = {}
    found: set[int] = set()
    marker = f"{TAG_ENV}={tag}\0".encode() if tag else None
    me = os.getpid()
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        stat = _stat(entry.name)
        if stat is None or stat[1] in ("Z", "X"):
            continue
        pid = int(entry.name)
        children.setdefault(stat[0], []).append(pid)
        if pid == root or (marker is not None and pid != me and _tagged(entry.name, marker)):
            found.add(pid)
    stack = list(found)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _signal_all(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    stat = _stat(str(pid))
    return stat is not None and stat[1] not in ("Z", "X")


async def kill_tree(root: int | None, tag: str | None, grace_s: float, *, poll_s: float = 0.05) -> set[int]:
    """SIGTERM ``root``'s process group and every process of its tree (see ``tree_of``), SIGKILL what is left
    after ``grace_s``, and return what still lives after that (nothing, unless a process cannot be killed).

    ``root``'s parent links are followed only in the first look, while ``root`` is known to be ours
    (its pid may be reused once it has been reaped); after that the tag finds the rest.
    """
    pids = tree_of(root, tag)
    if root is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(root, signal.SIGTERM)
    _signal_all(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pids and time.monotonic() < deadline:
        await asyncio.sleep(poll_s)
        fresh = tree_of(None, tag) - pids
        _signal_all(fresh, signal.SIGTERM)  # started since the first look (a shell's trap, say)
        pids = {p for p in pids | fresh if _alive(p)}
    empty = 0
    for _ in range(40):  # SIGKILL until nothing is left, seen twice: a look at /proc may miss one being forked
        pids = {p for p in pids | tree_of(None, tag) if _alive(p)}
        if root is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(root, signal.SIGKILL)
        empty = 0 if pids else empty + 1
        if empty >= 2:
            return set()
        _signal_all(pids, signal.SIGKILL)
        await asyncio.sleep(poll_s if pids else 0.01)
    if pids:
        log.error("processes %s of %s survived SIGKILL", sorted(pids), root)
    return pids


async def _stop(proc: asyncio.subprocess.Process, tag: str, grace_s: float) -> None:
    """End the child and everything it started; wait for the child itself."""
    await kill_tree(proc.pid, tag, grace_s)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    on_line: Callable[[str], Awaitable[None]] | None = None,
    grace_s: float = 5.0,
    stdin: bytes | None = None,
    reap: bool = False,
) -> ProcessResult:
    """Run ``argv`` (no shell unless argv asks for one) and stream its merged output line by line.

    A timeout or cancellation ends the child's whole tree (SIGTERM, ``grace_s``, SIGKILL); with ``reap``
    so does the child's normal exit, for whatever it left running (an agent's background commands).
    """
    if not argv:
        raise RuntimeFailure("empty command")
    # The attempt's sandbox (``quarterdeck.sandbox``), when one confines the caller: the one hook.
    try:
        confined = await sandbox.wrap(argv, env, cwd)
    except OSError as exc:
        raise RuntimeFailure(str(exc)) from None
    if confined is not None:
        argv, env, cwd = confined.argv, confined.env, confined.cwd
        timeout_s = min(timeout_s, confined.wall_s or timeout_s)
    result: ProcessResult | None = None
    try:
        result = await _run(argv, cwd, env, timeout_s, on_line, grace_s, stdin, reap)
        return result
    finally:
        if confined is not None:
            await asyncio.shield(confined.close(result.returncode if result is not None else None))


async def _run(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    on_line: Callable[[str], Awaitable[None]] | None,
    grace_s: float,
    stdin: bytes | None,
    reap: bool,
) -> ProcessResult:
    tag = secrets.token_hex(8)
    spawn = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env={**env, TAG_ENV: tag},
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            limit=_LINE_LIMIT,
        )
    )
    try:
        proc = await asyncio.shield(spawn)
    except (FileNotFoundError, PermissionError) as exc:
        raise RuntimeFailure(f"cannot run {argv[0]!r}: {exc.strerror}") from None
    except asyncio.CancelledError:
        # Cancelled while the child was being set up: it may already run (and start others). End it first.
        with contextlib.suppress(OSError):
            started = await spawn
            await asyncio.shield(_stop(started, tag, grace_s))
        raise
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
        reader = asyncio.ensure_future(read())
        exited = asyncio.ensure_future(_exit_of(proc))
        try:
            # The child may exit while something it left running holds the pipe open (uvloop even hands
            # the pipe to grandchildren that redirect their output): once it has, the output gets a
            # moment to drain, then the leftovers go (``reap``) or are no longer listened to.
            await asyncio.wait({reader, exited}, return_when=asyncio.FIRST_COMPLETED)
            if not reader.done():
                await asyncio.wait({reader}, timeout=_DRAIN_S)
                if not reader.done() and reap:
                    await kill_tree(None, tag, grace_s)
                    await asyncio.wait({reader}, timeout=_DRAIN_S)
            if reader.done():
                reader.result()
        finally:
            reader.cancel()
            exited.cancel()
        if proc.returncode is None:  # it closed its output and runs on: wait for its exit
            await proc.wait()

    async def read() -> None:
        nonlocal size
        assert proc.stdout is not None
        while line := await _read_line(proc.stdout):
            # NUL cannot be stored in PostgreSQL text (a step printing /proc/*/environ stalled its attempt)
            text = line.decode(errors="replace").rstrip("\n").replace("\0", "\N{REPLACEMENT CHARACTER}")
            kept.append(text)
            size += len(text) + 1
            while size > _KEEP and len(kept) > 1:
                size -= len(kept.pop(0)) + 1
            if on_line is not None:
                await on_line(text)

    try:
        await asyncio.wait_for(pump(), timeout_s)
    except TimeoutError:
        await _stop(proc, tag, grace_s)
        return ProcessResult(returncode=proc.returncode or -9, output="\n".join(kept), timed_out=True)
    except asyncio.CancelledError:
        await asyncio.shield(_stop(proc, tag, grace_s))
        raise
    if reap:  # (the child itself is reaped: only its tag is followed)
        await asyncio.shield(kill_tree(None, tag, grace_s))
    return ProcessResult(returncode=proc.returncode or 0, output="\n".join(kept))


async def _exit_of(proc: asyncio.subprocess.Process) -> None:
    """Return once the child has exited, whether or not its output pipe is closed yet.

    (``Process.wait`` also waits for the pipes, which a grandchild may hold open.) A pidfd becomes
    readable when the process exits.
    """
    if proc.returncode is not None:
        return
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # no pidfds (not Linux): wait for the pipes too
        await proc.wait()
        return
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def exited() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, exited)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def _read_line(stream: asyncio.StreamReader) -> bytes:
    """The next line, or the next ``_LINE_LIMIT`` bytes of an overlong one."""
    try:
        return await stream.readuntil(b"\n")
    except asyncio.IncompleteReadError as eof:
        return eof.partial
    except asyncio.LimitOverrunError as overrun:
        return await stream.readexactly(overrun.consumed)
