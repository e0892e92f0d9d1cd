"""Keep a run's pull request (or one per task) in step with the run, and tell its issue the outcome.

``sync_run`` is idempotent: it opens the pull request once its head was pushed (finding one opened by
an earlier call or another process first), rewrites its body from the run as it is now, marks it
ready when the run succeeded (and, with ``wait_for_checks``, its head's checks are green), and
comments the outcome on the issue the run was started from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.domain import forges as rules
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import RunStatus, WaitingFor
from quarterdeck.errors import InputError
from quarterdeck.forges import config as forge_config
from quarterdeck.forges import open_forge, repository
from quarterdeck.forges.repository import Checkout
from quarterdeck.forges.tokens import ForgeSecrets
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store import forges as forge_store
from quarterdeck.store import listings
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import RunRecord
from quarterdeck.store.types import utcnow

__all__ = ["Synced", "open_run_forge", "sync_run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Synced:
    """What ``sync_run`` did."""

    opened: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    ready: tuple[str, ...] = ()
    commented: bool = False
    #: False: the run's repository has no ``[forge]`` (nothing was looked at)
    forge: bool = True


async def open_run_forge(
    secrets: ForgeSecrets, run: RunRecord, *, cache_root: Path
) -> tuple[Checkout, forge_config.ForgeConfig, rules.Forge] | None:
    """The run's repository and its forge, opened with its organisation's token (None: it has no ``[forge]``)."""
    try:
        checkout = await repository.open_repository(
            run.repo_path, cache_root=cache_root, branch=run.integration_branch, run_id=run.id
        )
    except InputError as exc:
        log.warning("run %s: %s", run.id, exc)
        return None
    if checkout.config is None:
        return None
    token = await secrets.open(run.org_id, checkout.config.token_name)
    return checkout, checkout.config, open_forge(checkout.config, token)


async def sync_run(db: Database, secrets: ForgeSecrets, run_id: str, *, cache_root: Path) -> Synced:
    """Bring the run's pull request(s) and issue on its forge up to date (nothing without a ``[forge]``).

    ``cache_root`` is where this machine caches repositories named by URL (``Settings.resolved_repo_cache``)."""
    async with db.read() as conn:
        run = await run_store.read_run(conn, run_id)
    opened = await open_run_forge(secrets, run, cache_root=cache_root)
    if opened is None:
        return Synced(forge=False)
    checkout, config, forge = opened
    result = Synced()
    if config.pull_requests == "run":
        result = await _sync_pull(db, checkout, forge, run, task_id="", head=run.integration_branch)
    elif config.pull_requests == "task":
        async with db.read() as conn:
            tasks = await listings.read_task_summaries(conn, run.id)
        for task in tasks:
            if task.status == "succeeded":
                branch = f"qd/{run.id}/{task.id}"
                one = await _sync_pull(db, checkout, forge, run, task_id=task.id, head=branch)
                result = Synced(result.opened + one.opened, result.updated + one.updated, result.ready + one.ready)
    commented = await _tell_issue(db, forge, run)
    return Synced(result.opened, result.updated, result.ready, commented)


async def _pushed(db: Database, checkout: Checkout, run_id: str, ref: str) -> bool:
    """Whether ``ref`` reached the remote (a ``push.done`` event names it; a URL's branches are there)."""
    if checkout.remote:
        return True
    async with db.read() as conn:
        pushes = await event_store.read_events(conn, run_id, types=[EventType.PUSH_DONE], limit=100_000)
    return any(ref in (e.payload.get("refs") or []) for e in pushes)


async def _sync_pull(
    db: Database, checkout: Checkout, forge: rules.Forge, run: RunRecord, *, task_id: str, head: str
) -> Synced:
    config = checkout.config
    assert config is not None
    if not await _pushed(db, checkout, run.id, head):
        return Synced()  # nothing on the remote to open a pull request from, yet
    async with db.read() as conn:
        link = await forge_store.read_link(conn, run.id, kind="pull", task_id=task_id)
        issue = await forge_store.read_link(conn, run.id, kind="issue")
    title, body = await _describe(db, config, run, task_id=task_id, issue=issue.number if issue else None)
    opened: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    status = "succeeded" if task_id else str(run.status)
    if link is None:
        pull = await forge.find_pull_request(head)
        if pull is None:
            sha = await checkout.sha(head)
            checks: rules.ChecksState = await forge.checks(sha) if sha else "none"
            draft = config.draft and not rules.mark_ready(status, checks, wait_for_checks=config.wait_for_checks)
            pull = await forge.open_pull_request(
                head=head, base=config.base_branch(run.base_ref), title=title, body=body, draft=draft
            )
            opened = (pull.url,)
        else:
            await forge.update_pull_request(pull.number, title=title, body=body)
            updated = (pull.url,)
        async with db.transaction() as conn:
            link = await forge_store.create_link(
                conn,
                run_id=run.id,
                task_id=task_id,
                kind="pull",
                forge=config.kind,
                repository=config.repository,
                number=pull.number,
                url=pull.url,
                head=head,
                state="open" if pull.draft else "ready",
                now=utcnow(),
            )
            await event_store.create_events(
                conn,
                [event_store.NewEvent(run.id, EventType.FORGE_PULL_OPENED, {"url": pull.url, "number": pull.number},
                                      task_id or None)],
            )  # fmt: skip
    else:
        await forge.update_pull_request(link.number, title=title, body=body)
        updated = (link.url,)
    ready: tuple[str, ...] = ()
    if link.state == "open":
        sha = await checkout.sha(head)
        checks = await forge.checks(sha) if sha else "none"
        if rules.mark_ready(status, checks, wait_for_checks=config.wait_for_checks):
            pull = rules.PullRequest(number=link.number, url=link.url, head=head, base="", draft=True)
            await forge.mark_ready(pull)
            async with db.transaction() as conn:
                await forge_store.update_link(conn, link.id, state="ready", now=utcnow())
                await event_store.create_events(
                    conn,
                    [event_store.NewEvent(run.id, EventType.FORGE_PULL_READY, {"url": link.url, "number": link.number},
                                          task_id or None)],
                )  # fmt: skip
            ready = (link.url,)
    return Synced(opened, updated, ready)


async def _describe(
    db: Database, config: forge_config.ForgeConfig, run: RunRecord, *, task_id: str, issue: int | None
) -> tuple[str, str]:
    """The pull request's title and body, from the run (or the task) as it is now."""
    async with db.read() as conn:
        run = await run_store.read_run(conn, run.id)
        summaries = {t.id: t for t in await listings.read_task_summaries(conn, run.id)}
        records = await task_store.read_tasks(conn, run.id)
        verdicts = await crew_store.read_verdicts(conn, run.id)
    judged: dict[str, dict[str, str]] = {}
    for verdict in verdicts:  # oldest first: the newest verdict of each task wins
        judged[verdict.task_id] = {str(c.get("text", "")): str(c.get("status", "")) for c in verdict.criteria}
    tasks = []
    for record in records:
        if task_id and record.id != task_id:
            continue
        summary = summaries.get(record.id)
        criteria = tuple(
            (c.get("text", ""), judged.get(record.id, {}).get(c.get("text", ""), ""))
            for c in record.acceptance_criteria
        )
        tasks.append(
            rules.PullTask(
                id=record.id,
                title=record.title,
                status=str(record.status),
                cost_usd=summary.cost_usd if summary else 0.0,
                criteria=criteria,
            )
        )
    body = rules.pull_request_body(
        run_id=run.id,
        run_name=run.name,
        run_status=str(run.status),
        spent_usd=run.spent_usd,
        tasks=tasks,
        dashboard_url=config.dashboard_url,
        issue=issue,
    )
    title = tasks[0].title if task_id and tasks else (run.goal or run.name)
    return f"Quarterdeck: {title}"[:250], body


async def _tell_issue(db: Database, forge: rules.Forge, run: RunRecord) -> bool:
    """Comment the run's outcome on the issue it was started from, once, when it ended."""
    async with db.read() as conn:
        run = await run_store.read_run(conn, run.id)
        issue = await forge_store.read_link(conn, run.id, kind="issue")
        pull = await forge_store.read_link(conn, run.id, kind="pull")
    out_of_budget = run.status is RunStatus.WAITING and run.waiting_for == WaitingFor.BUDGET
    if issue is None or issue.state == "done" or not (run.status.terminal or out_of_budget):
        return False
    text = f"Quarterdeck run `{run.id}` {run.status}" + (f": {run.error}" if run.error else ".")
    if pull is not None:
        text += f"\n\nPull request: {pull.url}"
    await forge.comment_issue(issue.number, text)
    async with db.transaction() as conn:
        await forge_store.update_link(conn, issue.id, state="done", now=utcnow())
    return True
