"""One attempt at a task: workspace → agent → verification → commit → merge, then a fenced outcome."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.crews import review
from quarterdeck.domain.events import EventType
from quarterdeck.domain.retry import RetryPolicy
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.engine import control, outcomes
from quarterdeck.engine.secrets import AgentSecrets, Redactor
from quarterdeck.errors import LeaseLost, QuarterdeckError, StoreError
from quarterdeck.runtimes import process
from quarterdeck.runtimes.base import (
    RunResult,
    RuntimeOptions,
    TaskContext,
    expects_changes,
    needs_workspace,
    spends,
    verification_follow_up,
)
from quarterdeck.runtimes.registry import Registry
from quarterdeck.settings import Settings
from quarterdeck.store import budgets
from quarterdeck.store import control as control_store
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import Claim, RunRecord
from quarterdeck.store.types import utcnow
from quarterdeck.workspaces import git, merge, project, worktrees

__all__ = ["AttemptOutcome", "RunSetup", "execute_attempt"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What an attempt's end changed: tasks that became ready, and whether the run ended."""

    succeeded: bool
    newly_ready: tuple[str, ...] = ()
    run_finished: bool = False
    #: the slot's next tasks, claimed in the transaction that recorded this outcome (see ``ClaimNext``)
    next_claims: tuple[Claim, ...] = ()


@dataclass(frozen=True, slots=True)
class RunSetup:
    """What every attempt of a run needs and no attempt changes, read once per run (by the worker).

    A run's repository config and the children's base environment (``process.base_env``: a copy of
    ``os.environ``, which is read once, see settings) cost more per attempt than a no-op task's work.
    """

    run: RunRecord
    repo: Path
    project: project.ProjectConfig
    base_env: Mapping[str, str]

    @classmethod
    def of(cls, run: RunRecord) -> RunSetup:
        """Read the run's repository config and the environment now.

        Raises:
            InputError: the repository's config file is invalid.
        """
        repo = Path(run.repo_path)
        return cls(run, repo, project.load_project_config(repo), process.base_env())


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
    keep: dict[str, Any] | None = None
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
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.claim = claim
        self.task = claim.task
        self.run = setup.run
        self.repo = setup.repo
        self.setup = setup
        self.runtime = registry.get(claim.task.runtime)
        self.pending: list[event_store.NewEvent] = []
        self.checkpoint: dict[str, Any] = dict(claim.task.checkpoint or {})
        self.project = setup.project
        self.port: int | None = None
        #: what this attempt's agent runs cost so far (the commit's Quarterdeck-Cost trailer)
        self.spent_usd = 0.0
        self.inflight: asyncio.Future[None] | None = None
        self.secrets = secrets
        #: the organisation's agent secrets, as environment variables (see ``engine/secrets.py``)
        self.secret_env: dict[str, str] = {}
        self.redact = Redactor()

    async def load_secrets(self) -> None:
        """Open the organisation's agent secrets; from now on their values are redacted from every event."""
        if self.secrets is not None:
            self.secret_env = await self.secrets.environment(self.run.org_id)
            self.redact = Redactor(self.secret_env)

    async def emit(self, type: str, /, **payload: Any) -> None:
        """Queue an event; the flusher writes queued events every ``_FLUSH_S`` and the outcome writes the rest."""
        if self.redact:
            payload = self.redact(payload)
        self.pending.append(
            event_store.NewEvent(self.run.id, type, payload, task_id=self.task.id, attempt_id=self.claim.attempt_id)
        )

    def take_events(self) -> list[event_store.NewEvent]:
        taken, self.pending = self.pending, []
        return taken

    async def flush(self) -> None:
        """Write queued events; a cancelled flush still finishes its write (see ``settle``)."""
        if self.pending:
            self.inflight = asyncio.ensure_future(self._write(self.take_events()))
            await asyncio.shield(self.inflight)

    async def _write(self, events: list[event_store.NewEvent]) -> None:
        try:
            async with self.db.transaction() as conn:
                await event_store.create_events(conn, events)
        except QuarterdeckError:
            self.pending[:0] = events  # the outcome's transaction writes them instead
            raise

    async def settle(self) -> None:
        """Wait for a write the flusher started, so no event is lost or written out of order."""
        if self.inflight is not None:
            with contextlib.suppress(QuarterdeckError):
                await self.inflight

    async def prepare(self, at: str | None = None) -> worktrees.Workspace:
        """The attempt's worktree: at the integration head, or at ``at`` (work an earlier attempt committed)."""
        head = at or await worktrees.resolve_commit(self.repo, f"refs/heads/{self.run.integration_branch}")
        ws = await worktrees.create_worktree(
            self.repo,
            self.settings.resolved_worktree_root(),
            self.run.id,
            self.task.id,
            self.claim.attempt_number,
            head,
        )
        workspace = self.project.workspace
        async with self.db.transaction() as conn:
            await task_store.update_attempt(conn, self.claim, branch=ws.branch, worktree=str(ws.path))
            if workspace.ports is not None:
                self.port = await task_store.allocate_port(
                    conn, self.claim, dialect=self.db.dialect, first=workspace.ports[0], last=workspace.ports[1]
                )
        project.apply_files(workspace, self.repo, ws.path)
        if (merge_from := self.checkpoint.get("merge_from")) and at is None:
            # A conflict resolver starts from the merge in progress, conflict markers and all.
            merging = await git.git(
                ws.path, "merge", "--no-ff", "--no-commit", str(merge_from), check=False, env=self.author.env()
            )
            await self.emit(EventType.MERGE_STARTED, commit=merge_from, output=merging.stdout.strip()[-2000:])
        for command in workspace.setup:
            result = await process.run_process(
                ["bash", "-c", command], cwd=ws.path, env=self.env(), timeout_s=self.task.timeout_s
            )
            tail = "\n".join(result.output.splitlines()[-20:])
            await self.emit(EventType.SETUP_RESULT, command=command, exit_code=result.returncode, output=tail)
            if result.timed_out or result.returncode != 0:
                raise _Failure(f"setup command {command!r} exited {result.returncode}:\n{tail}", retryable=True)
        await self.emit(EventType.WORKSPACE_READY, path=str(ws.path), branch=ws.branch, base=head, port=self.port)
        return ws

    def env(self) -> dict[str, str]:
        ours = {
            "QUARTERDECK_RUN_ID": self.run.id,
            "QUARTERDECK_TASK_ID": self.task.id,
            "QUARTERDECK_ATTEMPT": str(self.claim.attempt_number),
        }
        if self.port is not None:
            ours["QUARTERDECK_PORT"] = str(self.port)
        return {**self.setup.base_env, **self.project.workspace.env, **self.secret_env, **ours}

    async def agent(self, workdir: Path, *, follow_up: str | None = None) -> RunResult:
        """Run the agent, within a reservation of the run's budget when its runtime spends money.

        ``follow_up`` continues the agent's session with that turn (a revision) instead of the prompt.
        """
        reserved: float | None = None
        if spends(self.runtime):
            reserved = self.task.budget_usd or self.settings.default_reserve_usd
            async with self.db.transaction() as conn:
                if not await budgets.reserve(conn, self.claim, reserved):
                    raise _OutOfBudget(reserved)
        result: RunResult | None = None
        try:
            result = await self._run_agent(workdir, reserved, follow_up)
        finally:
            if reserved is not None:
                await self._settle(result)
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
        async with self.db.transaction() as conn:
            await budgets.settle(conn, self.claim, entry, now=utcnow())
        if entry is not None:
            self.spent_usd += entry.cost_usd
        if entry is not None:
            await self.emit(EventType.COST_RECORDED, cost_usd=entry.cost_usd, model=entry.model, source=entry.source)

    async def _run_agent(self, workdir: Path, budget_usd: float | None, follow_up: str | None) -> RunResult:
        runtime_cls = self.runtime
        options = _NO_OPTIONS.get(runtime_cls) if not self.task.options else None
        if options is None:
            options = runtime_cls.Options.model_validate(self.task.options)
            if not self.task.options:
                _NO_OPTIONS[runtime_cls] = options
        context = TaskContext(
            run_id=self.run.id,
            task_id=self.task.id,
            attempt=self.claim.attempt_number,
            title=self.task.title,
            prompt=self.task.prompt,
            options=options,
            timeout_s=self.task.timeout_s,
            plan_dir=Path(self.task.source_path).parent,
            workdir=workdir,
            env=self.env(),
            verify=tuple(self.task.verify),
            acceptance_criteria=tuple(c["text"] for c in self.task.acceptance_criteria),
            resume_session_id=cast(str | None, self.checkpoint.get("session_id")),
            follow_up=follow_up,
            budget_usd=budget_usd,
            resume_state=cast(dict[str, Any] | None, self.checkpoint.get("runtime_state")),
            save_state=lambda state: self.save(runtime_state=state),
        )
        result = await runtime_cls().run(context, self.emit)
        await self.emit(EventType.AGENT_RESULT, ok=result.ok, summary=result.summary, error=result.error)
        return result

    async def verify(self, ws: worktrees.Workspace) -> _Failed | None:
        """Run the verification commands in the task's worktree; the first failure, or None when all pass."""
        return await self.verify_at(ws.path, stage="task")

    async def verify_at(self, where: Path, *, stage: str) -> _Failed | None:
        for command in self.task.verify:
            result = await process.run_process(
                ["bash", "-c", command],
                cwd=where,
                env=self.env(),
                timeout_s=self.task.timeout_s,
                grace_s=self.settings.kill_grace_s,
            )
            tail = "\n".join(result.output.splitlines()[-40:])
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
        revisions = int(self.checkpoint.get("revisions", 0))
        while (failed := await self.verify(ws)) is not None:
            session = cast(str | None, self.checkpoint.get("session_id"))
            if failed.timed_out or session is None or revisions >= self.task.max_revisions:
                raise _Failure(failed.message(revisions), retryable=True)
            revisions += 1
            await self.emit(EventType.REVISION_REQUESTED, revision=revisions, command=failed.command)
            result = await self.agent(
                ws.path, follow_up=verification_follow_up(failed.command, failed.exit_code, failed.output)
            )
            if not result.ok:
                raise _Failure(result.error or "the agent failed during a revision", retryable=result.retryable)
            commit = await self.commit(ws)
            await self.save(commit=commit, session_id=result.session_id or session, revisions=revisions)
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
        async with self.db.transaction() as conn:
            await task_store.update_attempt(conn, self.claim, commit_sha=sha)
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

        result = await merge.land(
            self.repo,
            self.run.integration_branch,
            commit,
            strategy=merge.Strategy(self.run.merge_strategy),
            check=check_merge_result,
        )
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
        await self.emit(EventType.MERGE_DONE, commit=result.commit, branch=self.run.integration_branch)
        await self.push(ws)
        return result.commit

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
            "checkpoint": {"merge_from": commit, "conflict_paths": paths},
        }

    async def push(self, ws: worktrees.Workspace) -> None:
        """Push what landed to the project's remote; a failed push is reported, the landing stands."""
        remote = self.project.remote
        if remote is None:
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

    async def save(self, **steps: Any) -> None:
        """Checkpoint completed steps (fenced by the lease) before the next step begins."""
        self.checkpoint.update(steps)
        async with self.db.transaction() as conn:
            await task_store.update_checkpoint(conn, self.claim, self.checkpoint)

    async def steps(self) -> str | None:
        """Run the steps not already checkpointed by an interrupted attempt; return the landed commit."""
        await self.load_secrets()
        if not needs_workspace(self.runtime):
            result = await self.agent(self.repo)
            if not result.ok:
                raise _Failure(result.error or "the agent failed", retryable=result.retryable)
            return None
        done = {k: v for k, v in self.checkpoint.items() if k not in ("merge_from", "conflict_paths")}
        if done:
            await self.emit(EventType.CHECKPOINT_RESUMED, steps=sorted(done))
        if "merged" in done:  # landed, but the outcome was never recorded
            return cast(str | None, done["merged"])
        if "agent" in done:  # the agent's work is committed: do not pay for it twice
            commit = cast(str | None, done.get("commit"))
            ws = await self.prepare(at=commit)
        else:
            ws = await self.prepare()
            result = await self.agent(ws.path)
            if not result.ok:
                raise _Failure(result.error or "the agent failed", retryable=result.retryable)
            commit = await self.commit(ws)
            await self.save(agent=True, commit=commit, session_id=result.session_id)
        if commit is None and not self.task.allow_empty and expects_changes(self.runtime):
            await self.emit(EventType.RESULT_EMPTY)
            raise _Failure(
                f"the agent changed nothing: {self.task.runtime} left the worktree as it found it "
                "(a task that may succeed without changes sets allow_empty: true)",
                retryable=True,
            )
        if "verified" not in done:
            commit = await self.verify_with_revisions(ws, commit)
            await self.save(verified=True)
        if "reviewed" not in done:  # crews: the reviewer judges each acceptance criterion (may revise)
            commit = await review.review_attempt(self, ws, commit)  # checkpoints ``reviewed`` when it reviewed
        landed = await self.land(ws, commit) if commit is not None else None
        await self.save(merged=landed)
        await worktrees.remove_worktree(self.repo, ws.path, pool_size=self.settings.worktree_pool)
        return landed


_FLUSH_S = 0.1


async def _flusher(attempt: _Attempt) -> None:
    """Write queued events every ``_FLUSH_S`` while the attempt runs, so watchers see them live."""
    while True:
        try:
            await attempt.flush()
        except QuarterdeckError as exc:
            log.warning("events of %s not written yet: %s", attempt.task.id, exc)
        await asyncio.sleep(_FLUSH_S)


async def _heartbeat(db: Database, settings: Settings, claim: Claim, holder: asyncio.Task[Any]) -> None:
    """Renew the lease every ``heartbeat_s`` until cancelled; if it is lost (expired, or the task cancelled),
    cancel the attempt."""
    while True:
        try:
            async with db.transaction() as conn:
                await task_store.renew_lease(conn, claim, lease_s=settings.lease_s, now=utcnow())
        except LeaseLost:
            holder.cancel("lease lost")
            return
        except QuarterdeckError as exc:  # the database is away; the lease may still be renewed later
            log.warning("heartbeat for %s failed: %s", claim.task.id, exc)
        await asyncio.sleep(settings.heartbeat_s)


class _Due:
    """A helper of the attempt (heartbeat, flusher) started only when its first turn is due.

    Most short attempts (``noop``, milestones) end before either is due; a timer is far cheaper than
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
    wants: Callable[[], int] | None = None,
    on_queued: Callable[[], None] | None = None,
) -> AttemptOutcome:
    """Run every step of the claimed attempt and record its outcome, fenced by the lease.

    ``run`` may come with its set-up read already (``RunSetup``, which a worker keeps per run).
    ``secrets`` opens the organisation's agent secrets into the agent's environment (none without it).
    ``writer`` records a success in a group with other slots' (see ``outcomes.py``); the next task is
    claimed there when ``claim_next`` is given (a failure is recorded alone, claiming with ``claim_next``):
    ``wants()`` of them, asked when the success is queued; ``on_queued`` is called then, before its commit."""
    setup = run if isinstance(run, RunSetup) else RunSetup.of(run)
    run = setup.run
    attempt = _Attempt(db, settings, registry, claim, setup, secrets)
    await attempt.emit(EventType.TASK_CLAIMED, attempt=claim.attempt_number)
    work = asyncio.ensure_future(attempt.steps())
    beat = _Due(settings.heartbeat_s, lambda: _heartbeat(db, settings, claim, work))
    flusher = _Due(_FLUSH_S, lambda: _flusher(attempt))
    try:
        ending = _Ending(commit=await work)
    except _OutOfBudget as short:
        await _pause_for_budget(db, claim, run, short.wanted_usd)
        return AttemptOutcome(succeeded=False)
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
        for helper in (beat, flusher):
            await helper.stop()
        await attempt.settle()
    if ending.error is not None:
        # A retry continues the agent's conversation (its session, or an api-agent's transcript and
        # files) rather than paying for the finished turns again.
        kept = {k: v for k in ("session_id", "runtime_state") if (v := attempt.checkpoint.get(k))}
        if kept:
            ending = dataclasses.replace(ending, keep=kept)
    elif writer is not None:
        count = 0 if claim_next is None else wants() if wants is not None else 1
        success = outcomes.Success(claim, attempt.take_events(), ending.commit, wants=count)
        queued = writer.submit(success)
        if on_queued is not None:
            on_queued()
        recorded = await queued
        return AttemptOutcome(
            succeeded=recorded.held,
            newly_ready=recorded.newly_ready,
            run_finished=recorded.run_finished,
            next_claims=recorded.next_claims,
        )
    return await _record(db, claim, run, attempt.take_events(), ending, claim_next)


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
                conn, [event_store.NewEvent(run.id, EventType.RUN_BUDGET_EXHAUSTED, {"message": message})]
            )


async def _release(db: Database, claim: Claim, run: RunRecord) -> None:
    try:
        async with db.transaction() as conn:
            if await control_store.release_task(conn, claim, now=utcnow()):
                await event_store.create_events(
                    conn,
                    [event_store.NewEvent(run.id, EventType.TASK_RELEASED, {}, claim.task.id, claim.attempt_id)],
                )
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
    """Write the attempt's outcome with its remaining events; retried while the database is away.

    A retry after a commit whose acknowledgement was lost finds the lease already released and
    stops (``LeaseLost``): the outcome is written exactly once either way.
    """
    delay = 0.1
    deadline = asyncio.get_running_loop().time() + _RECORD_PATIENCE_S
    while True:
        try:
            return await _record_once(db, claim, run, list(events), ending, claim_next)
        except LeaseLost:
            log.info("attempt %s of %s lost its lease; its outcome is dropped", claim.attempt_number, claim.task.id)
            return AttemptOutcome(succeeded=False)
        except StoreError as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("recording %s failed, retrying in %.1fs: %s", claim.task.id, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


#: how long an attempt keeps trying to record its outcome while the database is unreachable
_RECORD_PATIENCE_S = 120.0


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
                checkpoint={"resolved_by": follow_up["task_id"]} if follow_up is not None else keep,
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
        following = await claim_next(conn) if claim_next is not None else None
        # A task of this run claimed next shows the run goes on (its own outcome looks again): no probe.
        goes_on = following is not None and following.task.run_id == run.id
        blocker = TaskStatus.RUNNING if goes_on else await run_store.first_unfinished(conn, run.id)
        final = await run_store.finish_run_if_done(conn, run.id, now) if blocker is None else None
        if final is not None:
            new.append(event_store.NewEvent(run.id, EventType.RUN_FINISHED, {"status": str(final)}))
        await event_store.create_events(conn, new)
        # Under READ COMMITTED a task finishing concurrently may have seen this one still running;
        # whoever commits last sees everything, so each of them looks again after its commit.
        recheck = blocker is TaskStatus.RUNNING and not goes_on and db.dialect == "postgresql"
    if recheck and await control.finish_after_commit(db, run.id):
        final = RunStatus.FAILED  # (any terminal status: only "the run ended" is reported)
    return AttemptOutcome(
        succeeded=error is None,
        newly_ready=tuple(ready),
        run_finished=final is not None,
        next_claims=(following,) if following is not None else (),
    )
