"""runs wait honestly (``waiting`` with what for); the decision steps a crew's run needs, claimed under a lease

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import quarterdeck.store.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waiting_for", sa.String(length=16), nullable=True))
    op.execute("UPDATE runs SET status = 'waiting', waiting_for = 'budget' WHERE status = 'budget_exhausted'")
    op.execute(
        "UPDATE runs SET status = 'waiting', waiting_for = 'plan' WHERE status = 'paused' AND id IN "
        "(SELECT run_id FROM approvals WHERE kind = 'plan' AND status = 'pending')"
    )
    op.create_table(
        "supervision",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("approve", sa.Boolean(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("replans", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=True),
        sa.Column("updated_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_supervision_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_supervision")),
    )
    with op.batch_alter_table("supervision", schema=None) as batch_op:
        batch_op.create_index("ix_supervision_step", ["step"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("supervision", schema=None) as batch_op:
        batch_op.drop_index("ix_supervision_step")
    op.drop_table("supervision")
    op.execute("UPDATE runs SET status = 'budget_exhausted' WHERE status = 'waiting' AND waiting_for = 'budget'")
    op.execute("UPDATE runs SET status = 'paused' WHERE status = 'waiting'")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("waiting_for")
