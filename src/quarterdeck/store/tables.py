"""The schema as SQLAlchemy Core tables; migrations in ``store/migrations`` create exactly this."""

from __future__ import annotations

import sqlalchemy as sa

from quarterdeck.store.types import JSON, Timestamp

__all__ = [
    "api_keys",
    "approvals",
    "attempts",
    "cost_entries",
    "dependencies",
    "events",
    "messages",
    "metadata",
    "orgs",
    "plan_versions",
    "projects",
    "refresh_tokens",
    "runs",
    "secrets",
    "task_conflicts",
    "tasks",
    "team_members",
    "users",
    "verdicts",
]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# --- identity: every run, project, secret and approval belongs to one organisation -------------------------

#: the organisation runs started from the CLI belong to (``QUARTERDECK_ORG``); migration 0003 creates it
DEFAULT_ORG = "default"

orgs = sa.Table(
    "orgs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    #: argon2id
    sa.Column("password_hash", sa.Text, nullable=False),
    #: admin | member | viewer
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("disabled_at", Timestamp),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("name", sa.Text, nullable=False),
    #: the public part of the key, shown in listings and used to find the row
    sa.Column("prefix", sa.String(32), nullable=False, unique=True),
    #: hash of the whole key; the key itself is shown once and never stored
    sa.Column("key_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("scopes", JSON, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_used_at", Timestamp),
    sa.Column("expires_at", Timestamp),
    sa.Column("revoked_at", Timestamp),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("token_hash", sa.String(128), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp),
    #: the token this one was exchanged for (rotation); reuse of a rotated token revokes the family
    sa.Column("replaced_by", sa.String(32)),
)

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    #: provider_key | git_credential | other
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("ciphertext", sa.Text, nullable=False),
    #: which encryption key sealed it (rotation re-seals with the newest)
    sa.Column("key_id", sa.String(32), nullable=False),
    #: e.g. ``sk-…a1b2``: what listings show
    sa.Column("masked", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("org_id", "name"),
)

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("repo_path", sa.Text, nullable=False),
    sa.Column("settings", JSON, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("org_id", "name"),
)

# --- runs ------------------------------------------------------------------------------------------------

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
    sa.Column(
        "org_id",
        sa.String(64),
        sa.ForeignKey("orgs.id", ondelete="CASCADE"),
        nullable=False,
        server_default=DEFAULT_ORG,
    ),
    sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id", ondelete="SET NULL")),
    #: the goal a manager planned this run from, if any
    sa.Column("goal", sa.Text),
    sa.Index("ix_runs_org_id_created_at", "org_id", "created_at"),
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
    #: the crew role (worker specialty) the task is assigned to, if any
    sa.Column("role", sa.String(64)),
    #: revisions asked for so far (by failed verification or by the reviewer)
    sa.Column("revisions", sa.Integer, nullable=False, server_default="0"),
    #: the task may succeed without changing a file
    sa.Column("allow_empty", sa.Boolean, nullable=False, server_default=sa.false()),
    #: the files the plan says the task will touch (paths or globs)
    sa.Column("files", JSON, nullable=False, server_default="[]"),
    #: the environment variable naming the provider key the task spends through (``key:<NAME>`` limits)
    sa.Column("provider_key", sa.String(200)),
    sa.UniqueConstraint("run_id", "id"),
    #: in the claim's own order, so the best ready task is the first index entry (no sort of all ready tasks)
    sa.Index("ix_tasks_claim", "status", sa.desc("priority"), sa.desc("path_length"), "seq", "pk"),
    sa.Index("ix_tasks_run_id_status", "run_id", "status"),
)

dependencies = sa.Table(
    "dependencies",
    metadata,
    sa.Column("task_pk", sa.Integer, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("depends_on_pk", sa.Integer, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_dependencies_depends_on_pk", "depends_on_pk"),
)

#: pairs of tasks predicted to touch the same files: never running at once (both directions stored)
task_conflicts = sa.Table(
    "task_conflicts",
    metadata,
    sa.Column("task_pk", sa.Integer, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("other_pk", sa.Integer, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
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


# --- crews: plans, messages, verdicts, approvals, team ---------------------------------------------------

plan_versions = sa.Table(
    "plan_versions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("plan", JSON, nullable=False),
    #: manager | a user id | file
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    #: proposed | approved | rejected | applied
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("run_id", "version"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("task_id", sa.String(64)),
    sa.Column("sender", sa.String(64), nullable=False),
    sa.Column("recipient", sa.String(64), nullable=False),
    #: e.g. plan, assignment, result, review, revision, replan, decision
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("data", JSON, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_messages_run_id_id", "run_id", "id"),
)

verdicts = sa.Table(
    "verdicts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("task_id", sa.String(64), nullable=False),
    sa.Column("attempt_id", sa.String(32), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    #: accept | revise | reject
    sa.Column("verdict", sa.String(16), nullable=False),
    #: one entry per acceptance criterion: criterion, status (met | not_met | cannot_tell), evidence, by
    sa.Column("criteria", JSON, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("reviewer", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("attempt_id", "revision"),
    sa.Index("ix_verdicts_run_id_task_id", "run_id", "task_id"),
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE")),
    sa.Column("task_id", sa.String(64)),
    #: plan | merge | budget | replan
    sa.Column("kind", sa.String(16), nullable=False),
    #: pending | approved | rejected
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("payload", JSON, nullable=False),
    sa.Column("requested_by", sa.String(64), nullable=False),
    sa.Column("requested_at", Timestamp, nullable=False),
    sa.Column("decided_by", sa.String(64)),
    sa.Column("decided_at", Timestamp),
    sa.Column("reason", sa.Text),
    sa.Index("ix_approvals_org_id_status", "org_id", "status"),
)

team_members = sa.Table(
    "team_members",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    #: manager | worker | reviewer
    sa.Column("kind", sa.String(16), nullable=False),
    #: the worker role (backend, frontend, tests, docs …); the kind for manager and reviewer
    sa.Column("role", sa.String(64), nullable=False),
    sa.Column("runtime", sa.String(64), nullable=False),
    sa.Column("model", sa.String(128)),
    sa.Column("concurrency", sa.Integer, nullable=False, server_default="1"),
    #: tasks of this member running now
    sa.Column("workload", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("run_id", "name"),
)
