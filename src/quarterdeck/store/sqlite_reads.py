"""A few reads of a SQLite database through the standard library's ``sqlite3`` module alone.

``quarterdeck status`` must start in a fraction of a second, and importing SQLAlchemy (with the store's
tables and compiled statements) costs several times that. These reads open the file read-only, run plain
SQL and build the same records (``records.py``) the store's repositories return, converting each value
as the columns' SQLAlchemy types do (``types.Timestamp``, ``JSON``, ``Boolean``); the conversion is
chosen by the type each column is declared with in the file (``PRAGMA table_info``), and
``tests/integration/test_sqlite_reads.py`` holds every record equal to the repositories' own. They only
read a database stamped with the current schema (``open_current`` says None otherwise): anything else goes
the store's way, which migrates first.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from quarterdeck.errors import NotFound
from quarterdeck.store.migrations import HEAD
from quarterdeck.store.records import EventRecord, RunRecord, TaskRecord

__all__ = ["open_current", "read_events", "read_run", "read_runs", "read_tasks"]


def _timestamp(value: str | None) -> datetime | None:
    # SQLite holds a Timestamp naive, in UTC (``types.Timestamp``), as SQLAlchemy's DATETIME text
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _boolean(value: int | None) -> bool | None:
    return None if value is None else bool(value)


#: how a value is read back, by its column's declared type (as SQLAlchemy's types declare them on SQLite)
_CONVERTERS: dict[str, Callable[[Any], Any]] = {"DATETIME": _timestamp, "JSON": _json, "BOOLEAN": _boolean}


class _Shape:
    """A record type's columns in a table, and the conversion each needs."""

    def __init__(
        self, conn: sqlite3.Connection, record: type[RunRecord | TaskRecord | EventRecord], table: str
    ) -> None:
        self.record = record
        declared = {str(row[1]): str(row[2]).upper() for row in conn.execute(f'PRAGMA table_info("{table}")')}
        names = [f.name for f in fields(record)]
        self.columns = ", ".join(f'"{table}"."{name}"' for name in names)
        self.convert = [_CONVERTERS.get(declared.get(name, "")) for name in names]

    def build(self, row: Sequence[Any]) -> Any:
        return self.record(*(value if c is None else c(value) for c, value in zip(self.convert, row, strict=True)))


@contextmanager
def open_current(path: Path) -> Iterator[sqlite3.Connection | None]:
    """The database file opened read-only, in one read transaction (one snapshot for every read); None
    if it is not stamped with the current schema (or has no stamp). Closed on leaving.

    Raises:
        sqlite3.Error: the file could not be opened or read.
    """
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=60, isolation_level=None)
    try:
        conn.execute("BEGIN")
        try:
            stamps = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.OperationalError:  # not stamped yet: the store creates the schema
            stamps = []
        yield conn if stamps == [(HEAD,)] else None
    finally:
        conn.close()


def read_runs(conn: sqlite3.Connection, *, limit: int = 50) -> list[RunRecord]:
    """The newest runs first (``runs.read_runs``)."""
    run_shape = _Shape(conn, RunRecord, "runs")
    rows = conn.execute(
        f"SELECT {run_shape.columns} FROM runs ORDER BY runs.created_at DESC, runs.id DESC LIMIT ?", (limit,)
    )
    return [run_shape.build(row) for row in rows]


def read_run(conn: sqlite3.Connection, run_id: str) -> RunRecord:
    """The run, or NotFound (``runs.read_run``)."""
    run_shape = _Shape(conn, RunRecord, "runs")
    row = conn.execute(f"SELECT {run_shape.columns} FROM runs WHERE runs.id = ?", (run_id,)).fetchone()
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return run_shape.build(row)  # type: ignore[no-any-return]


def read_tasks(conn: sqlite3.Connection, run_id: str) -> list[TaskRecord]:
    """A run's tasks in plan order (``tasks.read_tasks``)."""
    task_shape = _Shape(conn, TaskRecord, "tasks")
    rows = conn.execute(f"SELECT {task_shape.columns} FROM tasks WHERE tasks.run_id = ? ORDER BY tasks.seq", (run_id,))
    return [task_shape.build(row) for row in rows]


def read_events(
    conn: sqlite3.Connection, run_id: str, *, task_id: str, types: Sequence[str], limit: int = 1000
) -> list[EventRecord]:
    """A task's events of some ``types``, oldest first (``events.read_events``)."""
    marks = ", ".join("?" * len(types))
    event_shape = _Shape(conn, EventRecord, "events")
    rows = conn.execute(
        f"SELECT {event_shape.columns} FROM events WHERE events.run_id = ? AND events.task_id = ? "
        f"AND events.type IN ({marks}) ORDER BY events.id LIMIT ?",
        (run_id, task_id, *types, limit),
    )
    return [event_shape.build(row) for row in rows]
