"""Submitting a plan: check it against the registry and the repository, then persist it as a run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import ids, plans
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.errors import InputError, PlanError, Problem, UnknownRuntimeError, WorkspaceError
from quarterdeck.runtimes.base import provider_key
from quarterdeck.runtimes.registry import Registry
from quarterdeck.store import events as event_store
from quarterdeck.store import orgs as org_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import RunRecord
from quarterdeck.store.tables import DEFAULT_ORG
from quarterdeck.workspaces import git, merge, project, worktrees

__all__ = ["AlsoWrite", "check_runtimes", "prepare_repository", "submit_plan"]

#: more rows to write in the transaction that creates the run (a crew's plan version, team, approval …)
AlsoWrite = Callable[[AsyncConnection, RunRecord], Awaitable[None]]


def check_runtimes(plan: plans.Plan, registry: Registry) -> dict[str, str | None]:
    """Every task names a registered runtime and valid options for it, or PlanError lists each fault.

    Returns each task's provider key (``runtimes.base.provider_key``), for ``key:<NAME>`` limits.
    """
    problems: list[Problem] = []
    keys: dict[str, str | None] = {}
    for task in plan.tasks:
        where = task.source
        try:
            runtime = registry.get(task.runtime)
        except UnknownRuntimeError as exc:
            problems.append(Problem(where.path, where.line, f"task {task.id!r}: {exc.message}"))
            continue
        try:
            options = runtime.Options.model_validate(dict(task.options))
        except ValidationError as exc:
            for error in exc.errors():
                loc = ".".join(str(p) for p in error["loc"])
                field = f"options.{loc}" if loc else "options"
                problems.append(
                    Problem(where.path, where.line, f"task {task.id!r} ({task.runtime}) {field}: {error['msg']}")
                )
            continue
        keys[task.id] = provider_key(runtime, options)
    if problems:
        raise PlanError(problems)
    return keys


async def prepare_repository(repo: Path, base: str, branch: str) -> tuple[Path, str]:
    """Check the repository and create the integration branch; return the top level and base commit.

    Raises:
        NotARepositoryError: not a git repository, or no commits.
        InputError: the integration branch is checked out with uncommitted changes.
    """
    top = await git.open_repository(repo)
    project.load_project_config(top)  # a broken .quarterdeck/config.toml is refused before anything runs
    base_commit = await worktrees.resolve_commit(top, base)
    await worktrees.create_branch(top, branch, base_commit)
    checkout = await worktrees.checked_out_at(top, branch)
    if checkout is not None:
        status = await git.git(checkout, "status", "--porcelain", "--untracked-files=no")
        if status.stdout.strip():
            raise InputError(
                f"the integration branch {branch!r} is checked out at {checkout} with uncommitted changes; "
                "commit or stash them, or choose another --branch"
            )
    return top, base_commit


async def submit_plan(
    db: Database,
    registry: Registry,
    plan: plans.Plan,
    *,
    repo: Path,
    base: str = "HEAD",
    branch: str | None = None,
    budget_usd: float | None = None,
    merge_strategy: str | None = None,
    org_id: str = DEFAULT_ORG,
    project_id: str | None = None,
    goal: str | None = None,
    paused: bool = False,
    also: AlsoWrite | None = None,
) -> RunRecord:
    """Validate the plan against the runtimes and the repository, then create its run.

    Without a ``merge_strategy`` the project's (``[merge] strategy`` in its config) is used. A
    ``paused`` run starts nothing until it is resumed (e.g. once its plan is approved); ``also``
    writes more rows in the same transaction, so the run never exists without them."""
    if merge_strategy is not None and merge_strategy not in {s.value for s in merge.Strategy}:
        raise InputError(f"unknown merge strategy {merge_strategy!r}: use {', '.join(merge.Strategy)}")
    if budget_usd is not None and budget_usd <= 0:
        raise InputError("the budget must be a positive amount of US dollars")
    plans.validate(plan)
    keys = check_runtimes(plan, registry)
    run_id = ids.new_run_id()
    branch = ids.check_branch_name(branch) if branch is not None else f"quarterdeck/{run_id}"
    try:
        top, base_commit = await prepare_repository(repo, base, branch)
    except WorkspaceError as exc:
        raise InputError(exc.message) from None
    if merge_strategy is None:
        merge_strategy = project.load_project_config(top).merge.strategy
    ids.check_safe_name(org_id, what="organisation")
    async with db.transaction() as conn:
        await org_store.ensure_org(conn, org_id)
        run = await run_store.create_run(
            conn,
            run_id=run_id,
            plan=plan,
            repo_path=str(top),
            base_ref=base_commit,
            integration_branch=branch,
            budget_usd=budget_usd,
            merge_strategy=merge_strategy,
            org_id=org_id,
            project_id=project_id,
            goal=goal,
            provider_keys=keys,
        )
        if paused:
            await run_store.update_run_status(conn, run_id, RunStatus.PAUSED, allowed_from=[RunStatus.RUNNING])
            run = await run_store.read_run(conn, run_id)
        new = [event_store.NewEvent(run_id, EventType.RUN_CREATED, {"name": plan.name, "tasks": len(plan.tasks)})]
        new += [
            event_store.NewEvent(run_id, EventType.TASK_READY, {}, task_id=t.id) for t in plan.tasks if not t.depends_on
        ]
        await event_store.create_events(conn, new)
        if also is not None:
            await also(conn, run)
    return run
