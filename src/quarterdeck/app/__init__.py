"""The application layer: the one door the CLI, the API, the dashboard and the MCP server go through.

A use case takes the organisation and the actor, owns its transaction and calls the store, the engine and
the crews; the entry points only parse, call and present. ``Quarterdeck`` (``facade.py``) wires the parts;
the modules beside it hold the use cases named for what they act on (``accounts``, ``vault``, ``intake``,
``overview``, …), each imported only by the entry points that need it.

The package itself loads nothing until a name is asked of it (PEP 562 ``__getattr__``): ``quarterdeck status``
imports ``app.overview`` without paying for the facade, SQLAlchemy or the store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quarterdeck.app.facade import (
        ApprovalRecord,
        FleetWorker,
        Quarterdeck,
        RunView,
        is_repository_url,
        repository,
    )
    from quarterdeck.store.records import AttemptRecord, EventRecord, RunRecord, TaskRecord

__all__ = [
    "ApprovalRecord",
    "AttemptRecord",
    "EventRecord",
    "FleetWorker",
    "Quarterdeck",
    "RunRecord",
    "RunView",
    "TaskRecord",
    "is_repository_url",
    "repository",
]

#: where each public name lives (imported when first asked for)
_HOMES = {
    "ApprovalRecord": "quarterdeck.app.facade",
    "FleetWorker": "quarterdeck.app.facade",
    "Quarterdeck": "quarterdeck.app.facade",
    "RunView": "quarterdeck.app.facade",
    "is_repository_url": "quarterdeck.app.facade",
    "repository": "quarterdeck.app.facade",
    "AttemptRecord": "quarterdeck.store.records",
    "EventRecord": "quarterdeck.store.records",
    "RunRecord": "quarterdeck.store.records",
    "TaskRecord": "quarterdeck.store.records",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
