"""Submitting a plan: check it against the registry and the repository, then persist it as a run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import ids, plans
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.domain.suggest import did_you_mean
from quarterdeck.engine import agents, containment
from quarterdeck.errors import (
    InputError,
    PlanError,
    Problem,
    RepositoryUnavailable,
    UnknownRuntimeError,
    WorkspaceError,
)
from quarterdeck.observability import tracing
from quarterdeck.runtimes.base import provider_key
from quarterdeck.runtimes.registry import Registry
from quarterdeck.sandbox import policy as sandbox_policy
from quarterdeck.store import events as event_store
from quarterdeck.store import orgs as org_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import wakeups
from quarterdeck.store.database import Database
from quarterdeck.store.records import RunRecord
from quarterdeck.store.tables import DEFAULT_ORG
from quarterdeck.workspaces import git, merge, project, remote, worktrees

__all__ = ["AlsoWrite", "check_runtimes", "prepare_remote", "prepare_repository", "project_agent", "submit_plan"]

#: more rows to write in the transaction that creates the run (a crew's plan version, team, approval …)
AlsoWrite = Callable[[AsyncConnection, RunRecord], Awaitable[None]]


def check_runtimes(plan: plans.Plan, registry: Registry) -> dict[str, str | None]:
    """Every task names a registered runtime and valid options for it, or PlanError lists each fault.

    Returns each task's provider key (``runtimes.base.provider_key``), for ``key:<NAME>`` limits.
    """
    problems: list[Problem] = []
    keys: dict[str, str | None] = {}
    unchosen: list[plans.TaskSpec] = []
    for task in plan.tasks:
        where = task.source
        if task.runtime == plans.NO_RUNTIME:
            unchosen.append(task)
            continue
        try:
            runtime = registry.get(task.runtime)
        except UnknownRuntimeError as exc:
            problems.append(Problem(where.path, where.line, f"task {task.id!r}: {exc.message}"))
            continue
        own, override = containment.split_options(task.options)
        try:
            sandbox_policy.parse_override(override, where=f"task {task.id!r}")
        except ValueError as exc:
            problems.append(Problem(where.path, where.line, str(exc)))
            continue
        try:
            options = runtime.Options.model_validate(own)
        except ValidationError as exc:
            for error in exc.errors():
                loc = ".".join(str(p) for p in error["loc"])
                field = f"options.{loc}" if loc else "options"
                hint = ""
                if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
                    hint = did_you_mean(str(error["loc"][0]), runtime.Options.model_fields)
                problems.append(
                    Problem(where.path, where.line, f"task {task.id!r} ({task.runtime}) {field}: {error['msg']}{hint}")
                )
            continue
        keys[task.id] = provider_key(runtime, options)
    if unchosen:  # one problem, at the first such task: the fix is the same for all
        first, more = unchosen[0], len(unchosen) - 1
        others = f" (and {more} more task{'s' * (more > 1)})" if more else ""
        problems.append(
            Problem(first.source.path, first.source.line, f"task {first.id!r}{others}: {agents.NO_AGENT_HINT}")
        )
    if problems:
        raise PlanError(problems)
    return keys


async def project_agent(repo: Path | str) -> str | None:
    """The ``[run] agent`` of the repository's ``.quarterdeck/config.toml`` (None: none, or not a repository).

    A repository named by URL is read at submission, from the base it starts at (``submit_plan``)."""
    if isinstance(repo, str) and remote.is_url(repo):
        return None
    repo = Path(repo)
    try:
        top = await git.open_repository(repo)
    except WorkspaceError:
        return None  # submitting reports it, with the repository's other checks
    return project.load_project_config(top).run.agent


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


async def prepare_remote(origin: remote.Remote, base: str) -> tuple[str, project.ProjectConfig]:
    """The commit ``base`` names on the remote, and the project config it holds.

    Raises:
        InputError: the remote has no such ref, cannot be reached (said how), or holds an invalid config.
    """
    try:
        base_commit = await origin.resolve(base)
    except RepositoryUnavailable as exc:
        raise InputError(exc.message) from None
    text = await origin.read_file(base_commit, str(project.CONFIG_PATH))
    where = f"{origin.url} {base}:{project.CONFIG_PATH}"
    return base_commit, project.parse_project_config(text, where=where) if text is not None else project.ProjectConfig()


async def _prepare(
    repo: Path | str, base: str, branch: str, origin: remote.Remote | None
) -> tuple[str, str, project.ProjectConfig]:
    """The run's repository as recorded, its base commit and config: the integration branch created there."""
    if origin is None:
        try:
            local, base_commit = await prepare_repository(Path(repo), base, branch)
        except WorkspaceError as exc:
            raise InputError(exc.message) from None
        return str(local), base_commit, project.load_project_config(local)
    base_commit, config = await prepare_remote(origin, base)
    try:
        await origin.create_branch(branch, base_commit)
    except RepositoryUnavailable as exc:
        raise InputError(exc.message) from None
    return origin.url, base_commit, config


async def submit_plan(
    db: Database,
    registry: Registry,
    plan: plans.Plan,
    *,
    repo: Path | str,
    base: str = "HEAD",
    branch: str | None = None,
    budget_usd: float | None = None,
    merge_strategy: str | None = None,
    org_id: str = DEFAULT_ORG,
    project_id: str | None = None,
    goal: str | None = None,
    paused: bool = False,
    also: AlsoWrite | None = None,
    agent: str | None = None,
    cache: Path | None = None,
) -> RunRecord:
    """Validate the plan against the runtimes and the repository, then create its run.

    Without a ``merge_strategy`` the project's (``[merge] strategy`` in its config) is used. A
    ``paused`` run starts nothing until it is resumed (e.g. once its plan is approved); ``also``
    writes more rows in the same transaction, so the run never exists without them. ``agent`` (else the
    project's ``[run] agent``) is the runtime of tasks that name none.

    ``repo`` is a local path, or a git URL (``workspaces.remote``): then ``base`` is resolved on the remote and
    the integration branch created there, through this machine's cache of it under ``cache``; the tasks that
    name no runtime get ``agent`` (the remote's config is not read for them)."""
    with tracing.span("quarterdeck.run", {"quarterdeck.org": org_id}) as root:
        with tracing.span("quarterdeck.plan", {"quarterdeck.tasks": len(plan.tasks)}):
            if merge_strategy is not None and merge_strategy not in {s.value for s in merge.Strategy}:
                raise InputError(f"unknown merge strategy {merge_strategy!r}: use {', '.join(merge.Strategy)}")
            if budget_usd is not None and budget_usd <= 0:
                raise InputError("the budget must be a positive amount of US dollars")
            plans.validate(plan)
            if not plan.tasks:  # such a run would have nothing to end it
                where = plan.source
                raise PlanError([Problem(where.path, where.line, "nothing to run: the plan has no task")])
            origin: remote.Remote | None = None
            if isinstance(repo, str) and remote.is_url(repo):
                if cache is None:
                    raise InputError(f"{repo}: a repository named by URL needs this machine's repository cache")
                origin = await remote.open_cache(cache, repo)
            if any(t.runtime == plans.NO_RUNTIME for t in plan.tasks):
                plan = agents.choose(plan, agent or await project_agent(repo))
            keys = check_runtimes(plan, registry)
            run_id = ids.new_run_id()
            branch = ids.check_branch_name(branch) if branch is not None else f"quarterdeck/{run_id}"
            top, base_commit, config = await _prepare(repo, base, branch, origin)
            if merge_strategy is None:
                merge_strategy = config.merge.strategy
        ids.check_safe_name(org_id, what="organisation")
        async with db.transaction() as conn:
            await org_store.ensure_org(conn, org_id)
            run = await run_store.create_run(
                conn,
                run_id=run_id,
                plan=plan,
                repo_path=top,
                base_ref=base_commit,
                integration_branch=branch,
                budget_usd=budget_usd,
                merge_strategy=merge_strategy,
                org_id=org_id,
                project_id=project_id,
                goal=goal,
                provider_keys=keys,
                traceparent=tracing.traceparent(),
            )
            if paused:
                await run_store.update_run_status(conn, run_id, RunStatus.PAUSED, allowed_from=[RunStatus.RUNNING])
                run = await run_store.read_run(conn, run_id)
            created = {"name": plan.name, "tasks": len(plan.tasks)}
            new = [event_store.NewEvent(run_id, EventType.RUN_CREATED, created)]
            new += [
                event_store.NewEvent(run_id, EventType.TASK_READY, {}, task_id=t.id)
                for t in plan.tasks
                if not t.depends_on
            ]
            await event_store.create_events(conn, new)
            if not paused:
                await wakeups.announce_ready(conn, db.dialect)
            if also is not None:
                await also(conn, run)
        if root is not None:
            root.set_attributes({"quarterdeck.run.id": run_id, "quarterdeck.run.name": plan.name})
        return run
