"""``Statements``: the async statement API of the store's connections, run at once on a sync connection.

Repository functions take an ``AsyncConnection`` and await its ``execute``/``scalar``/… . Where the
statements need not (or must not) cross a greenlet per call, the store hands them this stand-in
instead, over SQLAlchemy's sync ``Connection``: on SQLite always (``sqlite3`` statements never await:
``sqlite_driver.py``), and inside ``database.in_one_switch`` (a block of statements in one greenlet).
Its results are the sync ``Result``s that ``AsyncConnection.execute`` returns too (buffered).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncResult

__all__ = ["Statements"]

_T = TypeVar("_T")


class Statements:
    """What repository functions use of an ``AsyncConnection``, run at once on ``sync_connection``."""

    def __init__(self, sync: sa.Connection) -> None:
        self.sync_connection = sync
        self.info = sync.info
        self.dialect = sync.dialect

    async def execute(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        return self.sync_connection.execute(statement, parameters, **kwargs)

    async def scalar(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        return self.sync_connection.scalar(statement, parameters, **kwargs)

    async def scalars(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        return self.sync_connection.scalars(statement, parameters, **kwargs)

    async def exec_driver_sql(self, statement: str, parameters: Any = None, **kwargs: Any) -> Any:
        return self.sync_connection.exec_driver_sql(statement, parameters, **kwargs)

    async def stream(self, statement: Any, parameters: Any = None, **kwargs: Any) -> AsyncResult[Any]:
        return AsyncResult(self.sync_connection.execute(statement, parameters, **kwargs))

    async def run_sync(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        return fn(self.sync_connection, *args, **kwargs)

    @contextlib.asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[sa.NestedTransaction]:
        """A savepoint, released when the block exits without error, else rolled back to."""
        with self.sync_connection.begin_nested() as savepoint:
            yield savepoint

    def in_transaction(self) -> bool:
        return self.sync_connection.in_transaction()

    @property
    def invalidated(self) -> bool:
        return self.sync_connection.invalidated
