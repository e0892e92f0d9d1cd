"""files hints and the pairs of tasks that must not run at once

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "files", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), server_default="[]", nullable=False
            )
        )
    op.create_table(
        "task_conflicts",
        sa.Column("task_pk", sa.Integer(), nullable=False),
        sa.Column("other_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["other_pk"], ["tasks.pk"], name=op.f("fk_task_conflicts_other_pk_tasks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_pk"], ["tasks.pk"], name=op.f("fk_task_conflicts_task_pk_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_pk", "other_pk", name=op.f("pk_task_conflicts")),
    )


def downgrade() -> None:
    op.drop_table("task_conflicts")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("files")
