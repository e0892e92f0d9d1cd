"""The schema as SQLAlchemy Core tables; migrations in ``store/migrations`` create exactly this."""

from __future__ import annotations

import sqlalchemy as sa

from quarterdeck.store.types import JSON, Timestamp, Vector

__all__ = [
    "agent_files",
    "api_keys",
    "approvals",
    "attempts",
    "cost_entries",
    "dependencies",
    "events",
    "forge_deliveries",
    "forge_links",
    "memories",
    "messages",
    "metadata",
    "notifications",
    "notifier_state",
    "orgs",
    "plan_versions",
    "projects",
    "refresh_tokens",
    "runs",
    "secrets",
    "subscriptions",
    "supervision",
    "task_conflicts",
    "task_requirements",
    "tasks",
    "team_members",
    "users",
    "verdicts",
    "workers",
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
    #: the run's W3C trace context (``observability.tracing``): its tasks' spans, on any worker, join its trace
    sa.Column("traceparent", sa.String(64)),
    #: what a ``waiting`` run waits for a person to decide: plan | replan | budget | merge
    sa.Column("waiting_for", sa.String(16)),
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
    #: how long the plan expects the task to take, in seconds (null: not estimated)
    sa.Column("estimate_s", sa.Float),
    #: the estimated time of the longest chain starting at the task, itself included (``plans.path_estimates_ms``;
    #: 0 in a plan without estimates): the claim ranks by it before ``path_length``
    sa.Column("path_estimate_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.UniqueConstraint("run_id", "id"),
    #: in the claim's own order, so the best ready task is the first index entry (no sort of all ready tasks)
    sa.Index(
        "ix_tasks_claim",
        "status",
        sa.desc("priority"),
        sa.desc("path_estimate_ms"),
        sa.desc("path_length"),
        "seq",
        "pk",
    ),
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

#: what a task requires of the worker that claims it (labels such as ``gpu``, ``region=eu``, ``runtime:codex``)
task_requirements = sa.Table(
    "task_requirements",
    metadata,
    sa.Column("task_pk", sa.Integer, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("requirement", sa.String(64), primary_key=True),
)

#: what an agent's own area held after each of its steps (raw streams, a CLI's session files), in chunks: the
#: API and a retry on another machine read them from here (``engine/agent_files.py``)
agent_files = sa.Table(
    "agent_files",
    metadata,
    sa.Column("task_pk", sa.Integer, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    #: the area's name, ``<task>-<attempt>``
    sa.Column("area", sa.String(128), primary_key=True),
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False, index=True),
)

#: the fleet: each worker process, what it offers, and when it last said it was alive
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("slots", sa.Integer, nullable=False),
    sa.Column("running", sa.Integer, nullable=False),
    sa.Column("labels", JSON, nullable=False),
    sa.Column("runtimes", JSON, nullable=False),
    #: repositories it could not reach lately (it leaves their tasks to others)
    sa.Column("unreachable", JSON, nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("heartbeat_at", Timestamp, nullable=False),
    sa.Column("stopped_at", Timestamp, nullable=True),
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
    # a task's log (``GET …/tasks/{task}/events``) and task-filtered streams: its rows, not the run's
    sa.Index("ix_events_run_id_task_id_id", "run_id", "task_id", "id"),
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

supervision = sa.Table(
    "supervision",
    metadata,
    #: one row per run a crew drives (a goal's): the decision step it needs next, claimed under a lease
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    #: the plan (and re-plans) wait for a person's approval before they run
    sa.Column("approve", sa.Boolean, nullable=False),
    #: plan | replan | budget, or null when no decision step is due
    sa.Column("step", sa.String(16)),
    #: the task a re-plan is about
    sa.Column("task_id", sa.String(64)),
    sa.Column("replans", sa.Integer, nullable=False, server_default="0"),
    #: how many times the due step was started (a step that crashes its process again and again ends the run)
    sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
    #: who started the goal (a user id, an API key, ``cli``)
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("holder", sa.String(64)),
    sa.Column("lease_expires_at", Timestamp),
    sa.Column("updated_at", Timestamp, nullable=False),
    #: the due step's model answer, once it arrived (``{"step": …, …}``): a step taken over after its holder died
    #: reuses it rather than asking the model again; cleared when the step ends or another is requested
    sa.Column("answer", JSON),
    sa.Index("ix_supervision_step", "step"),
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

# --- forges: pull requests and issues on GitHub / GitLab, and the webhooks received from them ----------------

forge_links = sa.Table(
    "forge_links",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    #: the task of a per-task pull request; "" for the run's own (and for an issue)
    sa.Column("task_id", sa.String(64), nullable=False, server_default=""),
    #: pull (a pull or merge request the run opened) | issue (the issue the run was started from)
    sa.Column("kind", sa.String(16), nullable=False),
    #: github | gitlab
    sa.Column("forge", sa.String(16), nullable=False),
    sa.Column("repository", sa.String(300), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("url", sa.String(1000), nullable=False, server_default=""),
    sa.Column("head", sa.String(200), nullable=False, server_default=""),
    #: open (a draft while the run works) | ready | done (an issue told the outcome)
    sa.Column("state", sa.String(16), nullable=False),
    #: review feedback waiting for its task to finish its current attempt: [{task_id, turn}]
    sa.Column("pending", JSON, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("run_id", "kind", "task_id"),
    sa.Index("ix_forge_links_forge_repository_number", "forge", "repository", "number"),
)

forge_deliveries = sa.Table(
    "forge_deliveries",
    metadata,
    #: ``github:<X-GitHub-Delivery>`` or ``gitlab:<X-Gitlab-Event-UUID>``: a delivery is handled once
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("project_id", sa.String(32), nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    #: what was done with it (``run r_…``, ``ignored: …``)
    sa.Column("outcome", sa.String(500), nullable=False, server_default=""),
    sa.Column("received_at", Timestamp, nullable=False),
)

# --- notifications: subscriptions, the outbox, the notifier's place in the event log ----------------------

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    #: org | project | user
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id", ondelete="CASCADE")),
    #: the user whose own subscription this is (scope ``user``)
    sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE")),
    #: webhook | slack | email
    sa.Column("channel", sa.String(16), nullable=False),
    #: a URL (webhook, slack) or an email address
    sa.Column("target", sa.Text, nullable=False),
    #: the notification kinds it hears of (empty: all)
    sa.Column("kinds", JSON, nullable=False),
    #: the name of the organisation's secret that signs webhook bodies (HMAC-SHA256), if any
    sa.Column("secret_name", sa.String(128)),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_subscriptions_org_id", "org_id"),
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("subscription_id", sa.String(32), sa.ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False),
    #: the event that made it (one notification per event and subscription, however often it is read)
    sa.Column("event_id", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(32)),
    sa.Column("task_id", sa.String(64)),
    #: approval.needed | run.succeeded | … (``domain/notifications.Kind``)
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    #: the webhook body (the documented schema); Slack messages and emails are made from it
    sa.Column("payload", JSON, nullable=False),
    #: pending | sending | delivered | failed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Timestamp, nullable=False),
    #: the delivering process's lease: another process takes the row over once it expires
    sa.Column("lease_token", sa.String(32)),
    sa.Column("lease_expires_at", Timestamp),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("delivered_at", Timestamp),
    sa.UniqueConstraint("subscription_id", "event_id"),
    sa.Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
    sa.Index("ix_notifications_org_id_created_at", "org_id", "created_at"),
)

notifier_state = sa.Table(
    "notifier_state",
    metadata,
    #: one row, ``events``
    sa.Column("name", sa.String(32), primary_key=True),
    #: events up to this id have been turned into notifications (later ones within the settle window are re-read)
    sa.Column("last_event_id", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

# --- agent memory: what earlier tasks learned, per organisation and repository (docs/memory.md) ------------

memories = sa.Table(
    "memories",
    metadata,
    sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    #: the repository the lesson was learned in, as its runs name it (a path or a URL)
    sa.Column("repo", sa.Text, nullable=False),
    #: where it was learned (no foreign key: a lesson outlives its run)
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("task_id", sa.String(64), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    #: succeeded | failed (the task's end)
    sa.Column("outcome", sa.String(16), nullable=False),
    #: the lesson as agents are given it (domain/lessons.py), redacted
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("files", JSON, nullable=False),
    #: the embedding model's name and the text's unit vector
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("embedding", Vector, nullable=False),
    #: PostgreSQL: the same vector as float32 little-endian bytes, what a search reads (store/vectors.py);
    #: SQLite: NULL (``embedding`` is those bytes already)
    sa.Column("embedding_bytes", sa.LargeBinary, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_memories_org_id_repo", "org_id", "repo"),
)
