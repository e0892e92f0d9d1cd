"""Records from the store into the API's public models (and the little arithmetic views need)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from quarterdeck.api import schemas
from quarterdeck.notify.subscriptions import masked_target
from quarterdeck.store.crews import ApprovalRecord
from quarterdeck.store.identity import ApiKeyRecord, UserRecord
from quarterdeck.store.listings import RunSummary, TaskSummary
from quarterdeck.store.notifications import NotificationRecord, SubscriptionRecord
from quarterdeck.store.projects import ProjectRecord
from quarterdeck.store.records import AttemptRecord, EventRecord, RunRecord, TaskRecord
from quarterdeck.store.secrets import SecretRecord

__all__ = [
    "api_key",
    "attempt",
    "critical_path",
    "event",
    "notification",
    "project",
    "queue_task",
    "run_summary",
    "secret",
    "subscription",
    "task_row",
    "user",
]


def run_summary(run: RunRecord | RunSummary, counts: Mapping[str, int]) -> schemas.RunSummary:
    return schemas.RunSummary(
        id=run.id,
        name=run.name,
        status=str(run.status),
        repo_path=run.repo_path,
        integration_branch=run.integration_branch,
        budget_usd=run.budget_usd,
        spent_usd=run.spent_usd,
        created_at=run.created_at,
        finished_at=run.finished_at,
        goal=run.goal,
        project_id=run.project_id,
        error=run.error,
        waiting_for=run.waiting_for,
        counts=dict(counts),
        total_tasks=sum(counts.values()),
    )


def task_row(task: TaskRecord | TaskSummary, depends_on: Sequence[str], cost_usd: float) -> schemas.TaskRow:
    return schemas.TaskRow(
        id=task.id,
        run_id=task.run_id,
        title=task.title,
        status=str(task.status),
        priority=task.priority,
        depends_on=list(depends_on),
        runtime=task.runtime,
        role=task.role,
        attempts=task.attempts,
        revisions=task.revisions,
        cost_usd=cost_usd,
        path_length=task.path_length,
        estimate_s=task.estimate_s,
        path_estimate_s=task.path_estimate_ms / 1000,
        error=task.error,
        commit_sha=task.commit_sha,
        started_at=task.started_at,
        finished_at=task.finished_at,
    )


def critical_path(tasks: Sequence[TaskRecord | TaskSummary], depends_on: Mapping[str, Sequence[str]]) -> list[str]:
    """The longest dependency chain (in estimated time, then in tasks), first task first, from each task's
    stored chain."""
    if not tasks:
        return []
    length = {t.id: (t.path_estimate_ms, t.path_length) for t in tasks}
    dependants: dict[str, list[str]] = {t.id: [] for t in tasks}
    for task_id, deps in depends_on.items():
        for dep in deps:
            if dep in dependants:
                dependants[dep].append(task_id)
    roots = [t.id for t in tasks if not depends_on.get(t.id)]
    if not roots:
        return []
    node = max(roots, key=lambda n: length[n])
    path = [node]
    while dependants[node]:
        node = max(dependants[node], key=lambda n: length[n])
        path.append(node)
    return path


def attempt(record: AttemptRecord) -> schemas.AttemptPublic:
    return schemas.AttemptPublic(
        id=record.id,
        number=record.number,
        status=str(record.status),
        worker_id=record.worker_id,
        started_at=record.started_at,
        finished_at=record.finished_at,
        branch=record.branch,
        commit_sha=record.commit_sha,
        cost_usd=record.cost_usd,
        error=record.error,
    )


def queue_task(
    task: TaskRecord, *, run_name: str | None = None, run_status: str | None = None, waits: str | None = None
) -> schemas.QueueTask:
    return schemas.QueueTask(
        run_id=task.run_id,
        run_name=run_name,
        run_status=run_status,
        id=task.id,
        title=task.title,
        status=str(task.status),
        priority=task.priority,
        runtime=task.runtime,
        role=task.role,
        attempts=task.attempts,
        worker_id=task.worker_id,
        started_at=task.started_at,
        not_before=task.not_before,
        waits=waits,
    )


def event(record: EventRecord) -> schemas.EventPublic:
    return schemas.EventPublic(
        id=record.id,
        run_id=record.run_id,
        task_id=record.task_id,
        attempt_id=record.attempt_id,
        type=record.type,
        payload=record.payload,
        created_at=record.created_at,
    )


def user(record: UserRecord) -> schemas.UserPublic:
    return schemas.UserPublic(
        id=record.id,
        email=record.email,
        name=record.name,
        role=record.role,
        org_id=record.org_id,
        created_at=record.created_at,
        disabled=record.disabled_at is not None,
    )


def api_key(record: ApiKeyRecord) -> schemas.ApiKeyPublic:
    return schemas.ApiKeyPublic(
        id=record.id,
        name=record.name,
        prefix=record.prefix,
        role=record.role,
        user_id=record.user_id,
        created_at=record.created_at,
        last_used_at=record.last_used_at,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
    )


def secret(record: SecretRecord) -> schemas.SecretPublic:
    return schemas.SecretPublic(
        name=record.name,
        kind=record.kind,
        masked=record.masked,
        key_id=record.key_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def project(record: ProjectRecord) -> schemas.ProjectPublic:
    return schemas.ProjectPublic(
        id=record.id,
        name=record.name,
        repo_path=record.repo_path,
        settings=record.settings,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def approval(
    record: ApprovalRecord, *, run_name: str | None = None, names: Mapping[str, str] | None = None
) -> schemas.ApprovalPublic:
    """An approval; ``names`` maps user ids to display names (who asked, who decided), ``run_name`` its run's."""
    names = names or {}
    return schemas.ApprovalPublic(
        id=record.id,
        run_id=record.run_id,
        run_name=run_name,
        requested_by_name=names.get(record.requested_by),
        decided_by_name=names.get(record.decided_by) if record.decided_by else None,
        task_id=record.task_id,
        kind=record.kind,
        status=record.status,
        payload=record.payload,
        requested_by=record.requested_by,
        requested_at=record.requested_at,
        decided_by=record.decided_by,
        decided_at=record.decided_at,
        reason=record.reason,
    )


def subscription(record: SubscriptionRecord) -> schemas.SubscriptionPublic:
    return schemas.SubscriptionPublic(
        id=record.id,
        scope=record.scope,
        project_id=record.project_id,
        user_id=record.user_id,
        channel=record.channel,
        target=masked_target(record.channel, record.target),
        kinds=record.kinds,
        secret_name=record.secret_name,
        created_by=record.created_by,
        created_at=record.created_at,
    )


def notification(record: NotificationRecord) -> schemas.NotificationPublic:
    return schemas.NotificationPublic(
        id=record.id,
        subscription_id=record.subscription_id,
        kind=record.kind,
        channel=record.channel,
        target=masked_target(record.channel, record.target),
        run_id=record.run_id,
        task_id=record.task_id,
        status=record.status,
        attempts=record.attempts,
        next_attempt_at=record.next_attempt_at,
        last_error=record.last_error,
        created_at=record.created_at,
        delivered_at=record.delivered_at,
        payload=record.payload,
    )
