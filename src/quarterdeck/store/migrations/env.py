"""Alembic environment: runs migrations on the connection Quarterdeck hands over (never connects itself)."""

from __future__ import annotations

from alembic import context

from quarterdeck.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running alembic by hand
    raise RuntimeError("run migrations through `quarterdeck db upgrade`")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
