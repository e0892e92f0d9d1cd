"""One attempt at a task: workspace → agent → verification → commit → merge, then a fenced outcome.

A system failure is never the task's failure. The attempt's writes (fenced by the lease's token, idempotent)
are retried in place while the database is away (``_Attempt.durably``). If it stays away past the lease and
another worker takes the task over, the next write fails with ``LeaseLost`` and the attempt ends recording
nothing; the task came back through lease expiry with its checkpoint (an expired attempt does not count
against ``max_attempts``), and an agent's commit the expired attempt made but could not checkpoint is found
on the task's branch and not paid for again (``_Attempt.committed_before``). Any other
``InfrastructureError`` gives the task back at once. Once the commit is on the integration branch the landing
stands: the only outcome left is success with it, and an attempt that finds its task's commit already there
(its trailers: an earlier attempt landed and died before recording it) records that instead of landing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck import sandbox
from quarterdeck.domain import followups as followups_rules
from quarterdeck.domain.checkpoints import Checkpoint
from quarterdeck.domain.events import EventType
from quarterdeck.domain.retry import RetryPolicy
from quarterdeck.domain.statuses import AttemptStatus, RunStatus, TaskStatus
from quarterdeck.engine import agent_files, containment, control, memory, outcomes, output
from quarterdeck.engine.reviewing import Reviewer
from quarterdeck.engine.secrets import AgentSecrets, step_environment
from quarterdeck.errors import (
    InfrastructureError,
    LeaseLost,
    QuarterdeckError,
    RepositoryUnavailable,
    StoreError,
    WorkspaceError,
)
from quarterdeck.observability import context, tracing
from quarterdeck.runtimes import process
from quarterdeck.runtimes.agent_session import AgentArea
from quarterdeck.runtimes.base import (
    RunResult,
    RuntimeOptions,
    SpendMeter,
    TaskContext,
    expects_changes,
    needs_workspace,
    spends,
    verification_follow_up,
)
from quarterdeck.runtimes.registry import Registry
from quarterdeck.settings import Settings
from quarterdeck.store import agent_files as agent_file_store
from quarterdeck.store import budgets, followups, wakeups
from quarterdeck.store import control as control_store
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import AttemptRecord, Claim, RunRecord
from quarterdeck.store.types import utcnow
from quarterdeck.workspaces import git, merge, project, worktrees
from quarterdeck.workspaces import remote as remote_mod

__all__ = ["AttemptOutcome", "RunSetup", "execute_attempt"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What an attempt's end changed: tasks that became ready, and whether the run ended."""

    succeeded: bool
    newly_ready: tuple[str, ...] = ()
    run_finished: bool = False
    #: the slot's next tasks, claimed in the transaction that recorded this outcome (see ``ClaimNext``)
    next_claims: tuple[Claim, ...] = ()
    #: the run's repository could not be reached from here: the task was given back (see ``Worker``)
    unreachable: str | None = None


@dataclass(frozen=True, slots=True)
class RunSetup:
    """What every attempt of a run needs and no attempt changes, read once per run (by the worker).

    A run's repository config and the children's base environment (``process.base_env``: a copy of
    ``os.environ``, which is read once, see settings) cost more per attempt than a no-op task's work.
    """

    run: RunRecord
    #: where the attempts work: the repository itself, or this machine's cache of its remote
    repo: Path
    project: project.ProjectConfig
    base_env: Mapping[str, str]
    #: the run's repository is named by URL: fetched before each attempt, landed on by compare-and-swap
    remote: remote_mod.Remote | None = None

    @classmethod
    def of(cls, run: RunRecord) -> RunSetup:
        """Read the run's repository config and the environment now (a repository on this machine's disk).

        Raises:
            InputError: the repository's config file is invalid.
        """
        repo = Path(run.repo_path)
        return cls(run, repo, project.load_project_config(repo), step_environment(process.base_env()))

    @classmethod
    async def load(cls, run: RunRecord, settings: Settings) -> RunSetup:
        """As ``of``; a repository named by URL is fetched into this machine's cache, its config read there.

        Raises:
            RepositoryUnavailable: the remote cannot be reached, or the local path is not on this machine.
            InputError: the repository's config file is invalid.
        """
        if not remote_mod.is_url(run.repo_path):
            if not Path(run.repo_path).is_dir():
                raise RepositoryUnavailable(
                    f"{run.repo_path} is not on this machine: give the run a repository URL its workers can fetch",
                    run.repo_path,
                )
            return cls.of(run)
        origin = await remote_mod.open_cache(settings.resolved_repo_cache(), run.repo_path)
        await origin.fetch_run(run.integration_branch, run.id)
        text = await origin.read_file(f"refs/heads/{run.integration_branch}", str(project.CONFIG_PATH))
        where = f"{run.repo_path} {run.integration_branch}:{project.CONFIG_PATH}"
        config = project.parse_project_config(text, where=where) if text is not None else project.ProjectConfig()
        return cls(run, origin.cache, config, step_environment(process.base_env()), origin)


#: the validated options of a task that sets none, per runtime (options models are frozen, so shared)
_NO_OPTIONS: dict[type[Any], RuntimeOptions] = {}


#: Claims one more task inside the outcome's transaction, so a worker moves straight on to the next
#: step of a chain without another transaction or a wake-up; returns None when it should not.
ClaimNext = Callable[[AsyncConnection], Awaitable[Claim | None]]


class _Failure(Exception):
    def __init__(
        self,
        error: str,
        *,
        retryable: bool,
        status: TaskStatus = TaskStatus.FAILED,
        follow_up: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.retryable = retryable
        self.status = status
        #: a task to add in this one's place (a conflict resolver), as ``create_follow_up`` arguments
        self.follow_up = follow_up


@dataclass(frozen=True, slots=True)
class _Failed:
    """A verification command that did not pass."""

    command: str
    exit_code: int
    output: str
    timed_out: bool = False

    def message(self, revisions: int) -> str:
        after = f" after {revisions} revision{'s' * (revisions != 1)}" if revisions else ""
        if self.timed_out:
            return f"verification {self.command!r} timed out{after}"
        return f"verification {self.command!r} exited {self.exit_code}{after}:\n{self.output}"


@dataclass(frozen=True, slots=True)
class _Ending:
    """How an attempt ended, as its outcome transaction records it."""

    #: the landed commit (success: ``error`` is None)
    commit: str | None = None
    error: str | None = None
    retryable: bool = False
    status: TaskStatus = TaskStatus.FAILED
    #: the checkpoint a failed task keeps (the agent's session, so a retry resumes it)
    keep: Checkpoint | None = None
    #: a task to create in this one's place (see ``_Attempt.resolver``)
    follow_up: dict[str, Any] | None = None


class _OutOfBudget(Exception):
    """The run's remaining budget cannot cover the next agent step."""

    def __init__(self, wanted_usd: float) -> None:
        super().__init__(f"the next step needs ${wanted_usd:.2f} reserved")
        self.wanted_usd = wanted_usd


class _Attempt:
    """The steps of one attempt, sharing the claim, the run and the event sink."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        registry: Registry,
        claim: Claim,
        setup: RunSetup,
        secrets: AgentSecrets | None = None,
        reviewer: Reviewer | None = None,
    ) -> None:
        self.db = db
        #: judges the verified work (``engine/reviewing.py``; the crews' reviewer), or None to land it as it is
        self.reviewer = reviewer
        self.settings = settings
        self.registry = registry
        self.claim = claim
        self.task = claim.task
        self.run = setup.run
        self.repo = setup.repo
        self.setup = setup
        self.runtime = registry.get(claim.task.runtime)
        #: events not written yet (the process's ``OutputWriter`` writes them while the attempt runs)
        self.output = output.Pending(claim.task.id)
        self.checkpoint: Checkpoint = claim.task.checkpoint
        self.project = setup.project
        self.port: int | None = None
        #: what this attempt's agent runs cost so far (the commit's Quarterdeck-Cost trailer)
        self.spent_usd = 0.0
        self.secrets = secrets
        #: the organisation's agent secrets, as environment variables (see ``engine/secrets.py``)
        self.secret_env: dict[str, str] = {}
        #: the commit this attempt put on the integration branch; once set, the only outcome is success
        self.landed: str | None = None
        #: the runtime's own options, and the task's ``sandbox:`` mapping kept beside them
        self.options, self.sandbox_override = containment.split_options(claim.task.options or {})
        #: whether and how the attempt's steps are sandboxed (``contain``), and the worktree's confinement
        self.containment: containment.Containment | None = None
        self.confined: sandbox.Confinement | None = None
        #: the worktree of a task that succeeded, to remove once its outcome is recorded (``tidy``)
        self.to_park: worktrees.Workspace | None = None
        #: the slot's previous task's worktree being parked: waited for before this one makes its own
        self.tidied: asyncio.Future[None] | None = None
        #: the prompt's section of lessons from earlier tasks (``engine/memory.py``), recalled as the attempt starts
        self.lessons = ""

    async def durably(self, op: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``op`` (a lease-fenced, idempotent database step), retried in place while the database is away.

        The lease is fenced by its token, not its clock: after an outage longer than the lease, a write
        still holds if nobody took the task over meanwhile (and the attempt goes on, nothing lost), and
        fails with ``LeaseLost`` if somebody did (and the attempt ends, recording nothing).
        """
        delay, failures = 0.05, 0
        while True:
            try:
                result = await op()
            except StoreError as exc:
                failures += 1
                if failures == 1:
                    log.warning("%s: database away, retrying in place: %s", self.task.id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            if failures:
                log.warning("%s: database back after %d tries", self.task.id, failures)
            return result

    async def write(self, op: Callable[[AsyncConnection], Awaitable[_T]]) -> _T:
        """``op`` in a transaction of its own, retried as ``durably`` retries."""

        async def once() -> _T:
            async with self.db.transaction() as conn:
                return await op(conn)

        return await self.durably(once)

    async def load_secrets(self) -> None:
        """Open the organisation's agent secrets; from now on the store records their values redacted."""
        if (secrets := self.secrets) is not None:
            self.secret_env = await self.durably(lambda: secrets.environment(self.run.org_id))

    async def emit(self, type: str, /, **payload: Any) -> None:
        """Queue an event; the output writer writes queued events every ``FLUSH_S``, the outcome the rest
        (the store redacts them as it records them)."""
        self.output.events.append(
            event_store.NewEvent(self.run.id, type, payload, task_id=self.task.id, attempt_id=self.claim.attempt_id)
        )

    def take_events(self) -> list[event_store.NewEvent]:
        return self.output.take()

    async def settle(self) -> None:
        """Wait for a write the output writer started, so no event is lost or written out of order."""
        await self.output.settle()

    async def prepare(self, at: str | None = None) -> worktrees.Workspace:
        """The attempt's worktree: at the integration head, or at ``at`` (work an earlier attempt committed)."""
        head = at or await worktrees.resolve_commit(self.repo, f"refs/heads/{self.run.integration_branch}")
        if self.tidied is not None:  # the slot's previous worktree, parked for this attempt to take
            await asyncio.wait([self.tidied])
        ws = await worktrees.create_worktree(
            self.repo,
            self.settings.resolved_worktree_root(),
            self.run.id,
            self.task.id,
            self.claim.attempt_number,
            head,
        )
        workspace = self.project.workspace

        async def record(conn: AsyncConnection) -> None:
            await task_store.update_attempt(conn, self.claim, branch=ws.branch, worktree=str(ws.path))
            if workspace.ports is not None:
                self.port = await task_store.allocate_port(
                    conn, self.claim, dialect=self.db.dialect, first=workspace.ports[0], last=workspace.ports[1]
                )

        await self.write(record)
        if self.setup.remote is None:  # (a cache has no checkout to copy from: those files are the user's own)
            project.apply_files(workspace, self.repo, ws.path)
        if (merge_from := self.checkpoint.merge_from) and at is None:
            # A conflict resolver starts from the merge in progress, conflict markers and all.
            merging = await git.git(
                ws.path, "merge", "--no-ff", "--no-commit", merge_from, check=False, env=self.author.env()
            )
            await self.emit(EventType.MERGE_STARTED, commit=merge_from, output=merging.stdout.strip()[-2000:])
        self.confined = self.confinement_at(ws.path)
        for command in workspace.setup:
            with self.step("check"):
                result = await process.run_process(
                    ["bash", "-c", command], cwd=ws.path, env=self.env(), timeout_s=self.task.timeout_s
                )
            tail = "\n".join(result.output.splitlines()[-20:])
            await self.emit(EventType.SETUP_RESULT, command=command, exit_code=result.returncode, output=tail)
            if result.timed_out or result.returncode != 0:
                raise _Failure(f"setup command {command!r} exited {result.returncode}:\n{tail}", retryable=True)
        await self.emit(EventType.WORKSPACE_READY, path=str(ws.path), branch=ws.branch, base=head, port=self.port)
        return ws

    async def contain(self) -> None:
        """Decide how this attempt's steps are sandboxed; refuse to run unconfined unless the user opted out."""
        try:
            self.containment = containment.Containment.decide(
                self.project.sandbox, self.sandbox_override, where=f"task {self.task.id!r}"
            )
        except ValueError as exc:
            raise _Failure(str(exc), retryable=False) from None
        if self.containment.mode == "off":
            await self.emit(EventType.SANDBOX_OFF, reason=self.containment.reason)
        elif self.containment.mode == "unavailable":
            await self.emit(EventType.SANDBOX_UNAVAILABLE, reason=self.containment.reason)
            raise _Failure(
                f"the sandbox cannot run on this worker: {self.containment.reason}. Steps are not started "
                "unconfined; set QUARTERDECK_SANDBOX=off to run them with the worker's privileges",
                retryable=False,
            )

    def confinement_at(self, where: Path, area: AgentArea | None = None) -> sandbox.Confinement | None:
        """The sandbox of steps working in ``where`` (a task's worktree, a merge result's scratch worktree)."""
        if self.containment is None:
            return None
        return self.containment.confinement(
            self.settings,
            worktree=where,
            area=area.root if area is not None else None,
            earlier=tuple(a.root for a in area.siblings()) if area is not None else (),
            runtime=self.task.runtime,
            options=self.options,
            emit=self.emit,
        )

    def step(self, kind: sandbox.policy.StepKind, confined: sandbox.Confinement | None = None) -> Any:
        """A block whose processes run in the sandbox of a ``kind`` step (agent or check)."""
        policy = self.containment.policy(kind) if self.containment is not None else None
        return containment.step(confined or self.confined, policy)

    def env(self, runtime: str | None = None) -> dict[str, str]:
        """The environment of a step (``runtime``: an agent step's, which keeps its provider's variables)."""
        base = self.setup.base_env
        if self.containment is not None and self.containment.on:
            pass_env = tuple(self.project.sandbox.pass_env)
            # the worker's ~/.gitconfig is out of view: an agent's own ``git commit`` gets Quarterdeck's identity
            base = {**containment.step_env(base, pass_env=pass_env, runtime=runtime), **self.author.env()}
        ours = {
            "QUARTERDECK_RUN_ID": self.run.id,
            "QUARTERDECK_TASK_ID": self.task.id,
            "QUARTERDECK_ATTEMPT": str(self.claim.attempt_number),
        }
        if self.port is not None:
            ours["QUARTERDECK_PORT"] = str(self.port)
        if (traceparent := tracing.traceparent()) is not None:  # the agent's own spans join the run's trace
            ours["TRACEPARENT"] = traceparent
        return {**base, **self.project.workspace.env, **self.secret_env, **ours}

    async def agent(self, workdir: Path, *, follow_up: str | None = None) -> RunResult:
        """Run the agent, within a reservation of the run's budget when its runtime spends money.

        ``follow_up`` continues the agent's session with that turn (a revision) instead of the prompt.
        """
        reserved: budgets.Reservation | None = None
        cap: float | None = None
        if spends(self.runtime):
            # The reservation is the run's accounting; the agent's cap is the budget that really applies:
            # the task's own, and what the run has left (None when neither is set: no cap).
            wanted = self.task.budget_usd or self.settings.default_reserve_usd
            reserved = await self.write(lambda conn: budgets.reserve(conn, self.claim, wanted))
            if reserved is None:
                raise _OutOfBudget(wanted)
            caps = [c for c in (self.task.budget_usd, reserved.cap_usd) if c is not None]
            cap = min(caps) if caps else None
        result: RunResult | None = None
        meter = SpendMeter()
        try:
            result = await (self._traced_agent if tracing.enabled() else self._run_agent)(
                workdir, cap, follow_up, meter
            )
        finally:
            if reserved is not None:
                # A cancelled run returns nothing, but the turns it was served are paid for.
                await asyncio.shield(self._settle(result or meter.interrupted))
        return result

    async def _settle(self, result: RunResult | None) -> None:
        entry = None
        if result is not None:
            entry = budgets.CostEntry(
                provider=self.task.runtime,
                model=result.model or self.task.runtime,
                cost_usd=result.cost_usd,
                input_tokens=result.tokens.input + result.tokens.cache_read + result.tokens.cache_write,
                output_tokens=result.tokens.output,
                source=result.cost_source,
            )
        await self.write(lambda conn: budgets.settle(conn, self.claim, entry, now=utcnow()))
        if entry is not None:
            self.spent_usd += entry.cost_usd
        if entry is not None:
            await self.emit(EventType.COST_RECORDED, cost_usd=entry.cost_usd, model=entry.model, source=entry.source)

    async def _traced_agent(
        self, workdir: Path, budget_usd: float | None, follow_up: str | None, meter: SpendMeter
    ) -> RunResult:
        """``_run_agent`` in a span of its own, with the GenAI attributes of what the agent used."""
        attributes = {"gen_ai.operation.name": "invoke_agent", "quarterdeck.runtime": self.task.runtime}
        with tracing.span("quarterdeck.agent", attributes) as span:
            result = await self._run_agent(workdir, budget_usd, follow_up, meter)
            tokens = result.tokens
            tracing.set_usage(
                span,
                provider=self.task.runtime,
                model=result.model,
                input_tokens=tokens.input + tokens.cache_read + tokens.cache_write,
                output_tokens=tokens.output,
                cost_usd=result.cost_usd,
            )
            if not result.ok:
                tracing.failed(span, result.error or "the agent failed")
            return result

    async def _run_agent(
        self, workdir: Path, budget_usd: float | None, follow_up: str | None, meter: SpendMeter
    ) -> RunResult:
        runtime_cls = self.runtime
        options = _NO_OPTIONS.get(runtime_cls) if not self.options else None
        if options is None:
            options = runtime_cls.Options.model_validate(self.options)
            if not self.options:
                _NO_OPTIONS[runtime_cls] = options
        context = TaskContext(
            run_id=self.run.id,
            task_id=self.task.id,
            attempt=self.claim.attempt_number,
            title=self.task.title,
            prompt=self.prompt(),
            options=options,
            timeout_s=self.task.timeout_s,
            plan_dir=Path(self.task.source_path).parent,
            workdir=workdir,
            env=self.env(self.task.runtime if spends(runtime_cls) else None),
            verify=tuple(self.task.verify),
            acceptance_criteria=tuple(c["text"] for c in self.task.acceptance_criteria),
            resume_session_id=self.checkpoint.session_id,
            follow_up=follow_up,
            budget_usd=budget_usd,
            kill_grace_s=self.settings.kill_grace_s,
            resume_state=self.checkpoint.runtime_state,
            save_state=lambda state: self.save(replace(self.checkpoint, runtime_state=state)),
            meter=meter,
            mcp_servers=self.project.mcp.servers,
        )
        kind: sandbox.policy.StepKind = "agent" if spends(runtime_cls) else "check"
        confined = self.confined
        area = AgentArea.for_task(context) if kind == "agent" and needs_workspace(runtime_cls) else None
        if area is not None and (context.resume_session_id or context.resume_state):
            await self.restore_areas(area)  # a session begun on another machine goes on here
        if confined is not None and area is not None:
            # the agent's own area beside the worktree: its CLI's config dir, session files, raw stream
            confined = self.confinement_at(workdir, area)
        with self.step(kind, confined):
            try:
                result = await runtime_cls().run(context, self.emit)
            finally:
                if area is not None:
                    await asyncio.shield(self.store_area(area))
        await self.emit(EventType.AGENT_RESULT, ok=result.ok, summary=result.summary, error=result.error)
        return result

    async def store_area(self, area: AgentArea) -> None:
        """Store what the agent's area holds now (``engine/agent_files.py``): any machine reads it from there."""
        files = agent_files.collect(area.root)
        if not files:
            return
        await self.write(
            lambda conn: agent_file_store.replace_agent_files(conn, self.task.pk, area.root.name, files, now=utcnow())
        )

    async def restore_areas(self, area: AgentArea) -> None:
        """Write the task's earlier areas this machine does not have (another worker ran them) beside ``area``."""

        async def read() -> dict[str, dict[str, bytes]]:
            async with self.db.read() as conn:
                return await agent_file_store.read_agent_files(conn, self.task.pk)

        written = agent_files.restore(area.root.parent, await self.durably(read), keep=area.root.name)
        if written:
            log.info("%s: restored the agent areas %s from the store", self.task.id, ", ".join(written))

    def prompt(self) -> str:
        """The task's prompt; on a retry that starts afresh, followed by what failed before (``_carried``) and
        what a person said to the agent since (``engine/followups_rules.py``)."""
        failure, said = self.checkpoint.failure, self.checkpoint.said
        if self.checkpoint.retry_from:
            return self.task.prompt
        prompt = self.task.prompt
        if failure is not None:
            prompt += (
                f"\n\nAn earlier attempt at this task failed:\n\n```\n{failure}\n```\n\n"
                "Its changes were discarded: this worktree starts from the current code. Avoid what made it fail."
            )
        if said:
            prompt += f"\n\n{followups_rules.said_turn(said)}"
        if self.lessons:
            prompt += f"\n\n{self.lessons}"
        return prompt

    async def _follow_ups(self, conn: AsyncConnection, *, after_id: int) -> list[followups.FollowUp]:
        return await followups.read_follow_ups(conn, self.run.id, self.task.id, after_id=after_id)

    async def hear(self, ws: worktrees.Workspace, result: RunResult) -> RunResult:
        """Hand the agent what people said to it while it worked (``engine/followups_rules.py``), as more turns of its
        session, until nothing new was said; a runtime that keeps no session hears them at its next attempt."""
        heard = self.checkpoint.heard
        for _ in range(followups_rules.MAX_HEARD_TURNS):
            if not result.session_id:
                return result
            fresh = await self.write(functools.partial(self._follow_ups, after_id=heard))
            if not fresh:
                return result
            heard = fresh[-1].id
            await self.save(replace(self.checkpoint, session_id=result.session_id, heard=heard))
            await self.emit(EventType.TASK_HEARD, messages=[f.id for f in fresh], by=sorted({f.sender for f in fresh}))
            result = await self.agent(
                ws.path, follow_up=followups_rules.said_turn("\n\n".join(f.content for f in fresh))
            )
            if not result.ok:
                raise _Failure(result.error or "the agent failed answering a follow-up", retryable=result.retryable)
        return result

    async def verify(self, ws: worktrees.Workspace) -> _Failed | None:
        """Run the verification commands in the task's worktree; the first failure, or None when all pass."""
        return await self.verify_at(ws.path, stage="task")

    async def verify_at(self, where: Path, *, stage: str) -> _Failed | None:
        confined = self.confinement_at(where) if self.confined is not None else None
        for command in self.task.verify:
            traced = tracing.span("quarterdeck.verify", {"quarterdeck.command": command, "quarterdeck.stage": stage})
            with self.step("check", confined), traced as span:
                result = await process.run_process(
                    ["bash", "-c", command],
                    cwd=where,
                    env=self.env(),
                    timeout_s=self.task.timeout_s,
                    grace_s=self.settings.kill_grace_s,
                )
            tail = "\n".join(result.output.splitlines()[-40:])
            if result.timed_out or result.returncode != 0:
                tracing.failed(span, f"exited {result.returncode}" + (" (timed out)" if result.timed_out else ""))
            await self.emit(
                EventType.VERIFY_RESULT, command=command, exit_code=result.returncode, output=tail, stage=stage
            )
            if result.timed_out:
                return _Failed(command, result.returncode, tail, timed_out=True)
            if result.returncode != 0:
                return _Failed(command, result.returncode, tail)
        return None

    async def verify_with_revisions(self, ws: worktrees.Workspace, commit: str | None) -> str | None:
        """The definition-of-done gate: a failed check goes back to the same agent session, up to
        ``max_revisions`` times, before the attempt fails. Returns the (possibly newer) commit."""
        revisions = self.checkpoint.revisions
        while (failed := await self.verify(ws)) is not None:
            session = self.checkpoint.session_id
            if failed.timed_out or session is None or revisions >= self.task.max_revisions:
                raise _Failure(failed.message(revisions), retryable=True)
            revisions += 1
            await self.emit(
                EventType.REVISION_REQUESTED, revision=revisions, command=failed.command, output=failed.output[-2000:]
            )
            result = await self.agent(
                ws.path, follow_up=verification_follow_up(failed.command, failed.exit_code, failed.output)
            )
            if not result.ok:
                raise _Failure(result.error or "the agent failed during a revision", retryable=result.retryable)
            commit = await self.commit(ws)
            session = result.session_id or session
            await self.save(replace(self.checkpoint, commit=commit, session_id=session, revisions=revisions))
        return commit

    @property
    def author(self) -> worktrees.Author:
        return worktrees.Author(self.settings.git_author_name, self.settings.git_author_email)

    async def commit(self, ws: worktrees.Workspace) -> str | None:
        author = self.author
        trailers = {
            "Quarterdeck-Run": self.run.id,
            "Quarterdeck-Task": self.task.id,
            "Quarterdeck-Attempt": str(self.claim.attempt_number),
            "Quarterdeck-Agent": self.task.runtime,
        }
        if self.spent_usd:
            trailers["Quarterdeck-Cost"] = f"${self.spent_usd:.4f}"
        workspace = self.project.workspace
        sha, files = await worktrees.commit_all(
            ws,
            subject=self.task.title,
            body="",
            trailers=trailers,
            author=author,
            exclude=[*workspace.copy_files, *workspace.link],
        )
        if sha is not None and self.setup.remote is not None:
            # on the remote before it is checkpointed: an attempt on another machine resumes from it
            await self.setup.remote.push_branch(ws.branch)
        await self.write(lambda conn: task_store.update_attempt(conn, self.claim, commit_sha=sha))
        await self.emit(EventType.COMMIT_CREATED, commit=sha, files=files)
        return sha

    async def land(self, ws: worktrees.Workspace, commit: str) -> str:
        """Land the task's commit; when the integration branch moved since the task started, its checks
        run on the merge result first (in a scratch worktree), and a failure leaves the branch alone."""

        async def check_merge_result(candidate: str) -> None:
            head = await worktrees.resolve_commit(self.repo, f"refs/heads/{self.run.integration_branch}")
            if not self.task.verify or await worktrees.same_tree(self.repo, candidate, commit):
                return  # the result is exactly the task's own tree, which was just checked
            scratch = ws.path.with_name(f"{ws.path.name}-merge")
            await worktrees.create_scratch(self.repo, scratch, candidate, root=self.settings.resolved_worktree_root())
            try:
                failed = await self.verify_at(scratch, stage="merge")
            finally:
                await worktrees.remove_worktree(self.repo, scratch, pool_size=self.settings.worktree_pool)
            if failed is not None:
                raise _Failure(
                    f"verification on the merge result: {failed.message(0)}; "
                    f"{self.run.integration_branch} was left at {head[:12]}",
                    retryable=False,
                )

        with tracing.span("quarterdeck.merge", {"quarterdeck.branch": self.run.integration_branch}) as span:
            result = await merge.land(
                self.repo,
                self.run.integration_branch,
                commit,
                strategy=merge.Strategy(self.run.merge_strategy),
                check=check_merge_result,
                remote=self.setup.remote,
            )
            if not result.ok:
                tracing.failed(span, f"merge conflict in {len(result.conflicts)} path(s)")
        if not result.ok:
            paths = list(result.conflicts)
            await self.emit(EventType.MERGE_CONFLICT, paths=paths, ours=result.head, theirs=commit)
            raise _Failure(
                f"merge conflict in {', '.join(paths)} (integration {result.head[:12]}, task {commit[:12]})",
                retryable=False,
                status=TaskStatus.CONFLICT,
                follow_up=self.resolver(commit, paths),
            )
        assert result.commit is not None
        self.landed = result.commit  # from here on, the landing stands
        await self.emit(EventType.MERGE_DONE, commit=result.commit, branch=self.run.integration_branch)
        await self.push(ws)
        return result.commit

    async def committed_before(self) -> str | None:
        """The agent's commit of an earlier attempt that ended through no fault of the task (its lease
        expired, or it was given back) before checkpointing it: the head of the task's branch, if that
        carries the trailers of this run, this task and such an attempt."""
        if self.claim.attempt_number < 2:
            return None
        branch = f"refs/heads/{worktrees.task_branch(self.run.id, self.task.id)}"
        if self.setup.remote is not None:  # what any machine's attempt pushed
            branch = remote_mod.tracking(worktrees.task_branch(self.run.id, self.task.id))
        shown = await git.git(
            self.repo,
            "log",
            "-1",
            "--format=%H%n%(trailers:key=Quarterdeck-Run,valueonly,separator=)%n"
            "%(trailers:key=Quarterdeck-Task,valueonly,separator=)%n"
            "%(trailers:key=Quarterdeck-Attempt,valueonly,separator=)",
            branch,
            "--",
            check=False,
        )
        lines = shown.stdout.splitlines()
        if shown.returncode != 0 or len(lines) < 4 or lines[1:3] != [self.run.id, self.task.id]:
            return None
        number = int(lines[3]) if lines[3].isdigit() else 0
        if not 0 < number < self.claim.attempt_number:
            return None

        async def read() -> list[AttemptRecord]:
            async with self.db.read() as conn:
                return await task_store.read_attempts(conn, self.task.pk)

        earlier = next((a for a in await self.durably(read) if a.number == number), None)
        if earlier is None or not _not_its_fault(earlier):
            return None
        return lines[0]

    async def landed_before(self) -> str | None:
        """The commit an earlier attempt of this task landed on the integration branch, found by its trailers."""
        found = await git.git(
            self.repo,
            "log",
            "-1",
            "--format=%H",
            "--extended-regexp",
            "--all-match",
            f"--grep=^Quarterdeck-Run: {_ere(self.run.id)}$",
            f"--grep=^Quarterdeck-Task: {_ere(self.task.id)}$",
            f"refs/heads/{self.run.integration_branch}",
            "--",
        )
        return found.stdout.strip() or None

    def resolver(self, commit: str, paths: list[str]) -> dict[str, Any] | None:
        """The follow-up task that resolves this task's conflict, when the project asks for one."""
        config = self.project.merge
        if not config.resolve_conflicts:
            return None
        base_id = f"{self.task.id[:55]}-resolve"
        return {
            "task_id": base_id if self.task.attempts < 2 else f"{base_id}{self.task.attempts}",
            "title": f"Resolve merge conflicts of {self.task.title}"[:200],
            "prompt": (
                f"Task {self.task.id!r} ({self.task.title}) could not land: its branch conflicts with the "
                f"integration branch in {', '.join(paths)}. This worktree holds the merge of its commit "
                f"{commit[:12]} in progress, with conflict markers in those files. Resolve every conflict so "
                "that both the integration branch's changes and the task's intent are kept, make the checks "
                f"pass, then stop.\n\nThe original task:\n{self.task.prompt}"
            ),
            "runtime": config.resolver_runtime,
            "options": dict(config.resolver_options),
            "checkpoint": Checkpoint(merge_from=commit, conflict_paths=tuple(paths)),
        }

    async def push(self, ws: worktrees.Workspace) -> None:
        """Push what landed to the project's remote; a failed push is reported, the landing stands."""
        remote = self.project.remote
        if remote is None or self.setup.remote is not None:  # (a repository named by URL: landed there already)
            return
        refs = [self.run.integration_branch] + ([ws.branch] if remote.task_branches else [])
        specs = [f"+refs/heads/{ref}:refs/heads/{ref}" if ref == ws.branch else f"refs/heads/{ref}:refs/heads/{ref}"
                 for ref in refs]  # fmt: skip
        result = await git.git(self.repo, "push", "--quiet", "--porcelain", remote.name, *specs, check=False)
        if result.returncode == 0:
            await self.emit(EventType.PUSH_DONE, remote=remote.name, refs=refs)
        else:
            message = (result.stderr or result.stdout).strip()[-2000:]
            await self.emit(EventType.PUSH_FAILED, remote=remote.name, refs=refs, error=message)

    async def save(self, checkpoint: Checkpoint) -> None:
        """Checkpoint completed steps (fenced by the lease) before the next step begins."""
        self.checkpoint = checkpoint
        await self.write(lambda conn: task_store.update_checkpoint(conn, self.claim, checkpoint))

    async def traced_steps(self) -> str | None:
        """``steps`` in the attempt's span, a child of its task's span in the run's trace."""
        if not tracing.enabled():
            return await self.steps()
        task = tracing.task_traceparent(tracing.run_traceparent(self.run.id, self.run.traceparent), self.task.id)
        attributes = {
            "quarterdeck.run.id": self.run.id,
            "quarterdeck.task.id": self.task.id,
            "quarterdeck.attempt.id": self.claim.attempt_id,
            "quarterdeck.attempt.number": self.claim.attempt_number,
            "quarterdeck.worker.id": self.task.worker_id or "",
            "quarterdeck.runtime": self.task.runtime,
        }
        with tracing.span("quarterdeck.attempt", attributes, parent=task):
            return await self.steps()

    async def steps(self) -> str | None:
        """Run the steps not already checkpointed by an interrupted attempt; return the landed commit."""
        log.info("attempt %d of %s started (%s)", self.claim.attempt_number, self.task.id, self.task.runtime)
        await self.load_secrets()
        self.lessons = await memory.recall(self.db, self.settings, self.project, self.run, self.task, self.emit)
        if not needs_workspace(self.runtime):  # starts no process of its own (noop, a planner): nothing to confine
            result = await self.agent(self.repo)
            if not result.ok:
                raise _Failure(result.error or "the agent failed", retryable=result.retryable)
            return None
        await self.contain()
        if self.setup.remote is not None:  # the integration branch and the run's task branches, as they are now
            await self.setup.remote.fetch_run(self.run.integration_branch, self.run.id)
        done = self.checkpoint
        if steps := done.steps():
            await self.emit(EventType.CHECKPOINT_RESUMED, steps=steps)
        if done.finished:  # landed, but the outcome was never recorded
            return done.merged
        if done.agent:  # the agent's work is committed: do not pay for it twice
            commit = done.commit
            if commit is not None and (landed := await self.landed_before()) is not None:
                # An earlier attempt landed it and died before checkpointing that: the landing stands.
                await self.emit(EventType.MERGE_DONE, commit=landed, branch=self.run.integration_branch, found=True)
                return landed
            ws = await self.prepare(at=commit)
        elif (commit := await self.committed_before()) is not None:
            # An earlier attempt's agent finished and committed, and the attempt died before checkpointing.
            await self.emit(EventType.CHECKPOINT_RESUMED, steps=["agent"], commit=commit)
            if (landed := await self.landed_before()) is not None:
                return landed
            ws = await self.prepare(at=commit)
            await self.save(replace(self.checkpoint, agent=True, commit=commit))
        else:
            # A retry after a failure continues from the earlier work, or starts afresh told why (``_carried``).
            failure, retry_from = self.checkpoint.failure, self.checkpoint.retry_from
            ws = await self.prepare(at=retry_from)
            if failure is not None:
                await self.emit(EventType.RETRY_CONTEXT, continued=retry_from is not None, failure=failure[-2000:])
            said = self.checkpoint.said
            result = await self.agent(ws.path, follow_up=_next_turn(failure, said) if retry_from else None)
            if not result.ok:
                raise _Failure(result.error or "the agent failed", retryable=result.retryable)
            result = await self.hear(ws, result)
            commit = await self.commit(ws)
            # what the retry was told is spent: the next attempt resumes from the agent's commit
            spent = replace(self.checkpoint, failure=None, retry_from=None, said=None)
            await self.save(replace(spent, agent=True, commit=commit, session_id=result.session_id))
        if commit is None and not self.task.allow_empty and expects_changes(self.runtime):
            await self.emit(EventType.RESULT_EMPTY)
            raise _Failure(
                f"the agent changed nothing: {self.task.runtime} left the worktree as it found it "
                "(a task that may succeed without changes sets allow_empty: true)",
                retryable=True,
            )
        if not done.verified:
            commit = await self.verify_with_revisions(ws, commit)
            await self.save(replace(self.checkpoint, verified=True))
        if not done.reviewed and self.reviewer is not None:  # the reviewer judges each criterion (may revise)
            with self.step("check"), tracing.span("quarterdeck.review"):
                commit = await self.reviewer(self, ws, commit)  # checkpoints ``reviewed`` when it reviewed
        landed = await self.land(ws, commit) if commit is not None else None
        await self.save(replace(self.checkpoint, finished=True, merged=landed))
        self.to_park = ws  # removed (parked) once the outcome is recorded: see ``execute_attempt``
        return landed

    async def tidy(self) -> None:
        """Remove (park) the finished task's worktree; its task's outcome is recorded already."""
        ws, self.to_park = self.to_park, None
        if ws is None:
            return
        try:
            await worktrees.remove_worktree(self.repo, ws.path, pool_size=self.settings.worktree_pool)
        except WorkspaceError as exc:  # a worktree left behind is gc's; the task's work is done
            log.warning("could not remove the worktree of %s: %s", self.task.id, exc)


def _not_its_fault(attempt: AttemptRecord) -> bool:
    """The attempt ended because its worker died or met an infrastructure error, not because of the task."""
    if attempt.status is AttemptStatus.EXPIRED:
        return True
    reason = attempt.error or ""
    return attempt.status is AttemptStatus.CANCELLED and (reason.startswith(_GIVEN_BACK) or reason == _RELEASED)


def _ere(text: str) -> str:
    """``text`` matched literally in a POSIX extended regular expression (ids are safe names)."""
    return "".join(f"\\{c}" if c in ".[]()*+?{}|^$\\" else c for c in text)


async def _heartbeat(attempt: _Attempt, holder: asyncio.Task[Any]) -> None:
    """Renew the lease every ``heartbeat_s`` until cancelled; if it is lost (expired, or the task cancelled),
    cancel the attempt."""
    db, settings, claim = attempt.db, attempt.settings, attempt.claim
    away = False
    while True:
        try:
            async with db.transaction() as conn:
                await task_store.renew_lease(conn, claim, lease_s=settings.lease_s, now=utcnow())
        except LeaseLost:
            if attempt.landed is None:
                holder.cancel("lease lost")
            return  # (a landed attempt goes on: its success is fenced off, and the next attempt finds it)
        except QuarterdeckError as exc:  # the database is away; the lease may still be renewed later
            if not away:
                log.warning("heartbeat for %s failed: %s", claim.task.id, exc)
            away = True
        else:
            away = False
        await asyncio.sleep(settings.heartbeat_s)


class _Due:
    """A helper of the attempt (its heartbeat) started only when its first turn is due.

    Most short attempts (``noop``, milestones) end before it is due; a timer is far cheaper than
    a task that is created, then cancelled and awaited.
    """

    def __init__(self, delay_s: float, start: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.task: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(delay_s, self._start, start)

    def _start(self, start: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.task = asyncio.ensure_future(start())

    def done(self) -> bool:
        return self.task is not None and self.task.done()

    async def stop(self) -> None:
        self._timer.cancel()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def execute_attempt(
    db: Database,
    settings: Settings,
    registry: Registry,
    claim: Claim,
    run: RunRecord | RunSetup,
    *,
    claim_next: ClaimNext | None = None,
    secrets: AgentSecrets | None = None,
    writer: outcomes.OutcomeWriter | None = None,
    background: Callable[[Coroutine[Any, Any, None]], object] | None = None,
    tidied: asyncio.Future[None] | None = None,
    reviewer: Reviewer | None = None,
) -> AttemptOutcome:
    """Run every step of the claimed attempt and record its outcome, fenced by the lease.

    ``run`` may come with its set-up read already (``RunSetup``, which a worker keeps per run).
    ``secrets`` opens the organisation's agent secrets into the agent's environment (none without it);
    ``reviewer`` judges the verified work (none without it: it lands as it is).
    ``writer`` records a success in a group with other slots' (see ``outcomes.py``); the next task is
    claimed there when ``claim_next`` is given (a failure is recorded alone, claiming with ``claim_next``):
    one task, which the slot starts as soon as the outcome is committed.

    A succeeded task's worktree is removed (parked) only after its outcome is recorded, so its dependants
    and other slots are not held up by it: in ``background`` (the worker's, which awaits it before it
    stops) when given, else before this returns. ``tidied`` is the slot's previous task's tidying: this
    attempt waits for it (beside its first steps) before it makes its worktree, so it can take the parked one."""
    setup = run if isinstance(run, RunSetup) else await RunSetup.load(run, settings)
    run = setup.run
    attempt = _Attempt(db, settings, registry, claim, setup, secrets, reviewer)
    attempt.tidied = tidied
    trace = tracing.run_traceparent(run.id, run.traceparent).split("-")[1] if tracing.enabled() else None
    context.set_ids(run_id=run.id, task_id=claim.task.id, attempt_id=claim.attempt_id, trace_id=trace)
    await attempt.emit(EventType.TASK_CLAIMED, attempt=claim.attempt_number, worker=claim.task.worker_id)
    work = asyncio.ensure_future(attempt.traced_steps())
    beat = _Due(settings.heartbeat_s, lambda: _heartbeat(attempt, work))
    # Its events are written with every other running attempt's, in shared transactions (output.py).
    output_writer = output.OutputWriter.for_database(db)
    output_writer.add(attempt.output)
    try:
        try:
            ending = _Ending(commit=await work)
        except Exception as exc:
            if attempt.landed is None:
                raise
            # The commit is on the integration branch: whatever failed after, the landing stands.
            log.warning("%s landed %s; what failed after does not undo it: %r", claim.task.id, attempt.landed, exc)
            ending = _Ending(commit=attempt.landed)
    except _OutOfBudget as short:
        await _pause_for_budget(db, claim, run, short.wanted_usd)
        return AttemptOutcome(succeeded=False)
    except LeaseLost:
        return AttemptOutcome(succeeded=False)  # taken over (the database was away past the lease): nothing to record
    except InfrastructureError as exc:
        if claim.attempt_number <= claim.task.max_attempts + _GIVE_BACK_MAX:
            # Not the task's fault: hand it back now (not counted), its checkpoint intact.
            log.warning("attempt %s of %s gives the task back: %s", claim.attempt_number, claim.task.id, exc)
            await asyncio.shield(_release(db, claim, run, reason=f"{_GIVEN_BACK}{exc.message}"))
            unreachable = exc.repo if isinstance(exc, RepositoryUnavailable) else None
            return AttemptOutcome(succeeded=False, unreachable=unreachable)
        ending = _Ending(error=f"gave the task back {_GIVE_BACK_MAX} times; last: {exc.message}", retryable=True)
    except _Failure as failure:
        ending = _Ending(
            error=failure.error, retryable=failure.retryable, status=failure.status, follow_up=failure.follow_up
        )
    except QuarterdeckError as exc:
        ending = _Ending(error=exc.message, retryable=getattr(exc, "retryable", False))
    except Exception as exc:  # a bug or an unexpected failure must still end the attempt, recorded
        log.exception("attempt %s of %s crashed", claim.attempt_number, claim.task.id)
        ending = _Ending(error=f"internal error: {exc!r}")
    except asyncio.CancelledError:
        if work.cancelled() and not beat.done():
            # The worker is stopping hard: hand the task back now rather than at lease expiry.
            await asyncio.shield(_release(db, claim, run))
            raise
        return AttemptOutcome(succeeded=False)  # lease lost or task cancelled: nothing of ours to record
    finally:
        await beat.stop()
        output_writer.discard(attempt.output)
        await attempt.settle()
    # A task that ended (succeeded, or failed with no retry left) leaves a lesson, stored before the outcome.
    await memory.remember(
        db, settings, setup, claim.task, ending.commit, ending.error, ending.retryable, attempt.output.events
    )
    if ending.error is not None:
        ending = dataclasses.replace(ending, keep=_carried(attempt.checkpoint, ending.error))
    elif writer is not None:
        success = outcomes.Success(claim, attempt.take_events(), ending.commit, wants=0 if claim_next is None else 1)
        recorded = await writer.record(success)
        if recorded.held:
            _trace_task_end(claim, run, None)
        await _tidy(attempt, background)
        return AttemptOutcome(
            succeeded=recorded.held,
            newly_ready=recorded.newly_ready,
            run_finished=recorded.run_finished,
            next_claims=recorded.next_claims,
        )
    recorded_alone = await _record(db, claim, run, attempt.take_events(), ending, claim_next)
    await _tidy(attempt, background)
    return recorded_alone


async def _tidy(attempt: _Attempt, background: Callable[[Coroutine[Any, Any, None]], object] | None) -> None:
    """Remove the worktree of the attempt's succeeded task, in ``background`` when given."""
    if attempt.to_park is None:
        return
    if background is not None:
        background(attempt.tidy())
    else:
        await attempt.tidy()


def _trace_task_end(claim: Claim, run: RunRecord, error: str | None) -> None:
    """Emit the span of the task that just ended (succeeded, or failed with no retry left)."""
    if not tracing.enabled():
        return
    task = claim.task
    attributes = {"quarterdeck.run.id": run.id, "quarterdeck.task.id": task.id, "quarterdeck.runtime": task.runtime}
    if task.role:
        attributes["quarterdeck.role"] = task.role
    tracing.end_task(
        tracing.run_traceparent(run.id, run.traceparent),
        task.id,
        started=task.started_at or task.created_at,
        attributes={**attributes, "quarterdeck.attempts": claim.attempt_number},
        error=error,
    )


def _carried(checkpoint: Checkpoint, error: str) -> Checkpoint:
    """What a failed attempt's retry starts from: honest about the failure either way.

    When the agent's work was committed and its session can go on (a check, a review or the merge
    check failed afterwards), the retry continues that session in a worktree at that commit, with a
    turn stating what failed. Otherwise (the agent itself failed, timed out, or changed nothing) its
    changes are discarded and the retry starts a fresh session from the current code, its prompt
    followed by what failed before.
    """
    failure = error[-_FAILURE_CHARS:]
    if checkpoint.agent and checkpoint.commit and checkpoint.has_session:
        return replace(checkpoint.session(), retry_from=checkpoint.commit, failure=failure)
    return Checkpoint(failure=failure)


#: the most of a failure's text handed to the retry's agent
_FAILURE_CHARS = 8000


def _next_turn(failure: str | None, said: str | None) -> str:
    """The turn that continues a session: what failed after its committed work, what a person said, or both."""
    if said is None:
        return _continue_turn(failure)
    if failure is None:
        return followups_rules.said_turn(said)
    return f"{_continue_turn(failure)}\n\n{followups_rules.said_turn(said)}"


def _continue_turn(failure: str | None) -> str:
    """The turn that continues a session whose committed work failed afterwards."""
    return (
        "Your work above was committed, but the attempt then failed:\n\n"
        f"```\n{failure}\n```\n\n"
        "This worktree holds that work. Fix what failed, then stop."
    )


async def _pause_for_budget(db: Database, claim: Claim, run: RunRecord, wanted_usd: float) -> None:
    """Hand the task back (nothing was spent on it) and stop the run until its budget is raised."""
    async with db.transaction() as conn:
        await control_store.release_task(conn, claim, now=utcnow())
        if await budgets.mark_exhausted(conn, run.id):
            current = await run_store.read_run(conn, run.id)
            message = (
                f"budget exhausted: ${current.spent_usd:.2f} spent of ${current.budget_usd or 0:.2f}; task "
                f"{claim.task.id!r} needs ${wanted_usd:.2f} reserved. Raise it with "
                f"`quarterdeck budget {run.id} --add USD`"
            )
            await event_store.create_events(
                conn,
                [
                    event_store.NewEvent(run.id, EventType.RUN_BUDGET_EXHAUSTED, {"message": message}),
                    event_store.NewEvent(run.id, EventType.RUN_WAITING, {"for": "budget", "task": claim.task.id}),
                ],
            )


#: how many attempts beyond ``max_attempts`` a task may be given back for infrastructure errors before
#: one is recorded as its failure (a failure that only looks like the system's must not loop forever)
_GIVE_BACK_MAX = 20
#: how a given-back attempt's error begins, and a released one's reads (``control_store.release_task``)
_GIVEN_BACK = "given back: "
_RELEASED = "worker stopped; released"


async def _release(db: Database, claim: Claim, run: RunRecord, *, reason: str | None = None) -> None:
    try:
        async with db.transaction() as conn:
            if await control_store.release_task(conn, claim, now=utcnow(), reason=reason):
                await event_store.create_events(
                    conn,
                    [event_store.NewEvent(run.id, EventType.TASK_RELEASED, {}, claim.task.id, claim.attempt_id)],
                )
                await wakeups.announce_ready(conn, db.dialect)  # ready again: for an idle worker elsewhere
    except QuarterdeckError as exc:  # the lease will expire instead
        log.warning("could not release %s: %s", claim.task.id, exc)


async def _record(
    db: Database,
    claim: Claim,
    run: RunRecord,
    events: list[event_store.NewEvent],
    ending: _Ending,
    claim_next: ClaimNext | None,
) -> AttemptOutcome:
    """Write the attempt's outcome with its remaining events; retried for as long as the database is away.

    A retry after a commit whose acknowledgement was lost finds the lease already released and
    stops (``LeaseLost``): the outcome is written exactly once either way. So does one whose lease
    expired during a long outage: the next attempt does the task's remaining steps (a landed commit is
    found on the branch, not landed twice).
    """
    delay, failures = 0.1, 0
    while True:
        try:
            outcome = await _record_once(db, claim, run, list(events), ending, claim_next)
        except LeaseLost:
            log.info("attempt %s of %s lost its lease; its outcome is dropped", claim.attempt_number, claim.task.id)
            return AttemptOutcome(succeeded=False)
        except StoreError as exc:
            failures += 1
            if failures == 1:
                log.warning("recording %s failed, retrying until the database is back: %s", claim.task.id, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        if failures:
            log.info("recorded %s after %d tries", claim.task.id, failures + 1)
        return outcome


async def _record_once(
    db: Database,
    claim: Claim,
    run: RunRecord,
    new: list[event_store.NewEvent],
    ending: _Ending,
    claim_next: ClaimNext | None,
) -> AttemptOutcome:
    now = utcnow()
    commit, error, keep, status, follow_up = ending.commit, ending.error, ending.keep, ending.status, ending.follow_up
    task = claim.task
    retried = False
    async with db.transaction() as conn:
        if error is None:
            ready = await task_store.complete_task(conn, claim, commit_sha=commit, now=now)
            new.append(event_store.NewEvent(run.id, EventType.TASK_SUCCEEDED, {"commit": commit}, task.id))
            new += [event_store.NewEvent(run.id, EventType.TASK_READY, {}, t) for t in ready]
        else:
            policy = RetryPolicy(max_attempts=task.max_attempts)
            decision = policy.decide(task.failures + 1, retryable=ending.retryable)
            retry_at = None if decision is None else now + timedelta(seconds=decision.delay_s)
            # A failed attempt's steps are redone by the next one; only the agent's session carries over.
            blocked = await task_store.fail_task(
                conn,
                claim,
                error=error,
                retry_at=retry_at,
                now=now,
                checkpoint=Checkpoint(resolved_by=follow_up["task_id"]) if follow_up is not None else keep,
                status=status,
                block=follow_up is None,
            )
            if follow_up is not None:
                await task_store.create_follow_up(conn, task, now=now, **follow_up)
                new.append(event_store.NewEvent(run.id, EventType.TASK_CREATED, {"for": task.id}, follow_up["task_id"]))
                new.append(event_store.NewEvent(run.id, EventType.TASK_READY, {}, follow_up["task_id"]))
            payload: dict[str, Any] = {"error": error}
            if decision is not None:
                payload["retry_in"] = round(decision.delay_s, 3)
            new.append(event_store.NewEvent(run.id, EventType.TASK_FAILED, payload, task.id, claim.attempt_id))
            reason = {"reason": f"dependency {task.id!r} failed"}
            new += [event_store.NewEvent(run.id, EventType.TASK_BLOCKED, reason, t) for t in blocked]
            ready = [task.id] if decision is not None else []
            retried = decision is not None
        following = await claim_next(conn) if claim_next is not None else None
        # A task of this run claimed next shows the run goes on (its own outcome looks again): no probe.
        goes_on = following is not None and following.task.run_id == run.id
        blocker = TaskStatus.RUNNING if goes_on else await run_store.first_unfinished(conn, run.id)
        final = await run_store.finish_run_if_done(conn, run.id, now) if blocker is None else None
        if final is not None:
            new.append(control.ended(run.id, final))
        await event_store.create_events(conn, new)
        # Under READ COMMITTED a task finishing concurrently may have seen this one still running;
        # whoever commits last sees everything, so each of them looks again after its commit.
        recheck = blocker is TaskStatus.RUNNING and not goes_on and db.dialect == "postgresql"
    if recheck and await control.finish_after_commit(db, run.id):
        final = RunStatus.FAILED  # (any terminal status: only "the run ended" is reported)
    if error is not None:
        log.info("attempt %d of %s failed%s: %s", claim.attempt_number, task.id, " (retried)" * retried, error)
    if not retried:
        _trace_task_end(claim, run, error)
    return AttemptOutcome(
        succeeded=error is None,
        newly_ready=tuple(ready),
        run_finished=final is not None,
        next_claims=(following,) if following is not None else (),
    )
