"""agent files: what an agent's own area held (raw streams, session files), in bounded chunks, for any machine

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import quarterdeck.store.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TS = quarterdeck.store.types.Timestamp(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_files",
        sa.Column("task_pk", sa.Integer(), nullable=False),
        sa.Column("area", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["task_pk"], ["tasks.pk"], name=op.f("fk_agent_files_task_pk_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_pk", "area", "path", "seq", name=op.f("pk_agent_files")),
    )
    op.create_index(op.f("ix_agent_files_created_at"), "agent_files", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_files_created_at"), table_name="agent_files")
    op.drop_table("agent_files")
