"""Resource limits of one sandboxed process tree: a cgroup where the machine lets us make one, rlimits always.

Memory and the number of processes are bounded for the whole tree by a cgroup — cgroup v2 when its
``memory`` and ``pids`` controllers can be delegated to us, else the cgroup v1 ``memory`` and ``pids``
hierarchies (writable in most containers that run as root). ``RLIMIT_NPROC`` does not bind root, so
without a pids cgroup a root worker's steps have no process bound; the sandbox says so in its events.
File size (``RLIMIT_FSIZE``) and CPU seconds (``RLIMIT_CPU``) are per-process rlimits set by ``prlimit``
in front of the sandbox; ``RLIMIT_AS`` stands in for the memory cgroup when there is none.

The launcher enters the cgroup before it execs the sandbox (``launcher_argv``), so every descendant is in it
from its first instruction; ``Cgroup.close`` kills whatever is left and removes the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.sandbox.policy import Policy

__all__ = ["Cgroup", "CgroupRoot", "Tripped", "find_cgroup_root", "launcher_argv", "rlimit_argv"]

_MIB = 1024 * 1024
_MOUNTS = Path("/proc/self/mountinfo")
_OWN = Path("/proc/self/cgroup")


@dataclass(frozen=True, slots=True)
class Tripped:
    """Which limits a finished tree ran into."""

    oom_kills: int = 0
    pids_refused: int = 0

    def reasons(self) -> list[str]:
        out = []
        if self.oom_kills:
            out.append(f"memory limit: {self.oom_kills} process(es) killed for running out of memory")
        if self.pids_refused:
            out.append(f"process limit: {self.pids_refused} fork(s) refused")
        return out


def _read_int(path: Path, key: str) -> int:
    """``key N`` from a flat-keyed cgroup file (``memory.events``, ``pids.events``, ``memory.oom_control``)."""
    with contextlib.suppress(OSError, ValueError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return 0


@dataclass(frozen=True, slots=True)
class Cgroup:
    """One step's cgroup: a directory per hierarchy (one on v2)."""

    version: int
    memory: Path | None
    pids: Path | None

    @property
    def dirs(self) -> tuple[Path, ...]:
        return tuple(dict.fromkeys(d for d in (self.memory, self.pids) if d is not None))

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def members(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
        return found

    def tripped(self) -> Tripped:
        oom = 0
        if self.memory is not None:
            name = "memory.events" if self.version == 2 else "memory.oom_control"
            oom = _read_int(self.memory / name, "oom_kill")
        refused = _read_int(self.pids / "pids.events", "max") if self.pids is not None else 0
        return Tripped(oom, refused)

    async def settled(self, patience_s: float = 0.5) -> set[int]:
        """The processes still in the group once the sandbox's own teardown had ``patience_s`` to finish.

        When the step's PID namespace ends, the kernel kills and reaps everything in it, but not
        necessarily before bwrap's outer process has exited: a member seen at once may be on its way out.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience_s
        left = self.members()
        while left and loop.time() < deadline:  # the kernel's teardown has no event to wait on
            await asyncio.sleep(0.01)
            left = self.members()
        return left

    async def close(self) -> None:
        """Kill every process still in the group, then remove it."""
        for _ in range(50):
            left = self.members()
            if not left:
                break
            if self.version == 2 and (kill := self.dirs[0] / "cgroup.kill").exists():
                with contextlib.suppress(OSError):
                    kill.write_text("1")
            else:
                for pid in left:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.02)
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # a killed process not yet reaped still counts
                    await asyncio.sleep(0.02)


@dataclass(frozen=True, slots=True)
class CgroupRoot:
    """Where this worker may make cgroups: a parent directory per controller."""

    version: int
    memory: Path | None
    pids: Path | None

    def create(self, name: str, policy: Policy) -> Cgroup:
        """A new group for one step with the policy's memory and process bounds; ``OSError`` if refused."""
        made: list[Path] = []
        try:
            memory = pids = None
            if self.memory is not None:
                memory = self.memory / name
                memory.mkdir()
                made.append(memory)
                limit = str(policy.memory_mb * _MIB)
                if self.version == 2:
                    (memory / "memory.max").write_text(limit)
                    with contextlib.suppress(OSError):
                        (memory / "memory.swap.max").write_text("0")
                else:
                    (memory / "memory.limit_in_bytes").write_text(limit)
                    with contextlib.suppress(OSError):
                        (memory / "memory.memsw.limit_in_bytes").write_text(limit)
            if self.pids is not None:
                pids = memory if self.version == 2 and memory is not None else self.pids / name
                if pids not in made:
                    pids.mkdir()
                    made.append(pids)
                (pids / "pids.max").write_text(str(policy.pids))
        except OSError:
            for d in reversed(made):
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise
        return Cgroup(self.version, memory, pids)

    def describe(self) -> str:
        parts = [f"{n} at {p}" for n, p in (("memory", self.memory), ("pids", self.pids)) if p is not None]
        return f"cgroup v{self.version}: " + ", ".join(parts)


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, super options) of every cgroup mount."""
    found = []
    with contextlib.suppress(OSError):
        for line in _MOUNTS.read_text().splitlines():
            left, _, right = line.partition(" - ")
            fields, extra = left.split(), right.split()
            if len(fields) > 4 and len(extra) >= 3 and extra[0] in ("cgroup", "cgroup2"):
                found.append((fields[4], extra[0], set(extra[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and ``""`` for v2."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in _OWN.read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                paths[c] = path
    return paths


def _writable_dir(parent: Path, prefix: str) -> Path | None:
    """``parent/prefix`` made (or found) and writable, else None."""
    base = parent / prefix
    try:
        base.mkdir(exist_ok=True)
    except OSError:
        return None
    probe = base / f"probe-{os.getpid()}"
    try:
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError:
        return None
    return base


def find_cgroup_root(prefix: str = "quarterdeck") -> tuple[CgroupRoot | None, str]:
    """Where to make per-step cgroups, or None and why not."""
    mounts = _mounts()
    own = _own_paths()
    # cgroup v2 with memory and pids delegated to a group beside ours (we cannot use our own: v2 forbids
    # processes in a group whose controllers are enabled for children).
    for point, fstype, _ in mounts:
        if fstype != "cgroup2" or "" not in own:
            continue
        mine = Path(point) / own[""].lstrip("/")
        parent = mine.parent if own[""] not in ("/", "") else mine
        try:
            offered = set((parent / "cgroup.controllers").read_text().split())
        except OSError:
            continue
        if {"memory", "pids"} <= offered:
            with contextlib.suppress(OSError):
                (parent / "cgroup.subtree_control").write_text("+memory +pids")
            base = _writable_dir(parent, prefix)
            if base is not None:
                with contextlib.suppress(OSError):
                    (base / "cgroup.subtree_control").write_text("+memory +pids")
                enabled = set((base / "cgroup.subtree_control").read_text().split()) if base.exists() else set()
                if {"memory", "pids"} <= enabled:
                    return CgroupRoot(2, base, base), ""
    found: dict[str, Path] = {}
    for point, fstype, options in mounts:
        if fstype != "cgroup":
            continue
        for controller in ("memory", "pids"):
            if controller in options and controller in own and controller not in found:
                base = _writable_dir(Path(point) / own[controller].lstrip("/"), prefix)
                if base is not None:
                    found[controller] = base
    if found:
        return CgroupRoot(1, found.get("memory"), found.get("pids")), ""
    return None, "no writable cgroup (v2 with memory and pids delegated, or v1 memory/pids hierarchies)"


#: enters each cgroup named before ``--``, then execs the rest
_ENTER = 'for f; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"'


def launcher_argv(cgroup: Cgroup | None, policy: Policy, argv: list[str]) -> list[str]:
    """``argv`` started inside ``cgroup`` with the policy's per-process limits.

    With a cgroup, one shell writes its own pid to each group and sets ``RLIMIT_FSIZE`` (``ulimit -f`` counts
    512-byte blocks in a POSIX shell) and ``RLIMIT_CPU`` before it execs; ``prlimit`` stands in for a missing
    controller with ``RLIMIT_AS`` / ``RLIMIT_NPROC``, and for the whole cgroup when there is none.
    """
    if cgroup is None:
        return [*rlimit_argv(policy, memory=True, pids=True), *argv]
    fallback = rlimit_argv(policy, memory=cgroup.memory is None, pids=cgroup.pids is None, files=False)
    limit = f"ulimit -f {policy.file_size_mb * _MIB // 512}"
    if policy.cpu_s is not None:
        limit += f" -t {policy.cpu_s}"
    script = f"{limit} || exit 125; {_ENTER}"
    return ["/bin/sh", "-c", script, "sh", *cgroup.procs_files(), "--", *fallback, *argv]


def rlimit_argv(policy: Policy, *, memory: bool, pids: bool, files: bool = True) -> list[str]:
    """``prlimit`` with per-process limits: file size and CPU (``files``), and stand-ins for the cgroup's
    ``memory`` (``RLIMIT_AS``) and ``pids`` (``RLIMIT_NPROC``, which does not bind root); [] when none apply."""
    prlimit = shutil.which("prlimit")
    argv: list[str] = []
    if files:
        argv.append(f"--fsize={policy.file_size_mb * _MIB}")
        if policy.cpu_s is not None:
            argv.append(f"--cpu={policy.cpu_s}")
    if memory:
        argv.append(f"--as={policy.memory_mb * _MIB}")
    if pids:
        argv.append(f"--nproc={policy.pids}")
    if prlimit is None or not argv:
        return []
    return [prlimit, *argv, "--"]
