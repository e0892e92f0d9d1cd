"""tasks: a duration estimate, the estimated time of the longest chain behind each task, and the claim index by it

``estimate_s`` is what the plan says a task takes (null: not estimated); ``path_estimate_ms`` is the estimated
time of the longest chain starting at the task (``plans.path_estimates_ms``), 0 for tasks planned before. The
claim ranks ready tasks by priority, then ``path_estimate_ms``, then ``path_length``, then plan order: the index
is rebuilt in that order (SQLite's batch mode adds the columns and rebuilds the index without copying the table).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("estimate_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("path_estimate_ms", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.drop_index("ix_tasks_claim")
        batch_op.create_index(
            "ix_tasks_claim",
            [
                "status",
                sa.text("priority DESC"),
                sa.text("path_estimate_ms DESC"),
                sa.text("path_length DESC"),
                "seq",
                "pk",
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_claim")
        batch_op.create_index(
            "ix_tasks_claim", ["status", sa.text("priority DESC"), sa.text("path_length DESC"), "seq", "pk"]
        )
        batch_op.drop_column("path_estimate_ms")
        batch_op.drop_column("estimate_s")
