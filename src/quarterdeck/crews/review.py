"""The review step: after verification passes, every acceptance criterion is judged before the task lands.

Criteria that map to a command (one they carry as ``run: `…```, or a verification command they name)
are decided by running it in the worktree: exit 0 is ``met``. The others go to the reviewer model, with
the diff and the commands' output as evidence. The verdict follows (``verdicts.decide``): accept lands,
revise sends the feedback back to the same agent session (verified again, then reviewed again, within
``max_revisions``), reject fails the task. Every verdict is stored per criterion, once: a resumed attempt
finds the verdicts already given for its work and does not ask again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from quarterdeck.crews import gates, verdicts
from quarterdeck.crews.config import CrewConfig, load_crew_config, read_crew_config
from quarterdeck.crews.models import Asker
from quarterdeck.crews.schema import ReviewDraft, command_of
from quarterdeck.domain.events import EventType
from quarterdeck.engine import control
from quarterdeck.engine.reviewing import Reviewable
from quarterdeck.errors import InputError, QuarterdeckError
from quarterdeck.llm.structured import StructuredOutputError
from quarterdeck.observability import tracing
from quarterdeck.runtimes import process
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store.records import TaskRecord
from quarterdeck.workspaces import git, remote

__all__ = ["ReviewFailed", "Reviewable", "review_attempt"]

SYSTEM = """You are the reviewer of a crew of coding agents. Judge each acceptance criterion you are given
against the diff and the command output: met, not_met or cannot_tell, with concrete evidence (a file and
what it contains, or a line of output). Then give your verdict: accept when every criterion is met, revise
when the work can be fixed (say exactly what to change in `feedback`), reject when it is beyond repair."""

#: characters of the diff the reviewer sees
_DIFF_LIMIT = 40_000
#: how often an attempt waiting for a merge approval looks again
_APPROVAL_POLL_S = 1.0


class ReviewFailed(QuarterdeckError):
    """The reviewer rejected the work, or asked for more revisions than the task allows."""

    retryable = False


@dataclass(frozen=True, slots=True)
class _Checked:
    """A criterion decided by a command."""

    criterion: dict[str, str]
    command: str
    exit_code: int
    output: str


async def review_attempt(attempt: Reviewable, ws: Any, commit: str | None) -> str | None:
    """Review the verified work of ``attempt`` until accepted; returns the (possibly newer) commit.

    Does nothing when the run has no reviewer or the task no acceptance criteria.

    Raises:
        ReviewFailed: rejected, or still not accepted after ``max_revisions`` revisions.
    """
    task = attempt.task
    if not task.acceptance_criteria or commit is None:
        return commit
    async with attempt.db.read() as conn:
        team = await crew_store.read_team(conn, attempt.run.id)
    reviewer = next((m for m in team if m.kind == "reviewer"), None)
    if reviewer is None:
        return commit
    if remote.is_url(attempt.run.repo_path):  # the remote's crew, at the run's base (in this machine's cache)
        crew = await read_crew_config(attempt.repo, attempt.run.base_ref, where=attempt.run.repo_path)
    else:
        crew = load_crew_config(attempt.repo)
    # Verdicts are stored under the attempt that did the work, so a resumed attempt finds them.
    origin = attempt.checkpoint.review_attempt or attempt.claim.attempt_id
    if attempt.checkpoint.review_attempt is None:
        await attempt.save(replace(attempt.checkpoint, review_attempt=origin))
    asker: Asker | None = None
    while True:
        revision = attempt.checkpoint.revisions
        async with attempt.db.read() as conn:
            verdict = await crew_store.read_verdict(conn, origin, revision)
        if verdict is None:
            if commit is None:  # a revision left nothing to land
                return None
            asker = asker or Asker(crew.reviewer)
            verdict = await _review(attempt, ws, commit, origin, revision, reviewer.name, asker)
        if verdict.verdict == "accept":
            break
        if verdict.verdict == "reject":
            raise ReviewFailed(f"the reviewer rejected the work: {verdict.summary}")
        if revision >= task.max_revisions:
            unmet = [c["criterion"] for c in verdict.criteria if c["status"] != "met"]
            raise ReviewFailed(
                f"the reviewer still asks for a revision after {revision} revision{'s' * (revision != 1)} "
                f"(max_revisions {task.max_revisions}); criteria not met: {', '.join(unmet)}: {verdict.summary}"
            )
        commit = await _revise(attempt, ws, commit, verdict, revision + 1)
    await attempt.save(replace(attempt.checkpoint, reviewed=True, commit=commit))
    if crew.approve_merges:
        await _await_merge_approval(attempt, crew, commit)
    return commit


async def _review(
    attempt: Reviewable, ws: Any, commit: str, origin: str, revision: int, reviewer: str, asker: Asker
) -> crew_store.VerdictRecord:
    task = attempt.task
    checked: list[_Checked] = []
    judged: list[dict[str, str]] = []
    for criterion in task.acceptance_criteria:
        command = command_of(criterion["text"], task.verify)
        if command is None:
            judged.append(criterion)
            continue
        result = await process.run_process(
            ["bash", "-c", command], cwd=Path(ws.path), env=attempt.env(), timeout_s=task.timeout_s
        )
        tail = "\n".join(result.output.splitlines()[-40:])
        checked.append(_Checked(criterion, command, -1 if result.timed_out else result.returncode, tail))
    draft: ReviewDraft | None = None
    prompt = ""
    if judged:
        diff = await _diff(attempt, commit)
        prompt = _prompt(task, judged, checked, diff)
        async with attempt.db.transaction() as conn:
            await crew_store.create_message(
                conn,
                attempt.run.id,
                sender="quarterdeck",
                recipient=reviewer,
                type="review",
                content=prompt,
                task_id=task.id,
                data={"revision": revision, "commit": commit},
            )
        try:
            draft = await asker.ask(ReviewDraft, prompt, system=SYSTEM)
        except StructuredOutputError as exc:
            draft = ReviewDraft(criteria=[], verdict="revise", summary=f"no valid review: {exc.message}")
    criteria = verdicts.combine(
        [(c.criterion, c.command, c.exit_code, c.output) for c in checked], judged, draft, reviewer=reviewer
    )
    decision = verdicts.decide(criteria, draft.verdict if draft is not None else None)
    summary = draft.summary if draft is not None else "every criterion was checked by its command"
    if draft is not None and draft.feedback:
        summary = f"{summary}\n{draft.feedback}"
    async with attempt.db.transaction() as conn:
        record = await crew_store.create_verdict(
            conn,
            run_id=attempt.run.id,
            task_id=task.id,
            attempt_id=origin,
            revision=revision,
            verdict=decision,
            criteria=criteria,
            summary=summary,
            reviewer=reviewer,
        )
        if draft is not None:
            await crew_store.create_message(
                conn,
                attempt.run.id,
                sender=reviewer,
                recipient="quarterdeck",
                type="verdict",
                content=f"{decision}: {summary}",
                task_id=task.id,
                data={"revision": revision, "verdict": decision, "feedback": draft.feedback},
            )
        for spent in asker.take_spent():
            await spent.record(conn, attempt.run.id, task.id)
    await attempt.emit(
        EventType.REVIEW_VERDICT,
        verdict=decision,
        revision=revision,
        criteria={c["criterion"]: c["status"] for c in criteria},
    )
    return record


async def _revise(
    attempt: Reviewable, ws: Any, commit: str | None, verdict: crew_store.VerdictRecord, revision: int
) -> str | None:
    """Send the reviewer's feedback to the same agent session, then commit and verify again."""
    task = attempt.task
    session = attempt.checkpoint.session_id
    feedback = verdicts.follow_up(verdict.criteria, verdict.summary)
    async with attempt.db.transaction() as conn:
        await crew_store.create_message(
            conn,
            attempt.run.id,
            sender=verdict.reviewer,
            recipient=task.role or task.runtime,
            type="revision",
            content=feedback,
            task_id=task.id,
            data={"revision": revision},
        )
    if session is None:
        raise ReviewFailed(f"the reviewer asks for a revision but {task.runtime} keeps no session: {verdict.summary}")
    await attempt.emit(EventType.REVISION_REQUESTED, revision=revision, reviewer=verdict.reviewer)
    result = await attempt.agent(Path(ws.path), follow_up=feedback)
    if not result.ok:
        raise ReviewFailed(result.error or "the agent failed during a revision")
    new_commit = await attempt.commit(ws)
    session = result.session_id or session
    await attempt.save(replace(attempt.checkpoint, commit=new_commit, session_id=session, revisions=revision))
    async with attempt.db.transaction() as conn:
        await crew_store.create_message(
            conn,
            attempt.run.id,
            sender=task.role or task.runtime,
            recipient=verdict.reviewer,
            type="result",
            content=result.summary or "revised",
            task_id=task.id,
            data={"revision": revision, "commit": new_commit},
        )
    return await attempt.verify_with_revisions(ws, new_commit)


async def _diff(attempt: Reviewable, commit: str) -> str:
    result = await git.git(
        attempt.repo,
        "diff",
        "--stat",
        "--patch",
        f"refs/heads/{attempt.run.integration_branch}...{commit}",
        check=False,
    )
    diff = result.stdout
    if len(diff) > _DIFF_LIMIT:
        diff = diff[:_DIFF_LIMIT] + f"\n[… {len(diff) - _DIFF_LIMIT} more characters of diff]"
    return diff


def _prompt(task: TaskRecord, judged: list[dict[str, str]], checked: list[_Checked], diff: str) -> str:
    criteria = "\n".join(f"{c['id']}. {c['text']}" for c in judged)
    outputs = "\n\n".join(f"$ {c.command}  (exit {c.exit_code})\n{c.output}" for c in checked)
    verify = "\n".join(f"$ {v}  (passed)" for v in task.verify)
    return (
        f"Task {task.id}: {task.title}\n\n{task.prompt}\n\nJudge these acceptance criteria (use their numbers "
        f"as `criterion`):\n{criteria}\n\nVerification commands, all passed:\n{verify or '(none)'}\n\n"
        f"Commands run for other criteria:\n{outputs or '(none)'}\n\nThe diff:\n```diff\n{diff}\n```"
    )


async def _await_merge_approval(attempt: Reviewable, crew: CrewConfig, commit: str | None) -> None:
    """Hold the accepted work until a person approves its landing (the lease is kept renewed meanwhile).

    The run waits for ``merge`` meanwhile (``store/merge_waits.py``), and its other tasks go on. Nobody
    deciding within ``merge_approval_timeout_s`` rejects the approval, as ``quarterdeck``, and fails the task.
    """
    task = attempt.task
    async with attempt.db.transaction() as conn:
        existing = await crew_store.read_approvals(conn, run_id=attempt.run.id, task_id=task.id, kind="merge")
        current = next((a for a in reversed(existing) if a.payload.get("commit") == commit), None)
        stale: list[crew_store.ApprovalRecord] = []
        if current is None:
            current = await gates.request(
                conn,
                org_id=attempt.run.org_id,
                kind="merge",
                payload={"commit": commit, "title": task.title},
                requested_by="reviewer",
                run_id=attempt.run.id,
                task_id=task.id,
            )
            # an earlier attempt's work of this task (cancelled, re-queued, done again) will never land
            stale = [a for a in existing if a.status == "pending"]
        if current.status == "pending":
            await event_store.create_events(
                conn, await control.follow_merge_wait(conn, attempt.run.id, task_id=task.id)
            )
        for old in stale:  # after the new one waits, so the run's merge wait does not flicker
            reason = f"superseded by {current.id}: the task's work was done again"
            await gates.decide_in(
                conn, org_id=old.org_id, approval_id=old.id, approve=False, by="quarterdeck", reason=reason
            )
    deadline = asyncio.get_running_loop().time() + crew.merge_approval_timeout_s
    with tracing.span("quarterdeck.approval", {"quarterdeck.approval.kind": "merge"}) as span:
        while current.status == "pending":
            if asyncio.get_running_loop().time() > deadline:
                current = await _expire(attempt, current, crew.merge_approval_timeout_s)
                continue
            await asyncio.sleep(_APPROVAL_POLL_S)
            async with attempt.db.read() as conn:
                current = await crew_store.read_approval(conn, current.id)
        if span is not None:
            span.set_attributes({"quarterdeck.approval.id": current.id, "quarterdeck.approval.status": current.status})
    if current.status != "approved":
        raise ReviewFailed(f"the merge of {task.id!r} was rejected by {current.decided_by}: {current.reason or ''}")


async def _expire(
    attempt: Reviewable, approval: crew_store.ApprovalRecord, timeout_s: float
) -> crew_store.ApprovalRecord:
    """Reject a merge approval nobody decided in time (unless someone decides it at this very moment)."""
    reason = f"nobody decided within merge_approval_timeout_s ({timeout_s:g}s)"
    try:
        async with attempt.db.transaction() as conn:
            return await gates.decide_in(
                conn, org_id=approval.org_id, approval_id=approval.id, approve=False, by="quarterdeck", reason=reason
            )
    except InputError:  # decided meanwhile: that decision stands
        async with attempt.db.read() as conn:
            return await crew_store.read_approval(conn, approval.id)
