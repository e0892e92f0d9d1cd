"""memories: PostgreSQL also keeps each embedding as float32 bytes, which a search reads and scores in numpy

The ``real[]`` column stays (pgvector casts it to ``vector``); ``embedding_bytes`` is backfilled from it here
(each ``float4send``, big-endian, reversed to little-endian). SQLite's ``embedding`` already is those bytes:
there the new column stays NULL.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("memories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("embedding_bytes", sa.LargeBinary(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE memories SET embedding_bytes = (SELECT string_agg("
            "substr(b, 4, 1) || substr(b, 3, 1) || substr(b, 2, 1) || substr(b, 1, 1), ''::bytea ORDER BY i) "
            "FROM unnest(embedding) WITH ORDINALITY AS t(x, i), LATERAL (SELECT float4send(x) AS b) AS s) "
            "WHERE embedding_bytes IS NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("memories", schema=None) as batch_op:
        batch_op.drop_column("embedding_bytes")
