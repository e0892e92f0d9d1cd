"""What a sandboxed step may reach: network, limits, extra paths, environment.

A project sets ``[sandbox]`` in ``.quarterdeck/config.toml``; a task may override any field with
``sandbox: {network: open, memory_mb: 4096}`` in its plan. Agents and checks (``shell`` steps,
``verify`` and ``setup`` commands) get different network defaults: ``providers`` for agents, ``none``
for checks. The result for one step is a :class:`Policy`, frozen, which the builders turn into argv.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "SANDBOX_OPTION",
    "Network",
    "Policy",
    "SandboxConfig",
    "SandboxOverride",
    "StepKind",
    "parse_override",
]

StepKind = Literal["agent", "check"]
#: where a task's ``sandbox:`` mapping is kept, beside its runtime's options (a plan puts it there)
SANDBOX_OPTION = "sandbox_policy"


class Network(StrEnum):
    """How much of the network a step sees."""

    #: only the sandbox's own loopback
    NONE = "none"
    #: only the model endpoints the runtime needs, through Quarterdeck's egress proxy (allow-listed by host)
    PROVIDERS = "providers"
    #: the worker's network, unfiltered
    OPEN = "open"


def _check_host(host: str) -> str:
    host = host.strip().lower()
    if not host or any(c in host for c in "/@ \t\r\n") or (host.count(":") > 1 and not host.startswith("[")):
        raise ValueError(f"{host!r} is not a host or host:port")
    return host


class _Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: memory of every process of the step together (cgroup), in MiB
    memory_mb: int | None = Field(default=None, ge=16)
    #: CPU seconds of each process (RLIMIT_CPU)
    cpu_s: int | None = Field(default=None, ge=1)
    #: processes and threads at once (pids cgroup, else RLIMIT_NPROC)
    pids: int | None = Field(default=None, ge=8)
    #: the largest file a step may write (RLIMIT_FSIZE), in MiB
    file_size_mb: int | None = Field(default=None, ge=1)
    #: wall-clock seconds for one process (the task's ``timeout_s`` caps it too)
    wall_s: float | None = Field(default=None, gt=0)


class SandboxOverride(_Limits):
    """A task's ``sandbox:`` mapping: any field set here wins over the project's ``[sandbox]``."""

    #: the network of every step of the task (agent and checks)
    network: Network | None = None
    #: extra hosts the egress proxy lets through (``host`` or ``host:port``)
    allow_hosts: list[str] = Field(default_factory=list)

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        return [_check_host(h) for h in hosts]


class SandboxConfig(_Limits):
    """The project's ``[sandbox]`` table."""

    #: ``bwrap`` (bubblewrap, the default) or an OCI engine (``podman``, ``docker``) running ``image``
    engine: Literal["bwrap", "podman", "docker"] = "bwrap"
    #: the image a container engine runs (it must hold the tools the steps use)
    image: str | None = None
    #: the network of agent steps
    agent_network: Network = Network.PROVIDERS
    #: the network of checks: ``shell`` steps, ``verify`` and ``setup`` commands
    check_network: Network = Network.NONE
    #: hosts the egress proxy lets through besides the runtime's own provider (``host`` or ``host:port``)
    allow_hosts: list[str] = Field(default_factory=list)
    #: variables of the worker's environment passed to steps (by default none but PATH, locale and terminal)
    pass_env: list[str] = Field(default_factory=list)
    #: more paths visible read-only, and read-write, at the same place
    ro: list[str] = Field(default_factory=list)
    rw: list[str] = Field(default_factory=list)

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        return [_check_host(h) for h in hosts]

    def policy(self, kind: StepKind, override: SandboxOverride | None = None) -> Policy:
        """The policy of one step of a task."""
        o = override or SandboxOverride()
        network = o.network or (self.agent_network if kind == "agent" else self.check_network)
        return Policy(
            network=network,
            memory_mb=o.memory_mb or self.memory_mb or DEFAULT_MEMORY_MB,
            cpu_s=o.cpu_s or self.cpu_s,
            pids=o.pids or self.pids or DEFAULT_PIDS,
            file_size_mb=o.file_size_mb or self.file_size_mb or DEFAULT_FILE_SIZE_MB,
            wall_s=o.wall_s or self.wall_s,
            allow_hosts=tuple(dict.fromkeys([*self.allow_hosts, *o.allow_hosts])),
            pass_env=tuple(self.pass_env),
            ro=tuple(self.ro),
            rw=tuple(self.rw),
        )


#: defaults generous enough for a test suite or a ``npm install``, small enough that one step cannot take the worker
DEFAULT_MEMORY_MB = 8192
DEFAULT_PIDS = 4096
DEFAULT_FILE_SIZE_MB = 8192


class Policy(BaseModel):
    """What one sandboxed process tree may do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: Network = Network.NONE
    memory_mb: int = DEFAULT_MEMORY_MB
    cpu_s: int | None = None
    pids: int = DEFAULT_PIDS
    file_size_mb: int = DEFAULT_FILE_SIZE_MB
    wall_s: float | None = None
    allow_hosts: tuple[str, ...] = ()
    pass_env: tuple[str, ...] = ()
    ro: tuple[str, ...] = ()
    rw: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """The policy as an event payload."""
        return self.model_dump(mode="json", exclude_defaults=False)


def parse_override(raw: Mapping[str, Any] | None, *, where: str) -> SandboxOverride | None:
    """A task's ``sandbox:`` mapping, or ``ValueError`` naming ``where`` and the bad field."""
    if not raw:
        return None
    try:
        return SandboxOverride.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'sandbox'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{where}: sandbox: {problems}") from None
