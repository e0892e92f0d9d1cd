"""a decision step checkpoints the manager's answer: a step taken over after a crash reuses it, never asks again

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("supervision", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("answer", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"))
        )


def downgrade() -> None:
    with op.batch_alter_table("supervision", schema=None) as batch_op:
        batch_op.drop_column("answer")
