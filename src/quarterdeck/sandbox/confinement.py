"""The confinement of one attempt's steps, and ``wrap``: the launcher's single hook.

The engine sets the attempt's ``Confinement`` (``confine(...)``, a context variable, so every process the
attempt's steps start — agent CLI, its tool calls through Quarterdeck, ``shell`` step, ``verify`` and
``setup`` command — inherits it without each runtime knowing). ``runtimes/process.py`` asks ``wrap`` for the
sandboxed argv and environment of each process, and calls ``Wrapped.close`` when the process has ended:
the egress proxy stops, the cgroup's leftovers are killed, and what the step ran into is reported as events.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from quarterdeck.sandbox import bwrap, container, egress, limits, probe
from quarterdeck.sandbox.policy import Network, Policy

__all__ = ["Confinement", "Wrapped", "confine", "current", "wrap"]

Emit = Callable[..., Awaitable[None]]

#: where the egress proxy's socket appears inside the sandbox
_EGRESS_DIR = Path("/run/quarterdeck")
#: loopback names whose providers get a transparent port inside the sandbox
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
#: environment variables naming a provider endpoint, whose host the egress proxy lets through
_ENDPOINT_SUFFIXES = ("_BASE_URL", "_API_BASE", "_ENDPOINT")
_counter = itertools.count(1)
#: variables naming the machine's TLS trust (a file or directory the step's clients must read)
_TRUST = ("SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT")


@dataclass(frozen=True, slots=True)
class Confinement:
    """What every process of one attempt's step may see and do."""

    policy: Policy
    #: read-write: the worktree (first), the agent's area and the same task's earlier attempts' areas
    rw: tuple[Path, ...]
    #: more read-only paths at the same place
    ro: tuple[Path, ...] = ()
    #: never shown, nor anything above them: the state directory, the worktree root, the database's directory
    never: tuple[Path, ...] = ()
    #: nothing above them is shown (the user's home: a tool under it may be, the home itself may not)
    not_above: tuple[Path, ...] = ()
    #: hosts (``host`` or ``host:port``) of the provider the step's runtime talks to
    providers: tuple[str, ...] = ()
    #: where events go (the attempt's ``emit``); None: not reported
    emit: Emit | None = None
    engine: str = "bwrap"
    image: str | None = None

    def for_step(self, policy: Policy) -> Confinement:
        return replace(self, policy=policy)


_current: contextvars.ContextVar[Confinement | None] = contextvars.ContextVar("quarterdeck_sandbox", default=None)


def current() -> Confinement | None:
    return _current.get()


@contextlib.contextmanager
def confine(confinement: Confinement | None) -> Iterator[None]:
    """Processes started inside the block (and in tasks created inside it) run confined by ``confinement``."""
    token = _current.set(confinement)
    try:
        yield
    finally:
        _current.reset(token)


@dataclass(slots=True)
class Wrapped:
    """A process's sandboxed command; ``close`` after it has ended."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    wall_s: float | None = None
    _closers: list[Callable[[int | None], Awaitable[None]]] = field(default_factory=list)

    async def close(self, returncode: int | None) -> None:
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                await closer(returncode)


async def wrap(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> Wrapped | None:
    """The sandboxed form of ``argv`` under the current confinement, or None when nothing confines it."""
    confinement = _current.get()
    if confinement is None:
        return None
    return await _wrap(confinement, list(argv), dict(env), cwd)


def endpoint_hosts(env: Mapping[str, str]) -> list[str]:
    """``host:port`` of each provider endpoint named in the environment (``ANTHROPIC_BASE_URL``, …)."""
    found: list[str] = []
    for name, value in env.items():
        if name.endswith(_ENDPOINT_SUFFIXES) and value.startswith(("http://", "https://")):
            found += url_hosts(value)
    return found


def url_hosts(url: str) -> list[str]:
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        if parts.hostname:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            return [f"{host}:{port}"]
    return []


@functools.cache
def _interpreter_dirs() -> list[Path]:
    """Where this Python lives (a venv, its base, editable sources named by ``.pth`` files): steps run
    ``python`` from PATH. Not the rest of ``sys.path`` (a script's own directory, a test runner's root)."""
    dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent.parent}
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")) and os.path.isdir(entry):
            dirs.add(Path(entry))
            for pth in Path(entry).glob("*.pth"):
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    for line in pth.read_text(encoding="utf-8").splitlines():
                        if line.startswith("/") and os.path.isdir(line.strip()):
                            dirs.add(Path(line.strip()))
    return sorted(dirs)


@functools.lru_cache(maxsize=256)
def _read_only(
    argv0: str,
    path_env: str | None,
    trust: tuple[str, ...],
    extra: tuple[str, ...],
    never: tuple[Path, ...],
    not_above: tuple[Path, ...],
) -> tuple[list[Path], list[str]]:
    """The read-only binds of a step (its programs' directories, TLS trust, configured extras) and what was
    left out; the same for every step of a kind, so worked out once per process (about 1 ms of path lookups)."""
    programs = bwrap.program_dirs(argv0, path_env, _interpreter_dirs())
    skipped: list[str] = []
    shown = bwrap.usable([*programs, *map(Path, trust), *map(Path, extra)], never, not_above, skipped)
    return shown, skipped


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME", "")
    if home and os.path.isabs(home) and Path(home) not in (Path("/"), Path("/tmp"), Path("/usr"), Path("/etc")):
        return Path(home)
    return Path("/home/sandbox")


async def _report(emit: Emit | None, type: str, **payload: Any) -> None:
    if emit is not None:
        await emit(type, **payload)


_SIGNALS = {153: "file size limit (SIGXFSZ)", 152: "CPU time limit (SIGXCPU)", -25: "file size limit (SIGXFSZ)"}


async def _wrap_bwrap(c: Confinement, argv: list[str], env: dict[str, str], cwd: Path) -> Wrapped:
    available = probe.availability()
    if not available.ok or available.bwrap is None:
        raise OSError(f"the sandbox cannot run here: {available.reason}")
    policy = c.policy
    home = _home(env)
    skipped: list[str] = []
    worktree = c.rw[0] if c.rw else cwd
    git_rw, git_ro = bwrap.git_dirs(worktree)
    rw = [*c.rw, *git_rw, *(Path(p) for p in policy.rw)]
    trust = tuple(env[name] for name in _TRUST if os.path.isabs(env.get(name, "")))
    ro, hidden = _read_only(argv[0], env.get("PATH"), trust, policy.ro, c.never, c.not_above)
    skipped += hidden
    ro = [p for p in [*ro, *c.ro] if not any(bwrap.is_under(p, w) for w in rw)]
    if not any(bwrap.is_under(cwd, p) for p in (*rw, *ro)):
        cwd = worktree
    closers: list[Callable[[int | None], Awaitable[None]]] = []
    env = {**env, "HOME": str(home), "TMPDIR": "/tmp"}
    inner = argv
    ro_at: list[tuple[Path, Path]] = []
    if policy.network is Network.PROVIDERS:
        allowed = list(dict.fromkeys([*c.providers, *endpoint_hosts(env), *policy.allow_hosts]))
        private = Path(tempfile.mkdtemp(prefix="qd-egress-"))
        proxy = egress.EgressProxy(
            private / "egress.sock",
            egress.AllowList(allowed),
            on_contact=lambda host, port, ok: _report(
                c.emit,
                "sandbox.egress" if ok else "sandbox.refused",
                **({"host": host, "port": port} if ok else {"what": "network", "host": host, "port": port}),
                **({} if ok else {"reason": f"{host}:{port} is not an allowed provider (network: providers)"}),
            ),
        )
        await proxy.start()

        async def stop_proxy(_: int | None) -> None:
            await proxy.close()
            shutil.rmtree(private, ignore_errors=True)

        closers.append(stop_proxy)
        ro_at.append((private, _EGRESS_DIR))
        maps = [f"{egress.PROXY_PORT}="]
        for entry in allowed:
            host, port = egress.split_host_port(entry)
            if host in _LOOPBACK and port is not None and port != egress.PROXY_PORT:
                maps.append(f"{port}={entry}")
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else os.path.realpath(sys.executable)
        inner = [python, "-I", "-S", "-c", egress.FORWARDER, str(_EGRESS_DIR / "egress.sock"), *maps, "--", *argv]
        proxy_url = f"http://127.0.0.1:{egress.PROXY_PORT}"
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
            env[name] = proxy_url
        env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1,::1"
    layout = bwrap.Layout(
        rw=tuple(dict.fromkeys(rw)), ro=tuple(ro), ro_over=tuple(git_ro), ro_at=tuple(ro_at), home=home
    )
    cgroup: limits.Cgroup | None = None
    if available.cgroups is not None:
        try:
            cgroup = available.cgroups.create(f"step-{os.getpid()}-{next(_counter)}", policy)
        except OSError as exc:
            skipped.append(f"cgroup: {exc}")
    bounded = cgroup is not None and cgroup.memory is not None and cgroup.pids is not None
    command = [*bwrap.bwrap_argv(available.bwrap, layout, cwd, share_net=policy.network is Network.OPEN), "--", *inner]
    full = limits.launcher_argv(cgroup, policy, command)

    async def settle(returncode: int | None) -> None:
        reasons = cgroup.tripped().reasons() if cgroup is not None else []
        if returncode in _SIGNALS:
            reasons.append(_SIGNALS[returncode])
        if cgroup is not None:
            left = await cgroup.settled()
            if left:
                reasons.append(f"{len(left)} process(es) still running when the step ended: killed")
            await cgroup.close()
        for reason in reasons:
            await _report(c.emit, "sandbox.refused", what="limit", command=argv[0], reason=reason)

    closers.append(settle)
    await _report(
        c.emit,
        "sandbox.confined",
        command=argv[0],
        network=str(policy.network),
        writable=[str(p) for p in layout.rw],
        limits={
            "memory_mb": policy.memory_mb,
            "pids": policy.pids,
            "file_size_mb": policy.file_size_mb,
            "cpu_s": policy.cpu_s,
            "bounded_by": "cgroup" if bounded else "rlimits",
        },
        **({"not_shown": skipped} if skipped else {}),
    )
    return Wrapped(full, env, cwd, policy.wall_s, closers)


async def _wrap(c: Confinement, argv: list[str], env: dict[str, str], cwd: Path) -> Wrapped:
    if c.engine in ("podman", "docker"):
        built = container.container_argv(c.engine, c.image, c.policy, rw=c.rw, cwd=cwd, env=env, argv=argv)
        await _report(c.emit, "sandbox.confined", command=argv[0], network=str(c.policy.network), engine=c.engine)
        return Wrapped(built, env, cwd, c.policy.wall_s)
    return await _wrap_bwrap(c, argv, env, cwd)
