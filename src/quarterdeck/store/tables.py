"""The schema as SQLAlchemy Core tables; migrations in ``store/migrations`` create exactly this."""

from __future__ import annotations

import sqlalchemy as sa

from quarterdeck.store.types import JSON, Timestamp

__all__ = ["attempts", "cost_entries", "dependencies", "events", "metadata", "runs", "tasks"]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("repo_path", sa.Text, nullable=False),
    sa.Column("base_ref", sa.Text, nullable=False),
    sa.Column("integration_branch", sa.Text, nullable=False),
    sa.Column("merge_strategy", sa.String(16), nullable=False, server_default="squash"),
    sa.Column("plan_path", sa.Text, nullable=False),
    sa.Column("budget_usd", sa.Float),
    sa.Column("spent_usd", sa.Float, nullable=False, server_default="0"),
    sa.Column("reserved_usd", sa.Float, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp),
    sa.Column("error", sa.Text),
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("id", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("runtime", sa.String(64), nullable=False),
    sa.Column("options", JSON, nullable=False),
    sa.Column("verify", JSON, nullable=False),
    sa.Column("acceptance_criteria", JSON, nullable=False),
    sa.Column("source_path", sa.Text, nullable=False),
    sa.Column("source_line", sa.Integer, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("path_length", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("timeout_s", sa.Float, nullable=False),
    sa.Column("budget_usd", sa.Float),
    sa.Column("max_revisions", sa.Integer, nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("pending_deps", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("not_before", Timestamp),
    sa.Column("worker_id", sa.String(64)),
    sa.Column("lease_token", sa.String(32)),
    sa.Column("lease_expires_at", Timestamp),
    sa.Column("attempt_id", sa.String(32)),
    sa.Column("commit_sha", sa.String(64)),
    #: steps an interrupted attempt completed, so the next attempt does not redo them
    sa.Column("checkpoint", JSON),
    sa.Column("error", sa.Text),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.UniqueConstraint("run_id", "id"),
    sa.Index("ix_tasks_claim", "status", "priority", "path_length", "seq"),
    sa.Index("ix_tasks_run_id_status", "run_id", "status"),
)

dependencies = sa.Table(
    "dependencies",
    metadata,
    sa.Column("task_pk", sa.Integer, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("depends_on_pk", sa.Integer, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_dependencies_depends_on_pk", "depends_on_pk"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("task_pk", sa.Integer, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("worker_id", sa.String(64), nullable=False),
    sa.Column("lease_token", sa.String(32), nullable=False),
    sa.Column("heartbeat_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp),
    sa.Column("branch", sa.Text),
    sa.Column("worktree", sa.Text),
    sa.Column("commit_sha", sa.String(64)),
    sa.Column("reserved_usd", sa.Float, nullable=False, server_default="0"),
    sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"),
    #: QUARTERDECK_PORT of a running attempt, unique among running attempts
    sa.Column("port", sa.Integer),
    sa.Column("error", sa.Text),
    sa.UniqueConstraint("task_pk", "number"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("task_id", sa.String(64)),
    sa.Column("attempt_id", sa.String(32)),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("payload", JSON, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_events_run_id_id", "run_id", "id"),
)

cost_entries = sa.Table(
    "cost_entries",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("task_id", sa.String(64)),
    sa.Column("attempt_id", sa.String(32)),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("input_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("output_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost_usd", sa.Float, nullable=False),
    #: agent (reported by the agent), price-table (tokens × our prices), unpriced (unknown model)
    sa.Column("source", sa.String(16), nullable=False, server_default=""),
    sa.Column("created_at", Timestamp, nullable=False),
)
