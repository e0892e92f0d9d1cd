"""the claim index in the claim's order (priority and path length descending, then plan order)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_claim")
        batch_op.create_index(
            "ix_tasks_claim", ["status", sa.text("priority DESC"), sa.text("path_length DESC"), "seq", "pk"]
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_claim")
        batch_op.create_index("ix_tasks_claim", ["status", "priority", "path_length", "seq"])
