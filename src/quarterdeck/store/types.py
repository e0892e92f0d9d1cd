"""Portable column types: UTC timestamps and JSON that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

__all__ = ["JSON", "Timestamp", "Vector", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Timestamp(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp; SQLite stores it naive, in UTC, so it still sorts."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a Timestamp column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSON: sa.types.TypeEngine[Any] = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class Vector(sa.TypeDecorator[bytes]):
    """An embedding: float32 values. SQLite keeps them as a BLOB (sqlite-vec's own format, little-endian
    float32); PostgreSQL as ``real[]``, which its SQL can compute with (and pgvector casts to ``vector``).
    Bound and read as the BLOB's bytes on both, so callers hold one form (``numpy.frombuffer`` reads it)."""

    impl = sa.LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(sa.REAL))
        return dialect.type_descriptor(sa.LargeBinary())

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        count = len(value) // 4
        return list(struct.unpack(f"<{count}f", value))

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None or dialect.name != "postgresql":
            return value  # type: ignore[no-any-return]
        return struct.pack(f"<{len(value)}f", *value)
