"""Where a runtime or a model call reports what it does, as it does it (the engine turns the reports into events)."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["EventSink"]


class EventSink(Protocol):
    """Where a runtime reports what it does, as it does it."""

    async def __call__(self, type: str, /, **payload: Any) -> None: ...
