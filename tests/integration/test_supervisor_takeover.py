"""A decision step (a plan, a re-plan) taken over from a process that died after the manager's answer arrived reuses it:
the model is asked once for one decision, and what the answer cost is recorded once."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from quarterdeck.app import Quarterdeck
from quarterdeck.crews import replan
from quarterdeck.crews.models import Asker
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.store import crews as crew_store
from quarterdeck.store import supervision, tables
from quarterdeck.store.types import utcnow
from tests.integration import test_supervisor as supervised
from tests.integration.test_remote_goals import ACCEPT, PLAN, _crew
from tests.integration.test_supervisor import MODEL, serving, until
from tests.support.gitrepo import make_repo
from tests.support.llm_servers import AnthropicServer, Hang, Reply, Script

#: what the dead process had checkpointed: the manager's plan and what asking for it cost
ANSWER = {
    "step": "plan",
    "draft": PLAN,
    "exchange": [["goal", "Goal:\nSay hello"], ["plan", json.dumps(PLAN, indent=2)]],
    "source": "<manager plan, round 1>.json",
    "spent": [
        {"provider": "anthropic", "model": MODEL, "input_tokens": 120, "output_tokens": 80, "cost_usd": 0.25,
         "source": "price_table"},
    ],
}  # fmt: skip


@pytest.fixture
def servers() -> Iterator[tuple[AnthropicServer, AnthropicServer]]:
    with (
        AnthropicServer(Script(Reply.text(json.dumps(PLAN)))) as boss,
        AnthropicServer(Script(then=Reply.text(json.dumps(ACCEPT)))) as review,
    ):
        yield boss, review


async def test_a_step_taken_over_after_the_answer_arrived_does_not_ask_the_manager_again(
    app: Quarterdeck, tmp_path: Path, servers: tuple[AnthropicServer, AnthropicServer]
) -> None:
    boss, review = servers
    crew = _crew(boss.url, review.url)
    repo = make_repo(tmp_path / "repo", {"README.md": "# hi\n", ".quarterdeck/crew.toml": crew})
    run = await app.start_goal("Say hello", repo=repo, approve=False, actor="ada")
    # a process took the plan step, got the manager's answer and checkpointed it, then died (its lease ran out)
    long_ago = utcnow() - timedelta(minutes=5)
    async with app.db.transaction() as conn:
        assert len(await supervision.claim_steps(conn, holder="dead", lease_s=1, now=long_ago, run_id=run.id)) == 1
        assert await supervision.checkpoint_step(conn, run.id, holder="dead", answer=ANSWER)

    async with serving(app):
        done = await until(app, run.id, RunStatus.SUCCEEDED)
    assert boss.model_requests() == []  # one decision, one answer: the checkpoint's
    assert [(t.id, t.status.value) for t in done.tasks] == [("hello", "succeeded")]
    async with app.db.read() as conn:
        messages = await crew_store.read_messages(conn, run.id)
        costs = (
            await conn.execute(
                sa.select(tables.cost_entries.c.model, tables.cost_entries.c.cost_usd).where(
                    tables.cost_entries.c.run_id == run.id, tables.cost_entries.c.task_id.is_(None)
                )
            )
        ).all()
        after = await supervision.read_supervision(conn, run.id)
    assert [m.type for m in messages if m.sender == "manager"][:1] == ["plan"]
    assert [tuple(c) for c in costs] == [(MODEL, 0.25)]  # recorded once, by the process that finished the step
    assert after is not None
    assert after.answer is None  # the step ended: its checkpoint went with it


async def test_a_replan_taken_over_after_the_answer_arrived_does_not_ask_the_manager_again(
    app: Quarterdeck, repo: Path
) -> None:
    hang = Hang(max_s=60)
    with (
        AnthropicServer(Script(Reply.text(json.dumps(supervised.PLAN)), hang)) as boss,
        AnthropicServer(Script(then=Reply.text(json.dumps(supervised.ACCEPT)))) as review,
        AnthropicServer(Script(Reply.text(json.dumps(supervised.REPLAN)))) as elsewhere,
    ):
        supervised._crew(repo, boss.url, review.url, supervised.SCRIPTED)
        run = await app.start_goal("Say hello", repo=repo, approve=False, actor="ada")
        async with serving(app):  # the plan's task fails for good; the re-plan's request hangs
            deadline = asyncio.get_running_loop().time() + 60
            while len(boss.model_requests()) < 2:
                assert asyncio.get_running_loop().time() < deadline, await app.view(run.id)
                await asyncio.sleep(0.02)
        hang.release.set()
        # meanwhile a process had taken the re-plan step, got the manager's answer (here from a server of its own)
        # and checkpointed it, then died
        crew = await app.run_crew(run)
        asker = Asker(crew.manager.model_copy(update={"models": (crew.manager.models[0].model_copy(
            update={"base_url": elsewhere.url}),)}))  # fmt: skip
        drafted = await replan.draft(app.db, run.id, "hello", crew, asker)
        spent = [dataclasses.asdict(s) for s in asker.spent]
        long_ago = utcnow() - timedelta(minutes=5)
        async with app.db.transaction() as conn:
            assert len(await supervision.claim_steps(conn, holder="dead", lease_s=1, now=long_ago, run_id=run.id)) == 1
            answer = {"step": "replan", **drafted.answer(), "spent": spent}
            assert await supervision.checkpoint_step(conn, run.id, holder="dead", answer=answer)

        async with serving(app):
            done = await until(app, run.id, RunStatus.SUCCEEDED)
    assert len(boss.model_requests()) == 2  # the plan, and the re-plan whose answer never came: not asked again
    assert [t.id for t in done.tasks] == ["hello", "hello-v2"]
