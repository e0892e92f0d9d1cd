"""forges: the pull requests and issues of runs, and the webhook deliveries already handled

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quarterdeck.store.types import JSON, Timestamp

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forge_links",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("forge", sa.String(16), nullable=False),
        sa.Column("repository", sa.String(300), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("url", sa.String(1000), nullable=False, server_default=""),
        sa.Column("head", sa.String(200), nullable=False, server_default=""),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("pending", JSON, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_forge_links_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forge_links")),
        sa.UniqueConstraint("run_id", "kind", "task_id", name=op.f("uq_forge_links_run_id_kind_task_id")),
    )
    op.create_index("ix_forge_links_forge_repository_number", "forge_links", ["forge", "repository", "number"])
    op.create_table(
        "forge_deliveries",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(500), nullable=False, server_default=""),
        sa.Column("received_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forge_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("forge_deliveries")
    op.drop_index("ix_forge_links_forge_repository_number", table_name="forge_links")
    op.drop_table("forge_links")
