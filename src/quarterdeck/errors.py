"""Quarterdeck's exception tree: one root, each error carrying the data that explains it.

QuarterdeckError
├── InputError                  bad input from a user; the CLI exits 2
│   ├── PlanError               one or more problems in a plan, each with path:line
│   │   └── CycleError          the plan's dependencies form a cycle (``.cycle``)
│   ├── UnsafeNameError         a user string that may not become a ref or a path
│   ├── UnknownRuntimeError     a task names a runtime nobody registered
│   └── Conflict                another object already has that name (the API answers 409)
├── InfrastructureError         a system the work relies on failed: never the fault of the task at hand
│   ├── StoreError              the database could not be reached or used
│   ├── BusError                the event bus (Redis) could not be reached or used
│   ├── GitLockError            a git lock file is held (also a WorkspaceError); ``.path``
│   ├── ForgeError              GitHub or GitLab refused or could not be reached; ``.status``
│   └── RepositoryUnavailable   a run's repository cannot be reached from this worker (also a WorkspaceError); ``.repo``
├── WorkspaceError              a git or filesystem operation in a workspace failed
│   └── NotARepositoryError     ``--repo`` is not a usable git repository
├── RuntimeFailure              an agent runtime failed to run a task
├── LeaseLost                   a completion write was fenced off by a newer lease
├── MemoryUnavailable           agent memory's embedding model is not installed (``quarterdeck[memory]``)
└── NotFound                    a run, task or attempt does not exist
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BusError",
    "Conflict",
    "CycleError",
    "ForgeError",
    "GitLockError",
    "InfrastructureError",
    "InputError",
    "LeaseLost",
    "MemoryUnavailable",
    "NotARepositoryError",
    "NotFound",
    "PlanError",
    "Problem",
    "QuarterdeckError",
    "RepositoryUnavailable",
    "RuntimeFailure",
    "StoreError",
    "UnknownRuntimeError",
    "UnsafeNameError",
    "WorkspaceError",
]


class QuarterdeckError(Exception):
    """Something went wrong in Quarterdeck."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or type(self).__name__).strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class InputError(QuarterdeckError):
    """The input given to Quarterdeck is invalid."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in an input file, located by path and line (1-based, 0 when unknown)."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


class PlanError(InputError):
    """The plan is invalid."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CycleError(PlanError):
    """The plan's dependencies form a cycle."""

    def __init__(self, cycle: Sequence[str], problems: Sequence[Problem]) -> None:
        self.cycle: tuple[str, ...] = tuple(cycle)
        super().__init__(problems)


class UnsafeNameError(InputError):
    """A name may not be used as a git ref or a path."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"unsafe name {name!r}: {reason}")


class UnknownRuntimeError(InputError):
    """No runtime of that name is registered."""

    def __init__(self, name: str, available: Sequence[str]) -> None:
        self.name = name
        self.available = tuple(available)
        import difflib  # (``domain/suggest.py``'s did_you_mean, inlined: the error tree imports nothing of ours)

        close = difflib.get_close_matches(name, list(available), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        super().__init__(f"unknown runtime {name!r}{hint}; available: {', '.join(available)}")


class Conflict(InputError):
    """Another object already has that name."""


class InfrastructureError(QuarterdeckError):
    """A system the work relies on failed; the work itself may well be fine.

    An attempt meeting one retries in place or gives its task back, and never records it as the
    task's failure (see ``engine/attempt.py``).
    """


class StoreError(InfrastructureError):
    """The database could not be reached or used."""


class BusError(InfrastructureError):
    """The event bus could not be reached or used."""


class ForgeError(InfrastructureError):
    """GitHub or GitLab refused a request or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        #: the forge's HTTP status (None: it could not be reached)
        self.status = status


class WorkspaceError(QuarterdeckError):
    """A git or filesystem operation in a workspace failed."""


class GitLockError(InfrastructureError, WorkspaceError):
    """A git command found one of git's lock files held (by a concurrent command, or left by a dead one)."""

    def __init__(self, message: str, path: str) -> None:
        self.path = path
        super().__init__(message)


class RepositoryUnavailable(InfrastructureError, WorkspaceError):
    """A run's repository cannot be reached from this worker: its remote did not answer, or its path is not here.

    The attempt gives its task back (another worker, or this one later, takes it); the worker stops claiming
    the repository's tasks for a while (``engine/worker.py``).
    """

    def __init__(self, message: str, repo: str) -> None:
        self.repo = repo
        super().__init__(message)


class NotARepositoryError(WorkspaceError):
    """The path is not a usable git repository."""


class RuntimeFailure(QuarterdeckError):
    """An agent runtime failed to run a task."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        self.retryable = retryable
        super().__init__(message)


class LeaseLost(QuarterdeckError):
    """The attempt's lease is no longer ours; a newer attempt owns the task."""


class MemoryUnavailable(QuarterdeckError):
    """Agent memory's embedding model or its libraries are not installed: ``pip install 'quarterdeck[memory]'``."""


class NotFound(QuarterdeckError):
    """The requested object does not exist."""
