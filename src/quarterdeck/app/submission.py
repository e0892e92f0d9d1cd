"""Starting runs: a plan, checked as ``quarterdeck plan`` shows it and submitted; or a goal given to a crew."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from quarterdeck.app.parts import Parts
from quarterdeck.domain import plans
from quarterdeck.errors import PlanError, Problem, WorkspaceError
from quarterdeck.store import secrets as secret_store
from quarterdeck.store.records import RunRecord

if TYPE_CHECKING:
    from quarterdeck.crews.config import CrewConfig

__all__ = ["Submission"]


class Submission(Parts):
    async def submit(
        self,
        plan: plans.Plan,
        *,
        repo: Path | str,
        base: str = "HEAD",
        branch: str | None = None,
        budget_usd: float | None = None,
        merge_strategy: str | None = None,
        org_id: str | None = None,
        project_id: str | None = None,
        goal: str | None = None,
        agent: str | None = None,
    ) -> RunRecord:
        """Validate a plan and create its run (tasks without dependencies are ready at once).

        The run belongs to ``org_id``, by default the settings' organisation (``QUARTERDECK_ORG``).
        ``agent`` (else the project's ``[run] agent``) does the tasks that name no runtime."""
        from quarterdeck.engine import submit

        return await submit.submit_plan(
            self.db,
            self.registry,
            plan,
            repo=repo,
            base=base,
            branch=branch,
            budget_usd=budget_usd,
            merge_strategy=merge_strategy,
            org_id=org_id or self.settings.org,
            project_id=project_id,
            goal=goal,
            agent=agent,
            cache=self.settings.resolved_repo_cache(),
        )

    async def choose(self, plan: plans.Plan, *, repo: Path | str, agent: str | None = None) -> plans.Plan:
        """``plan`` with ``agent`` (else the project's ``[run] agent``) for every task that names no runtime."""
        from quarterdeck.engine import agents, submit

        if all(t.runtime != plans.NO_RUNTIME for t in plan.tasks):
            return plan
        return agents.choose(plan, agent or await submit.project_agent(repo))

    async def check(
        self, plan: plans.Plan, *, repo: Path | str, agent: str | None = None, org_id: str | None = None
    ) -> plans.Plan:
        """What ``submit`` would run, checked as ``quarterdeck plan`` shows it, without creating anything.

        Chooses the agent of tasks that name none (``agent``, else the project's ``[run] agent``), then
        checks every runtime and its options, each agent CLI (installed, new enough, credentials) and
        each provider key (in the environment, the project's ``[workspace] env`` or the organisation's
        secrets). Returns the plan with its agents chosen.

        Raises:
            PlanError: every problem, one ``path:line: message`` each.
        """
        from quarterdeck.engine import agents, submit
        from quarterdeck.runtimes import process

        plan = await self.choose(plan, repo=repo, agent=agent)
        problems: list[Problem] = []
        try:
            submit.check_runtimes(plan, self.registry)
        except PlanError as exc:
            problems.extend(exc.problems)
        env = process.base_env(await _project_env(repo))
        async with self.db.read() as conn:
            names = await secret_store.read_secret_names(conn, org_id=org_id or self.settings.org)
        problems.extend(await agents.readiness(plan, self.registry, env=env, secret_names=names))
        if problems:
            raise PlanError(sorted(problems, key=lambda p: (p.path, p.line)))
        return plan

    async def start_goal(
        self,
        goal: str,
        *,
        repo: Path | str,
        approve: bool,
        actor: str,
        org_id: str | None = None,
        budget_usd: float | None = None,
        base: str = "HEAD",
        branch: str | None = None,
        project_id: str | None = None,
    ) -> RunRecord:
        """Give a crew ``goal``: its run is created ``planning`` at once; the manager plans it in whichever process
        runs workers (``serve``, ``worker``, ``run``, ``goal``), and the plan arrives by events. ``repo``: a local
        path, or a git URL (``repository``) whose crew and config are read at ``base`` through this machine's cache."""
        from quarterdeck.crews import goals

        return await goals.start_goal(
            self.db,
            goal,
            repo=repo,
            approve=approve,
            org_id=org_id or self.settings.org,
            actor=actor,
            budget_usd=budget_usd,
            base=base,
            branch=branch,
            project_id=project_id,
            cache=self.settings.resolved_repo_cache(),
        )

    async def run_crew(self, run: RunRecord) -> CrewConfig:
        """The crew of a goal's run, as its repository holds it (a remote's: at the run's base, from this machine's
        cache of it)."""
        from quarterdeck.crews import sources

        return await sources.run_crew(run, self.settings.resolved_repo_cache())


async def _project_env(repo: Path | str) -> dict[str, str]:
    """The repository's ``[workspace] env`` (empty when it has none, is no repository, or is named by URL)."""
    from quarterdeck.workspaces import git, project, remote

    if isinstance(repo, str) and remote.is_url(repo):
        return {}
    repo = Path(repo)
    try:
        top = await git.open_repository(repo)
    except WorkspaceError:
        return {}
    return dict(project.load_project_config(top).workspace.env)
