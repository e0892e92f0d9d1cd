"""The ids a piece of work carries (run, task, attempt, worker, request), in one context variable.

The worker binds its id once, an attempt binds its run, task and attempt, an API request its request id;
asyncio copies the context into every task it creates, so whatever runs beneath (a log record, a span)
reads the ids of the work it belongs to without being handed them. Binding costs one ``ContextVar.set``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from types import MappingProxyType
from typing import Final

__all__ = ["IDS", "bind", "current", "set_ids"]

#: the names of the ids, in the order log records list them
IDS: Final = ("run_id", "task_id", "attempt_id", "worker_id", "request_id")

_EMPTY: Final[MappingProxyType[str, str]] = MappingProxyType({})
_ids: ContextVar[MappingProxyType[str, str]] = ContextVar("quarterdeck_ids", default=_EMPTY)


def current() -> MappingProxyType[str, str]:
    """The ids bound in this context (only those that are set)."""
    return _ids.get()


def set_ids(**ids: str | None) -> None:
    """Bind ``ids`` for the rest of this context (a worker's loop, an attempt's asyncio task)."""
    _ids.set(MappingProxyType({**_ids.get(), **{k: v for k, v in ids.items() if v is not None}}))


@contextlib.contextmanager
def bind(**ids: str | None) -> Iterator[None]:
    """Bind ``ids`` within the block."""
    token = _ids.set(MappingProxyType({**_ids.get(), **{k: v for k, v in ids.items() if v is not None}}))
    try:
        yield
    finally:
        _ids.reset(token)
