"""The audit trail names who steered a run and why: pauses, priorities, cancels, re-queues, budget raises."""

from __future__ import annotations

from pathlib import Path

from quarterdeck.app import Quarterdeck
from quarterdeck.crews import audit
from quarterdeck.domain import plans


def _plan() -> plans.Plan:
    shell = {"script": "exit 1"}
    return plans.Plan(
        name="steered",
        tasks=(
            plans.TaskSpec(id="a", title="A", runtime="shell", options=shell),
            plans.TaskSpec(id="b", title="B", runtime="shell", options=shell, depends_on=("a",)),
        ),
    )


async def test_every_steering_change_is_in_the_trail_with_its_actor(app: Quarterdeck, repo: Path) -> None:
    run = await app.submit(_plan(), repo=repo, budget_usd=1.0)
    await app.pause_run(run.id, by="ada")
    await app.prioritize_task(run.id, "a", 5, by="bob")
    await app.add_budget(run.id, 2.0, by="key:ci")
    await app.unpause_run(run.id, by="ada")
    await app.cancel_task(run.id, "a", by="bob")
    await app.requeue_task(run.id, "a", by="ada")
    await app.cancel_run(run.id, by="cleo")
    told = [(e.sender, e.task_id, e.summary) for e in await audit.trail(app.db, run.id) if e.kind == "event"]
    assert told[:7] == [
        ("ada", None, "run paused"),
        ("bob", "a", "priority set to 5"),
        ("key:ci", None, "budget raised by $2.00 to $3.00"),
        ("ada", None, "run resumed"),
        ("bob", "a", "cancelled; blocked b"),
        ("quarterdeck", None, "run failed"),
        ("ada", "a", "given fresh attempts"),
    ]
    assert ("cleo", None, "run cancelled (2 tasks stopped)") in told
