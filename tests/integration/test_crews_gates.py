"""Human gates on both databases: a plan, a merge and a budget raise wait for a decision that takes effect.

A run whose task waits for its merge approval is ``waiting`` / ``merge``, and its other tasks go on."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.crews import gates, goals, manager
from quarterdeck.crews.config import CrewConfig, ModelConfig, RoleConfig
from quarterdeck.crews.models import Asker
from quarterdeck.crews.schema import PlanDraft
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.errors import InputError, NotFound
from quarterdeck.llm.endpoint import Endpoint
from quarterdeck.store import crews as crew_store
from quarterdeck.store import orgs
from quarterdeck.stories import planfile
from tests.support.gitrepo import git
from tests.support.llm_servers import AnthropicServer, Reply, Script


def crew(reviewer_url: str = "http://127.0.0.1:9", **extra: Any) -> CrewConfig:
    route = (Endpoint(model="claude-haiku-4-5", base_url=reviewer_url),)
    scripted = RoleConfig(runtime="scripted", options={"actions": [{"write": "out.txt", "content": "done\n"}]})
    notes = RoleConfig(runtime="scripted", options={"actions": [{"write": "notes.txt", "content": "notes\n"}]})
    return CrewConfig(
        manager=ModelConfig(models=route),
        reviewer=ModelConfig(models=route),
        roles={"backend": scripted, "docs": notes},
        **extra,
    )


def planned(config: CrewConfig, *criteria: str, tasks: Sequence[dict[str, Any]] = ()) -> manager.Planned:
    """A one-task plan (``write``, reviewed against ``criteria``), then ``tasks``."""
    draft = PlanDraft.model_validate(
        {
            "name": "one",
            "tasks": [
                {
                    "id": "write",
                    "title": "Write out.txt",
                    "prompt": "write it",
                    "role": "backend",
                    "acceptance_criteria": [{"text": c} for c in criteria or ("out.txt says done",)],
                    "verify": ["grep -q done out.txt"],
                },
                *tasks,
            ],
        }
    )
    plan_file = manager.draft_to_plan_file(draft.tasks, config, name=draft.name)
    plan = planfile.parse_plan(json.dumps(plan_file), "<test>.json")
    return manager.Planned(plan=plan, plan_file=plan_file, draft=draft, exchange=(("goal", "write it"),))


async def start(
    app: Quarterdeck,
    repo: Path,
    config: CrewConfig,
    *,
    approve: bool,
    tasks: Sequence[dict[str, Any]] = (),
    **kw: Any,
) -> goals.Started:
    return await goals.start_run(
        app.db,
        app.registry,
        "write it",
        planned(config, tasks=tasks),
        config,
        Asker(config.manager),
        repo=repo,
        approve=approve,
        org_id="default",
        **kw,
    )


async def test_a_rejected_plan_cancels_its_run_and_cannot_be_decided_again(app: Quarterdeck, repo: Path) -> None:
    started = await start(app, repo, crew(), approve=True)
    assert started.approval is not None
    rejected = await gates.decide(
        app.db, org_id="default", approval_id=started.approval.id, approve=False, by="bob", reason="too big"
    )
    assert (rejected.status, rejected.decided_by, rejected.reason) == ("rejected", "bob", "too big")
    view = await app.view(started.run.id)
    assert view.run.status is RunStatus.CANCELLED
    assert [t.status for t in view.tasks] == [TaskStatus.CANCELLED]
    async with app.db.read() as conn:
        versions = await crew_store.read_plan_versions(conn, started.run.id)
    assert [v.status for v in versions] == ["rejected"]
    with pytest.raises(InputError, match=f"approval {started.approval.id} was already rejected by bob"):
        await gates.decide(app.db, org_id="default", approval_id=started.approval.id, approve=True, by="eve")
    assert await gates.pending(app.db, org_id="default") == []


async def test_another_organisations_approval_is_not_found(app: Quarterdeck, repo: Path) -> None:
    started = await start(app, repo, crew(), approve=True)
    assert started.approval is not None
    async with app.db.transaction() as conn:
        await orgs.ensure_org(conn, "acme")
    assert await gates.pending(app.db, org_id="acme") == []
    with pytest.raises(NotFound):
        await gates.decide(app.db, org_id="acme", approval_id=started.approval.id, approve=True, by="eve")
    with pytest.raises(NotFound):
        await gates.decide(app.db, org_id="default", approval_id="ap-nope", approve=True, by="eve")
    assert (await app.view(started.run.id)).run.status is RunStatus.WAITING


async def test_a_budget_raise_waits_for_approval(app: Quarterdeck, repo: Path) -> None:
    started = await start(app, repo, crew(), approve=False, budget_usd=1.0)
    async with app.db.transaction() as conn:
        approval = await gates.request(
            conn,
            org_id="default",
            kind="budget",
            payload={"add_usd": 2.5},
            requested_by="quarterdeck",
            run_id=started.run.id,
        )
    assert (await app.view(started.run.id)).run.budget_usd == 1.0
    await gates.decide(app.db, org_id="default", approval_id=approval.id, approve=True, by="ada")
    assert (await app.view(started.run.id)).run.budget_usd == 3.5
    types = [e.type for e in await app.events(started.run.id)]
    assert types[-2:] == ["run.budget_raised", "approval.decided"]


ACCEPT = json.dumps(
    {
        "criteria": [{"criterion": "1", "status": "met", "evidence": "out.txt: done"}],
        "verdict": "accept",
        "summary": "ok",
    }
)
#: a second task of the run, independent of ``write``: it is reviewed, and its landing waits for a person too
NOTES = {
    "id": "notes",
    "title": "Write notes.txt",
    "prompt": "write notes",
    "role": "docs",
    "acceptance_criteria": [{"text": "notes.txt says notes"}],
}


def merge_crew(repo: Path, reviewer_url: str) -> CrewConfig:
    """A crew whose landings wait for a person: in the repository (read by the review step) and as a config."""
    (repo / ".quarterdeck").mkdir()
    (repo / ".quarterdeck" / "crew.toml").write_text(
        f'[crew]\napprove_merges = true\n[crew.reviewer]\nmodels = [{{model = "claude-haiku-4-5", base_url = '
        f'"{reviewer_url}"}}]\n[crew.roles.backend]\nruntime = "scripted"\n[crew.roles.docs]\nruntime = "scripted"\n'
    )
    return crew(reviewer_url, approve_merges=True)


async def merge_pending(
    app: Quarterdeck, run_id: str, running: asyncio.Future[Any], *, count: int = 1
) -> list[crew_store.ApprovalRecord]:
    """Wait until ``count`` merge approvals of the run are open (oldest first); the run is served meanwhile."""
    deadline = time.monotonic() + 30
    while len(waiting := await gates.pending(app.db, org_id="default", run_id=run_id)) < count:
        assert time.monotonic() < deadline, f"{len(waiting)} of {count} merge approvals were requested"
        assert not running.done(), running.result()
        await asyncio.sleep(0.02)
    assert [(m.kind, m.requested_by) for m in waiting] == [("merge", "reviewer")] * count
    return waiting


async def until_task(app: Quarterdeck, run_id: str, task_id: str, status: TaskStatus) -> None:
    deadline = time.monotonic() + 30
    while (task := next(t for t in (await app.view(run_id)).tasks if t.id == task_id)).status is not status:
        assert time.monotonic() < deadline, task
        await asyncio.sleep(0.02)


async def test_a_run_waits_for_its_merge_approvals_while_its_other_tasks_go_on(app: Quarterdeck, repo: Path) -> None:
    with AnthropicServer(Script(then=Reply.text(ACCEPT))) as reviewer:
        config = merge_crew(repo, reviewer.url)
        started = await start(app, repo, config, approve=False, tasks=[NOTES])
        run_id, branch = started.run.id, started.run.integration_branch
        # one slot: `write` (first in the plan) holds it while its landing waits; `notes` is still ready
        running = asyncio.ensure_future(app.run_until_done(run_id, worker=app.worker(slots=1), tick_s=0.02))
        (write,) = await merge_pending(app, run_id, running)
        assert write.task_id == "write"
        view = await app.view(run_id)
        assert (view.run.status, view.run.waiting_for) == (RunStatus.WAITING, "merge")
        assert {t.id: t.status for t in view.tasks} == {"write": TaskStatus.RUNNING, "notes": TaskStatus.READY}
        waited = [e.payload for e in await app.events(run_id) if e.type == "run.waiting"]
        assert waited == [{"for": "merge", "task": "write"}]

        # a second worker claims the waiting run's other task, runs and reviews it: a merge wait stops only its
        # own task. Its landing waits too; approving it lands it while the run still waits for `write`'s.
        other = app.worker(slots=1)
        serving = asyncio.create_task(other.serve())
        (_, notes) = await merge_pending(app, run_id, running, count=2)
        assert notes.task_id == "notes"
        await app.decide(notes.id, approve=True, by="ada")
        await until_task(app, run_id, "notes", TaskStatus.SUCCEEDED)
        other.should_exit = True
        other.wake()
        await serving
        view = await app.view(run_id)
        assert (view.run.status, view.run.waiting_for) == (RunStatus.WAITING, "merge")
        assert git(repo, "show", f"{branch}:notes.txt") == "notes\n"
        assert "out.txt" not in git(repo, "ls-tree", "--name-only", branch)

        await app.decide(write.id, approve=True, by="ada")
        view = await asyncio.wait_for(running, 60)
    assert view.run.status is RunStatus.SUCCEEDED
    assert git(repo, "show", f"{branch}:out.txt") == "done\n"
    course = [
        (e.type, e.task_id, e.payload.get("for"), e.payload.get("by"))
        for e in await app.events(run_id)
        if e.type in ("run.waiting", "run.resumed", "approval.decided", "task.succeeded", "run.finished")
    ]
    assert course == [
        ("run.waiting", None, "merge", None),  # once: the second merge finds the run waiting already
        ("approval.decided", "notes", None, "ada"),
        ("task.succeeded", "notes", None, None),
        ("run.resumed", None, "merge", "ada"),  # running again when no merge waits, before the work lands
        ("approval.decided", "write", None, "ada"),
        ("task.succeeded", "write", None, None),
        ("run.finished", None, None, None),
    ]


async def test_a_rejected_merge_fails_its_task_and_the_run_ends_as_a_task_failed_for_good(
    app: Quarterdeck, repo: Path
) -> None:
    """(This run has no supervisor, so it fails; a goal started with ``start_goal`` would wait for a re-plan.)"""
    with AnthropicServer(Script(then=Reply.text(ACCEPT))) as reviewer:
        config = merge_crew(repo, reviewer.url)
        started = await start(app, repo, config, approve=False)
        run_id = started.run.id
        running = asyncio.ensure_future(app.run_until_done(run_id, worker=app.worker(slots=1), tick_s=0.02))
        (merge,) = await merge_pending(app, run_id, running)
        assert (await app.view(run_id)).run.waiting_for == "merge"
        await app.decide(merge.id, approve=False, by="bob", reason="not this way")
        view = await asyncio.wait_for(running, 60)
    assert view.run.status is RunStatus.FAILED
    (write,) = view.tasks
    assert write.status is TaskStatus.FAILED
    assert "the merge of 'write' was rejected by bob: not this way" in (write.error or "")
    assert "out.txt" not in git(repo, "ls-tree", "--name-only", started.run.integration_branch)
    statuses = [(e.type, e.payload.get("for") or e.payload.get("status")) for e in await app.events(run_id)]
    ran = [s for s in statuses if s[0] in ("run.waiting", "run.resumed", "run.finished")]
    assert ran == [("run.waiting", "merge"), ("run.resumed", "merge"), ("run.finished", "failed")]


async def test_a_new_merge_approval_of_a_task_supersedes_its_earlier_attempts_pending_one(
    app: Quarterdeck, repo: Path
) -> None:
    """A task done again (cancelled while its landing waited, then re-queued) leaves no approval nobody can use."""
    with AnthropicServer(Script(then=Reply.text(ACCEPT))) as reviewer:
        config = merge_crew(repo, reviewer.url)
        started = await start(app, repo, config, approve=False)
        run_id = started.run.id
        async with app.db.transaction() as conn:  # what an earlier attempt of `write` left waiting
            earlier = await gates.request(
                conn,
                org_id="default",
                kind="merge",
                payload={"commit": "0" * 40, "title": "Write out.txt"},
                requested_by="reviewer",
                run_id=run_id,
                task_id="write",
            )
        running = asyncio.ensure_future(app.run_until_done(run_id, worker=app.worker(slots=1), tick_s=0.02))
        deadline = time.monotonic() + 30
        while True:
            waiting = await gates.pending(app.db, org_id="default", run_id=run_id)
            if [a.id for a in waiting] not in ([earlier.id], []):
                break
            assert time.monotonic() < deadline, "no new merge approval was requested"
            assert not running.done(), running.result()
            await asyncio.sleep(0.02)
        (current,) = waiting
        assert current.id != earlier.id
        assert current.payload["commit"] != "0" * 40
        (superseded,) = [a for a in await app.approvals(run_id) if a.id == earlier.id]
        assert (superseded.status, superseded.decided_by) == ("rejected", "quarterdeck")
        assert superseded.reason == f"superseded by {current.id}: the task's work was done again"
        view = await app.view(run_id)
        assert (view.run.status, view.run.waiting_for) == (RunStatus.WAITING, "merge")
        await app.decide(current.id, approve=True, by="ada")
        view = await asyncio.wait_for(running, 60)
    assert view.run.status is RunStatus.SUCCEEDED
    moves = [(e.type, e.payload.get("for")) for e in await app.events(run_id) if e.type.startswith("run.")]
    assert moves == [("run.created", None), ("run.waiting", "merge"), ("run.resumed", "merge"), ("run.finished", None)]


async def test_a_merge_wait_gives_way_to_a_pause_and_comes_back_after_it(app: Quarterdeck, repo: Path) -> None:
    with AnthropicServer(Script(then=Reply.text(ACCEPT))) as reviewer:
        config = merge_crew(repo, reviewer.url)
        started = await start(app, repo, config, approve=False)
        run_id = started.run.id
        running = asyncio.ensure_future(app.run_until_done(run_id, worker=app.worker(slots=1), tick_s=0.02))
        (merge,) = await merge_pending(app, run_id, running)
        await app.pause_run(run_id, by="ada")
        paused = (await app.view(run_id)).run
        assert (paused.status, paused.waiting_for) == (RunStatus.PAUSED, None)
        assert await app.unpause_run(run_id, by="ada")
        resumed = (await app.view(run_id)).run
        assert (resumed.status, resumed.waiting_for) == (RunStatus.WAITING, "merge")  # its approval still waits
        await app.decide(merge.id, approve=True, by="ada")
        view = await asyncio.wait_for(running, 60)
    assert view.run.status is RunStatus.SUCCEEDED
    moves = [(e.type, e.payload.get("for")) for e in await app.events(run_id) if e.type.startswith("run.")]
    assert moves == [
        ("run.created", None),
        ("run.waiting", "merge"),
        ("run.paused", None),
        ("run.resumed", None),
        ("run.waiting", "merge"),
        ("run.resumed", "merge"),
        ("run.finished", None),
    ]


async def test_a_run_waiting_for_its_plan_is_not_started_by_resume(app: Quarterdeck, repo: Path) -> None:
    started = await start(app, repo, crew(), approve=True)
    assert started.approval is not None
    assert started.run.status is RunStatus.WAITING
    with pytest.raises(InputError, match=f"approvals approve {started.approval.id}"):
        await app.unpause_run(started.run.id)
    assert (await app.view(started.run.id)).run.status is RunStatus.WAITING
    await gates.decide(app.db, org_id="default", approval_id=started.approval.id, approve=True, by="ann")
    assert (await app.view(started.run.id)).run.status is RunStatus.RUNNING
