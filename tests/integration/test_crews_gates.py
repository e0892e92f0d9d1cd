"""Human gates on both databases: a plan, a merge and a budget raise wait for a decision that takes effect."""

from __future__ import annotations

import asyncio
import json
import time
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
    return CrewConfig(
        manager=ModelConfig(models=route), reviewer=ModelConfig(models=route), roles={"backend": scripted}, **extra
    )


def planned(config: CrewConfig, *criteria: str) -> manager.Planned:
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
                }
            ],
        }
    )
    plan_file = manager.draft_to_plan_file(draft.tasks, config, name=draft.name)
    plan = planfile.parse_plan(json.dumps(plan_file), "<test>.json")
    return manager.Planned(plan=plan, plan_file=plan_file, draft=draft, exchange=(("goal", "write it"),))


async def start(app: Quarterdeck, repo: Path, config: CrewConfig, *, approve: bool, **kw: Any) -> goals.Started:
    return await goals.start_run(
        app.db,
        app.registry,
        "write it",
        planned(config),
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


async def test_a_task_lands_only_after_its_merge_is_approved(app: Quarterdeck, repo: Path) -> None:
    accept = json.dumps(
        {
            "criteria": [{"criterion": "1", "status": "met", "evidence": "out.txt: done"}],
            "verdict": "accept",
            "summary": "fine",
        }
    )
    with AnthropicServer(Script(Reply.text(accept))) as reviewer:
        config = crew(reviewer.url, approve_merges=True)
        (repo / ".quarterdeck").mkdir()
        (repo / ".quarterdeck" / "crew.toml").write_text(
            f'[crew]\napprove_merges = true\n[crew.reviewer]\nmodels = [{{model = "claude-haiku-4-5", base_url = '
            f'"{reviewer.url}"}}]\n[crew.roles.backend]\nruntime = "scripted"\n'
        )
        started = await start(app, repo, config, approve=False)
        run_id = started.run.id
        running = asyncio.ensure_future(app.run_until_done(run_id, worker=app.worker(slots=1), tick_s=0.02))
        deadline = time.monotonic() + 30
        while not (waiting := await gates.pending(app.db, org_id="default", run_id=run_id)):
            assert time.monotonic() < deadline, "no merge approval was requested"
            assert not running.done(), running.result()
            await asyncio.sleep(0.02)
        (merge,) = waiting
        assert (merge.kind, merge.task_id, merge.requested_by) == ("merge", "write", "reviewer")
        branch = started.run.integration_branch
        assert "out.txt" not in git(repo, "ls-tree", "--name-only", branch)
        await gates.decide(app.db, org_id="default", approval_id=merge.id, approve=True, by="ada")
        view = await asyncio.wait_for(running, 60)
    assert view.run.status is RunStatus.SUCCEEDED
    assert git(repo, "show", f"{branch}:out.txt") == "done\n"


async def test_a_run_waiting_for_its_plan_is_not_started_by_resume(app: Quarterdeck, repo: Path) -> None:
    started = await start(app, repo, crew(), approve=True)
    assert started.approval is not None
    assert started.run.status is RunStatus.WAITING
    with pytest.raises(InputError, match=f"approvals approve {started.approval.id}"):
        await app.unpause_run(started.run.id)
    assert (await app.view(started.run.id)).run.status is RunStatus.WAITING
    await gates.decide(app.db, org_id="default", approval_id=started.approval.id, approve=True, by="ann")
    assert (await app.view(started.run.id)).run.status is RunStatus.RUNNING
