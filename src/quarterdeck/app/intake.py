"""A webhook delivery, received: checked, handled once, and turned into a run, a revision or a ready pull request.

``receive`` is what ``POST /api/v1/hooks/{github|gitlab}/{project}`` calls. The project names the
repository, its ``[forge]`` table the webhook secret (one of the organisation's encrypted secrets).
A delivery is handled once: its id (or, without one, its body's digest) is recorded before it is
handled, and a redelivery or a replayed body is answered ``duplicate``; a delivery whose handling
failed is forgotten again, so the forge's retry is handled. An issue labelled with the project's
label, or a ``/quarterdeck run`` comment, starts a run of the issue read as a story and comments the
run's link on it (the follower comments the outcome); ``/quarterdeck plan`` comments the plan only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck import stories
from quarterdeck.app import Quarterdeck
from quarterdeck.domain import forges as rules
from quarterdeck.errors import InputError, NotFound, PlanError, QuarterdeckError
from quarterdeck.forges import config as forge_config
from quarterdeck.forges import open_forge, pulls, repository, reviews, webhooks
from quarterdeck.forges.tokens import ForgeSecrets
from quarterdeck.store import forges as forge_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.projects import ProjectRecord
from quarterdeck.store.records import RunRecord
from quarterdeck.store.tables import forge_deliveries, projects
from quarterdeck.store.types import utcnow
from quarterdeck.workspaces import remote

__all__ = ["Received", "SignatureError", "receive"]

log = logging.getLogger(__name__)


class SignatureError(InputError):
    """The delivery's signature (or token) does not match the project's webhook secret."""


@dataclass(frozen=True, slots=True)
class Received:
    """What was done with a delivery."""

    outcome: str
    run_id: str | None = None
    duplicate: bool = False


async def receive(
    app: Quarterdeck, secrets: ForgeSecrets, *, forge: str, project_id: str, headers: Mapping[str, str], body: bytes
) -> Received:
    """Check, record and handle one delivery (``headers`` with lower-case names).

    Raises:
        NotFound: no such project, or it has no ``[forge]`` of this kind.
        SignatureError: the signature or token does not match.
        InputError: the body is not a JSON object.
    """
    async with app.db.read() as conn:
        project = await _read_project(conn, project_id)
    cache_root = app.settings.resolved_repo_cache()
    config = (await repository.open_repository(project.repo_path, cache_root=cache_root)).config
    if config is None or config.kind != forge:
        raise NotFound(f"project {project_id!r} has no [forge] of kind {forge}")
    secret = await secrets.open(project.org_id, config.webhook_secret_name)
    if forge == "github":
        valid = webhooks.verify_github(secret, body, headers.get("x-hub-signature-256"))
        event, delivery = headers.get("x-github-event", ""), headers.get("x-github-delivery")
    else:
        valid = webhooks.verify_gitlab(secret, headers.get("x-gitlab-token"))
        event, delivery = headers.get("x-gitlab-event", ""), headers.get("x-gitlab-event-uuid")
    if not valid:
        raise SignatureError()
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InputError(f"the delivery is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InputError("the delivery is not a JSON object")
    key = webhooks.delivery_key(forge, delivery, body)
    digest = webhooks.delivery_key(forge, None, body)
    async with app.db.transaction() as conn:
        fresh = await forge_store.create_delivery(conn, key, project_id=project.id, event=event, now=utcnow())
        if fresh and digest != key:  # the same signed body again under another id: a replay
            fresh = await forge_store.create_delivery(conn, digest, project_id=project.id, event=event, now=utcnow())
            if not fresh:
                await conn.execute(forge_deliveries.delete().where(forge_deliveries.c.id == key))
    if not fresh:
        return Received("duplicate", duplicate=True)
    parse = webhooks.parse_github if forge == "github" else webhooks.parse_gitlab
    intent = parse(event, payload, label=config.label)
    try:
        received = await _handle(app, secrets, project, config, intent)
    except BaseException:
        async with app.db.transaction() as conn:  # not handled: the forge's retry must be
            await conn.execute(forge_deliveries.delete().where(forge_deliveries.c.id.in_([key, digest])))
        raise
    async with app.db.transaction() as conn:
        await forge_store.update_delivery(conn, key, received.outcome)
    return received


async def _read_project(conn: AsyncConnection, project_id: str) -> ProjectRecord:
    row = (await conn.execute(sa.select(projects).where(projects.c.id == project_id))).first()
    if row is None:
        raise NotFound(f"no project {project_id!r}")
    return ProjectRecord.from_row(row._mapping)


async def _handle(
    app: Quarterdeck,
    secrets: ForgeSecrets,
    project: ProjectRecord,
    config: forge_config.ForgeConfig,
    intent: webhooks.Intent,
) -> Received:
    cache_root = app.settings.resolved_repo_cache()
    if isinstance(intent, webhooks.Ignored):
        return Received(f"ignored: {intent.reason}")
    if isinstance(intent, webhooks.IssueCommand):
        return await _start(app, secrets, project, config, intent)
    link = await _link(app, config, intent.number, intent.head)
    if link is None:
        return Received("ignored: no run has this pull request")
    if isinstance(intent, webhooks.ReviewFeedback):
        said = await reviews.request_revisions(app.db, link, intent.items, cache_root=cache_root)
        return Received("revision " + ", ".join(said) if said else "ignored: no task owns it", link.run_id)
    synced = await pulls.sync_run(app.db, secrets, link.run_id, cache_root=cache_root)
    return Received("ready" if synced.ready else "synced", link.run_id)


async def _link(
    app: Quarterdeck, config: forge_config.ForgeConfig, number: int | None, head: str | None
) -> forge_store.LinkRecord | None:
    async with app.db.read() as conn:
        if number:
            try:
                return await forge_store.read_link_by_number(
                    conn, forge=config.kind, repository=config.repository, number=number
                )
            except NotFound:
                return None
        if head:
            return await forge_store.read_link_by_head(conn, forge=config.kind, repository=config.repository, head=head)
    return None


async def _start(
    app: Quarterdeck,
    secrets: ForgeSecrets,
    project: ProjectRecord,
    config: forge_config.ForgeConfig,
    command: webhooks.IssueCommand,
) -> Received:
    """Plan the issue as a story; for ``run``, start it; comment on the issue either way."""
    issue = command.issue
    if command.command == "run" and (busy := await _working_on(app, config, issue.number)) is not None:
        return Received(f"ignored: run {busy} is already working on #{issue.number}", busy)
    forge = open_forge(config, await secrets.open(project.org_id, config.token_name))
    path = app.settings.state_dir / "intake" / project.id / f"issue-{issue.number}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([_story(issue)], indent=2), encoding="utf-8")
    try:
        loaded = stories.load_plan(path)
        plan = await app.choose(loaded.plan, repo=remote.repository(project.repo_path), agent=config.agent)
    except (PlanError, InputError) as exc:
        await forge.comment_issue(issue.number, f"Quarterdeck could not plan this issue:\n\n```\n{exc}\n```")
        return Received(f"refused: {exc}"[:500])
    if command.command == "plan":
        lines = [f"- `{t.id}` {t.title} ({t.runtime})" for t in plan.tasks]
        await forge.comment_issue(issue.number, "Quarterdeck would run:\n\n" + "\n".join(lines))
        return Received("planned")
    from quarterdeck.engine import submit

    async def link_issue(conn: AsyncConnection, run: RunRecord) -> None:
        await forge_store.create_link(
            conn,
            run_id=run.id,
            kind="issue",
            forge=config.kind,
            repository=config.repository,
            number=issue.number,
            url="",
            head="",
            state="open",
            now=utcnow(),
        )

    run = await submit.submit_plan(
        app.db,
        app.registry,
        plan,
        repo=remote.repository(project.repo_path),
        budget_usd=config.budget_usd,
        org_id=project.org_id,
        project_id=project.id,
        goal=f"#{issue.number} {issue.title}"[:500],
        also=link_issue,
    )
    where = f"{config.dashboard_url.rstrip('/')}/runs/{run.id}" if config.dashboard_url else f"`{run.id}`"
    try:
        await forge.comment_issue(issue.number, f"Quarterdeck started run {where} for @{command.by or 'you'}.")
    except QuarterdeckError as exc:  # the run stands; the outcome comment will say more
        log.warning("run %s: could not comment on issue #%s: %s", run.id, issue.number, exc)
    return Received(f"run {run.id}", run.id)


async def _working_on(app: Quarterdeck, config: forge_config.ForgeConfig, number: int) -> str | None:
    """The run started from this issue that has not ended, if any (a second label or command starts no other)."""
    async with app.db.read() as conn:
        try:
            link = await forge_store.read_link_by_number(
                conn, forge=config.kind, repository=config.repository, number=number, kind="issue"
            )
        except NotFound:
            return None
        run = await run_store.read_run(conn, link.run_id)
    return None if run.status.terminal else run.id


def _story(issue: rules.IssueRecord) -> dict[str, object]:
    """The issue as ``gh issue list --json number,title,body,labels,state`` prints it (``stories/github.py``)."""
    return {
        "number": issue.number,
        "title": issue.title,
        "body": issue.body,
        "labels": [{"name": name} for name in issue.labels],
        "state": issue.state,
    }
