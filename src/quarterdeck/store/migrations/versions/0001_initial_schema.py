"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 10:37:17.180155
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import quarterdeck.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("repo_path", sa.Text(), nullable=False),
        sa.Column("base_ref", sa.Text(), nullable=False),
        sa.Column("integration_branch", sa.Text(), nullable=False),
        sa.Column("merge_strategy", sa.String(length=16), server_default="squash", nullable=False),
        sa.Column("plan_path", sa.Text(), nullable=False),
        sa.Column("budget_usd", sa.Float(), nullable=True),
        sa.Column("spent_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column("reserved_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column("created_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=False),
        sa.Column("updated_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=False),
        sa.Column("finished_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_table(
        "cost_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("attempt_id", sa.String(length=32), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("input_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), server_default="", nullable=False),
        sa.Column("created_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_cost_entries_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_entries")),
    )
    with op.batch_alter_table("cost_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cost_entries_run_id"), ["run_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("attempt_id", sa.String(length=32), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_events_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_run_id_id", ["run_id", "id"], unique=False)

    op.create_table(
        "tasks",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("runtime", sa.String(length=64), nullable=False),
        sa.Column(
            "options", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "verify", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "acceptance_criteria",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("source_line", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("path_length", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("budget_usd", sa.Float(), nullable=True),
        sa.Column("max_revisions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pending_deps", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("not_before", quarterdeck.store.types.Timestamp(timezone=True), nullable=True),
        sa.Column("worker_id", sa.String(length=64), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("lease_expires_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=True),
        sa.Column("attempt_id", sa.String(length=32), nullable=True),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column(
            "checkpoint", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=False),
        sa.Column("started_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=True),
        sa.Column("finished_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_tasks_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_tasks")),
        sa.UniqueConstraint("run_id", "id", name=op.f("uq_tasks_run_id_id")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_claim", ["status", "priority", "path_length", "seq"], unique=False)
        batch_op.create_index("ix_tasks_run_id_status", ["run_id", "status"], unique=False)

    op.create_table(
        "attempts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("task_pk", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("lease_token", sa.String(length=32), nullable=False),
        sa.Column("heartbeat_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=False),
        sa.Column("started_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=False),
        sa.Column("finished_at", quarterdeck.store.types.Timestamp(timezone=True), nullable=True),
        sa.Column("branch", sa.Text(), nullable=True),
        sa.Column("worktree", sa.Text(), nullable=True),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column("reserved_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["task_pk"], ["tasks.pk"], name=op.f("fk_attempts_task_pk_tasks"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
        sa.UniqueConstraint("task_pk", "number", name=op.f("uq_attempts_task_pk_number")),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attempts_task_pk"), ["task_pk"], unique=False)

    op.create_table(
        "dependencies",
        sa.Column("task_pk", sa.Integer(), nullable=False),
        sa.Column("depends_on_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["depends_on_pk"], ["tasks.pk"], name=op.f("fk_dependencies_depends_on_pk_tasks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_pk"], ["tasks.pk"], name=op.f("fk_dependencies_task_pk_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_pk", "depends_on_pk", name=op.f("pk_dependencies")),
    )
    with op.batch_alter_table("dependencies", schema=None) as batch_op:
        batch_op.create_index("ix_dependencies_depends_on_pk", ["depends_on_pk"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("dependencies", schema=None) as batch_op:
        batch_op.drop_index("ix_dependencies_depends_on_pk")

    op.drop_table("dependencies")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempts_task_pk"))

    op.drop_table("attempts")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_run_id_status")
        batch_op.drop_index("ix_tasks_claim")

    op.drop_table("tasks")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_run_id_id")

    op.drop_table("events")
    with op.batch_alter_table("cost_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cost_entries_run_id"))

    op.drop_table("cost_entries")
    op.drop_table("runs")
