"""Goals: the run a goal becomes, planned by the crew's manager server-side, then approved or run at once.

``start_goal`` creates the run in ``planning`` at once (nothing waits for a model); the supervisor
(``crews.supervisor``) of whichever process runs workers asks the manager and records the plan with
``record_plan``: the run then waits for the plan's approval, or runs. ``start_run`` creates the run of a
plan the caller already has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.crews import gates, sources, team
from quarterdeck.crews.config import CrewConfig, load_crew_config, read_crew_config
from quarterdeck.crews.manager import Planned
from quarterdeck.crews.models import Asker
from quarterdeck.domain import ids, plans
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import RunStatus, WaitingFor
from quarterdeck.engine import agents, submit
from quarterdeck.errors import InputError, RepositoryUnavailable, WorkspaceError
from quarterdeck.observability import tracing
from quarterdeck.runtimes.registry import Registry
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store import orgs as org_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import supervision, wakeups
from quarterdeck.store.crews import ApprovalRecord
from quarterdeck.store.database import Database
from quarterdeck.store.records import RunRecord
from quarterdeck.store.types import utcnow
from quarterdeck.stories import planfile
from quarterdeck.workspaces import project, remote

__all__ = ["EDITED", "Started", "edit_plan", "plan_summary", "record_plan", "start_goal", "start_run", "summarise"]

#: how much of a goal names its run until the plan names it
_NAME_CHARS = 60


async def start_goal(
    db: Database,
    goal: str,
    *,
    repo: Path | str,
    approve: bool,
    org_id: str,
    actor: str,
    budget_usd: float | None = None,
    base: str = "HEAD",
    branch: str | None = None,
    project_id: str | None = None,
    cache: Path | None = None,
) -> RunRecord:
    """Create the run of ``goal`` in ``planning``: the repository and its crew are checked now, the manager is
    asked by the supervisor of a process that runs workers. ``actor``: who gave the goal (for the audit).

    ``repo`` is a local path, or a git URL (``workspaces.remote``): then ``base`` is resolved on the remote, its crew
    and config read at that commit and the integration branch created there, through this machine's cache of it
    under ``cache``.

    Raises:
        InputError: an empty goal, no repository there, a broken crew config, a manager or reviewer without key.
    """
    goal = goal.strip()
    if not goal:
        raise InputError("the goal is empty: say what the crew should achieve")
    if budget_usd is not None and budget_usd <= 0:
        raise InputError("the budget must be a positive amount of US dollars")
    run_id = ids.new_run_id()
    branch = ids.check_branch_name(branch) if branch is not None else f"quarterdeck/{run_id}"
    ids.check_safe_name(org_id, what="organisation")
    if isinstance(repo, str) and remote.is_url(repo):
        top, base_commit, config = await _prepare_remote(repo, base, branch, cache)
    else:
        repo = Path(repo)
        crew = load_crew_config(repo)
        _check_keys(crew)
        try:
            local, base_commit = await submit.prepare_repository(repo, base, branch)
        except WorkspaceError as exc:
            raise InputError(exc.message) from None
        top, config = str(local), project.load_project_config(local)
    name = goal.splitlines()[0][:_NAME_CHARS]
    # One trace: the goal, its run, and (in whichever process plans it) the manager's planning under the run.
    with (
        tracing.span("quarterdeck.goal", {"quarterdeck.org": org_id}),
        tracing.span("quarterdeck.run", {"quarterdeck.org": org_id, "quarterdeck.run": run_id}),
    ):
        traceparent = tracing.traceparent()
        async with db.transaction() as conn:
            await org_store.ensure_org(conn, org_id)
            run = await run_store.create_planning_run(
                conn,
                run_id=run_id,
                name=name,
                goal=goal,
                repo_path=top,
                base_ref=base_commit,
                integration_branch=branch,
                budget_usd=budget_usd,
                merge_strategy=config.merge.strategy,
                org_id=org_id,
                project_id=project_id,
                traceparent=traceparent,
            )
            await supervision.create_supervision(conn, run_id, approve=approve, actor=actor, step="plan", now=utcnow())
            await event_store.create_events(
                conn,
                [
                    event_store.NewEvent(run_id, EventType.RUN_CREATED, {"name": name, "tasks": 0, "by": actor}),
                    event_store.NewEvent(
                        run_id, EventType.RUN_PLANNING, {"goal": goal, "by": actor, "approve": approve}
                    ),
                ],
            )
    return run


def _check_keys(crew: CrewConfig) -> None:
    """Before anything is made: a missing key is named, not reported later as a DNS error or a 401."""
    missing = crew.missing_keys(os.environ, replaying=bool(os.environ.get("QUARTERDECK_LLM_REPLAY")))
    if missing:
        raise InputError("; ".join(missing))


async def _prepare_remote(
    url: str, base: str, branch: str, cache: Path | None
) -> tuple[str, str, project.ProjectConfig]:
    """A goal's remote repository: its base commit and config (its crew checked), the integration branch created."""
    if cache is None:
        raise InputError(f"{url}: a repository named by URL needs this machine's repository cache")
    origin = await remote.open_cache(cache, url)
    base_commit, config = await submit.prepare_remote(origin, base)
    _check_keys(await read_crew_config(origin.cache, base_commit, where=url))
    try:
        await origin.create_branch(branch, base_commit)
    except RepositoryUnavailable as exc:
        raise InputError(exc.message) from None
    return origin.url, base_commit, config


async def record_plan(
    conn: AsyncConnection,
    run: RunRecord,
    planned: Planned,
    crew: CrewConfig,
    asker: Asker,
    *,
    provider_keys: dict[str, str | None],
    approve: bool,
    dialect: str,
) -> ApprovalRecord | None:
    """Give a ``planning`` run its plan (in the caller's transaction): its tasks, first plan version, the
    manager's messages and costs, its team; then it waits for the plan's approval (returned) or runs."""
    plan = planned.plan
    await run_store.create_plan_tasks(conn, run.id, plan, provider_keys=provider_keys)
    await run_store.update_run_status(
        conn,
        run.id,
        RunStatus.WAITING if approve else RunStatus.RUNNING,
        allowed_from=[RunStatus.PLANNING],
        waiting_for=WaitingFor.PLAN if approve else None,
        name=plan.name,
        plan_path=plan.source.path,
    )
    new = [event_store.NewEvent(run.id, EventType.TASK_READY, {}, task_id=t.id) for t in plan.tasks if not t.depends_on]
    if approve:
        new.append(event_store.NewEvent(run.id, EventType.RUN_WAITING, {"for": str(WaitingFor.PLAN)}))
    await event_store.create_events(conn, new)
    approval = await _record_crew(
        conn, run.id, run.goal or run.name, planned, crew, asker, approve=approve, org_id=run.org_id, author=None
    )
    if not approve:
        await wakeups.announce_ready(conn, dialect)
    return approval


async def _record_crew(
    conn: AsyncConnection,
    run_id: str,
    goal: str,
    planned: Planned,
    crew: CrewConfig,
    asker: Asker,
    *,
    approve: bool,
    org_id: str,
    author: str | None,
) -> ApprovalRecord | None:
    """The plan's version, the manager's messages and costs, the team, and (``approve``) the plan's approval."""
    plan = planned.plan
    approval: ApprovalRecord | None = None
    version = await crew_store.create_plan_version(
        conn,
        run_id,
        plan=planned.plan_file,
        author=author or team.MANAGER,
        reason=planned.draft.summary or goal if author is None else f"the manager's plan, edited by {author}",
        status="proposed" if approve else "applied",
    )
    for type_, content in planned.exchange:
        to_manager = type_ in ("goal", "revision")
        sender = (author or "human") if type_ == "edit" else "quarterdeck" if to_manager else team.MANAGER
        await crew_store.create_message(
            conn,
            run_id,
            sender=sender,
            recipient=team.MANAGER if to_manager or type_ == "edit" else "quarterdeck",
            type=type_,
            content=content,
            data={"version": version.version},
        )
    for task in plan.tasks:
        estimate = next((t.estimate_usd for t in planned.draft.tasks if t.id == task.id), None)
        await crew_store.create_message(
            conn,
            run_id,
            sender=team.MANAGER,
            recipient=task.role or task.runtime,
            type="assignment",
            content=task.title,
            task_id=task.id,
            data={"estimate_usd": estimate},
        )
    for spent in asker.take_spent():
        await spent.record(conn, run_id)
    await crew_store.create_team(conn, run_id, team.members_for(crew, plan))
    new = [
        event_store.NewEvent(
            run_id,
            EventType.PLAN_PROPOSED,
            {"version": version.version, "reason": version.reason, "tasks": len(plan.tasks)},
        )
    ]
    if not approve:
        new.append(event_store.NewEvent(run_id, EventType.PLAN_APPLIED, {"version": version.version}))
    await event_store.create_events(conn, new)
    if approve:
        approval = await gates.request(
            conn,
            org_id=org_id,
            kind="plan",
            payload={
                "version": version.version,
                "goal": goal,
                "reason": version.reason,
                "plan_file": planned.plan_file,
                **plan_summary(planned),
            },
            requested_by=team.MANAGER,
            run_id=run_id,
        )
    return approval


def plan_summary(planned: Planned) -> dict[str, Any]:
    """What a plan's approval shows: every task (role, dependencies, criteria, estimate) and the total estimate."""
    return summarise(planned.plan, {t.id: t.estimate_usd for t in planned.draft.tasks})


def summarise(plan: plans.Plan, estimates: dict[str, float | None]) -> dict[str, Any]:
    tasks = [
        {
            "id": t.id,
            "title": t.title,
            "role": t.role,
            "depends_on": list(t.depends_on),
            "criteria": [c.text for c in t.acceptance_criteria],
            "verify": list(t.verify),
            "estimate_usd": estimates.get(t.id),
        }
        for t in plan.tasks
    ]
    known = [e for t in plan.tasks if (e := estimates.get(t.id)) is not None]
    return {"tasks": tasks, "estimate_usd": round(sum(known), 4) if known else None}


@dataclass(frozen=True, slots=True)
class Started:
    """The run of a goal, and the approval it waits for (None when it runs at once)."""

    run: RunRecord
    approval: ApprovalRecord | None


async def start_run(
    db: Database,
    registry: Registry,
    goal: str,
    planned: Planned,
    crew: CrewConfig,
    asker: Asker,
    *,
    repo: Path,
    approve: bool,
    org_id: str,
    budget_usd: float | None = None,
    base: str = "HEAD",
    branch: str | None = None,
    author: str | None = None,
) -> Started:
    """Create the run of a planned goal in one transaction: the run (waiting for its plan's approval when
    ``approve``), its first plan
    version, the manager's messages and costs, its team and, when ``approve``, the plan's approval.

    ``author``: the person who edited the manager's plan before it was submitted (None: as the manager wrote it)."""
    plan = planned.plan
    approval: ApprovalRecord | None = None
    waiting: RunRecord | None = None

    async def record_crew(conn: AsyncConnection, run: RunRecord) -> None:
        nonlocal approval, waiting
        approval = await _record_crew(
            conn, run.id, goal, planned, crew, asker, approve=approve, org_id=org_id, author=author
        )
        if approve:  # not paused by a person: waiting for one to decide the plan
            plan_wait = WaitingFor.PLAN
            await run_store.update_run_status(
                conn, run.id, RunStatus.WAITING, allowed_from=[RunStatus.PAUSED], waiting_for=plan_wait
            )
            await event_store.create_events(
                conn, [event_store.NewEvent(run.id, EventType.RUN_WAITING, {"for": plan_wait})]
            )
            waiting = await run_store.read_run(conn, run.id)

    run = await submit.submit_plan(
        db,
        registry,
        plan,
        repo=repo,
        base=base,
        branch=branch,
        budget_usd=budget_usd,
        org_id=org_id,
        goal=goal,
        paused=approve,
        also=record_crew,
    )
    return Started(run=waiting or run, approval=approval)


#: the name problems in an edited plan are reported under
EDITED = "edited-plan.yaml"


async def edit_plan(
    db: Database, registry: Registry, *, org_id: str, approval_id: str, text: str, by: str, cache: Path
) -> ApprovalRecord:
    """Replace the plan a pending plan approval asks about by ``text`` (YAML or JSON, as ``plan.yaml``), before
    anything ran: a new plan version by ``by``, the run's tasks replaced, the approval showing the edited plan.
    ``cache``: this machine's repository cache (a remote's ``[run] agent`` is read there, at the run's base).

    Raises:
        PlanError: the edited plan is not valid (each problem at ``edited-plan.yaml:LINE``).
        InputError: the approval is not a pending plan approval, or the run already started.
    """
    plan = planfile.parse_plan(text, EDITED)
    plan_file = yaml.safe_load(text)
    async with db.read() as conn:
        approval = await crew_store.read_approval(conn, approval_id, org_id=org_id)
        if approval.kind != "plan" or approval.status != "pending" or approval.run_id is None:
            raise InputError(f"approval {approval_id} is not a pending plan approval: only those plans can be edited")
        run = await run_store.read_run(conn, approval.run_id)
    if run.status is not RunStatus.WAITING:
        raise InputError(f"run {run.id} is {run.status}: its plan can no longer be edited")
    if any(t.runtime == plans.NO_RUNTIME for t in plan.tasks):
        plan = agents.choose(plan, await sources.run_agent(run, cache))
    keys = submit.check_runtimes(plan, registry)
    estimates = {t["id"]: t.get("estimate_usd") for t in approval.payload.get("tasks", [])}
    async with db.transaction() as conn:
        await run_store.delete_plan_tasks(conn, run.id)
        await run_store.create_plan_tasks(conn, run.id, plan, provider_keys=keys)
        old = int(approval.payload.get("version", 1))
        await crew_store.update_plan_version(conn, run.id, old, status="edited")
        reason = f"the manager's plan, edited by {by}"
        version = await crew_store.create_plan_version(
            conn, run.id, plan=plan_file, author=by, reason=reason, status="proposed"
        )
        await crew_store.create_message(
            conn, run.id, sender=by, recipient=team.MANAGER, type="edit", content=text,
            data={"version": version.version},
        )  # fmt: skip
        payload = {
            **approval.payload,
            "version": version.version,
            "reason": reason,
            "plan_file": plan_file,
            **summarise(plan, estimates),
        }
        if not await crew_store.update_approval_payload(conn, approval.id, payload):
            raise InputError(f"approval {approval_id} was decided meanwhile: the edit was not kept")
        await event_store.create_events(
            conn,
            [
                event_store.NewEvent(
                    run.id,
                    EventType.PLAN_PROPOSED,
                    {"version": version.version, "reason": reason, "tasks": len(plan.tasks), "by": by},
                )
            ],
        )
        return await crew_store.read_approval(conn, approval.id)
