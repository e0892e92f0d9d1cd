"""A seeded history of ended tasks (two organisations), whose analytics tests/integration/test_analytics.py
computes by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from quarterdeck.app import Quarterdeck
from quarterdeck.domain.plans import Plan, TaskSpec
from quarterdeck.store import orgs as org_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.tables import cost_entries, events, tasks, verdicts

__all__ = ["D1", "D2", "seed_history"]

D1 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
D2 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _at(start: datetime, *steps: tuple[str, float]) -> list[tuple[str, datetime]]:
    """Events at ``start`` + each offset in seconds."""
    return [(kind, start + timedelta(seconds=s)) for kind, s in steps]


async def _seed_run(
    app: Quarterdeck, org: str, run_id: str, specs: list[TaskSpec], rows: dict[str, dict[str, Any]]
) -> None:
    async with app.db.transaction() as conn:
        await org_store.ensure_org(conn, org)
        await run_store.create_run(
            conn, run_id=run_id, plan=Plan(name=run_id, tasks=tuple(specs)), repo_path="/nowhere", base_ref="0" * 40,
            integration_branch=f"quarterdeck/{run_id}", org_id=org,
        )  # fmt: skip
        for task_id, row in rows.items():
            values = {
                k: v for k, v in row.items() if k in ("status", "attempts", "failures", "revisions", "finished_at")
            }
            await conn.execute(tasks.update().where(tasks.c.run_id == run_id, tasks.c.id == task_id).values(**values))
            for model, cost, tokens_in, tokens_out in row.get("costs", []):
                await conn.execute(cost_entries.insert().values(
                    run_id=run_id, task_id=task_id, attempt_id="a", provider="anthropic", model=model, cost_usd=cost,
                    input_tokens=tokens_in, output_tokens=tokens_out, source="price-table", created_at=D1,
                ))  # fmt: skip
            for kind, at in row.get("events", []):
                await conn.execute(
                    events.insert().values(run_id=run_id, task_id=task_id, type=kind, payload={}, created_at=at)
                )
            for number, (verdict, statuses) in enumerate(row.get("verdicts", [])):
                criteria = [
                    {"criterion": str(i), "status": s, "evidence": "", "by": "judge"} for i, s in enumerate(statuses)
                ]
                await conn.execute(verdicts.insert().values(
                    run_id=run_id, task_id=task_id, attempt_id=f"{task_id}-a", revision=number, verdict=verdict,
                    criteria=criteria, summary="", reviewer="reviewer", created_at=D1,
                ))  # fmt: skip


async def seed_history(app: Quarterdeck) -> Quarterdeck:
    """Organisation ``acme``: run ``runa`` (t1-t3 ended in 2026-11-30..12-03, t4 blocked, t5 later);
    organisation ``other``: run ``runb`` (x1)."""
    specs = [
        TaskSpec(id="t1", title="t1", runtime="claude-code", role="backend"),
        TaskSpec(id="t2", title="t2", runtime="claude-code", role="backend"),
        TaskSpec(id="t3", title="t3", runtime="codex", role="docs"),
        TaskSpec(id="t4", title="t4", runtime="codex", role="docs"),  # blocked: never ran
        TaskSpec(id="t5", title="t5", runtime="codex", role="docs"),  # ended after the window
    ]
    await _seed_run(app, "acme", "runa", specs, {
        "t1": {
            "status": "succeeded", "attempts": 1, "failures": 0, "revisions": 1, "finished_at": D1 + timedelta(hours=1),
            "costs": [("claude-sonnet-4-5", 0.30, 1000, 200), ("claude-haiku-4-5", 0.05, 500, 100)],
            "events": _at(D1, ("task.ready", 0), ("task.claimed", 10), ("workspace.ready", 12),
                          ("agent.message", 40), ("agent.result", 72), ("verify.result", 82),
                          ("revision.requested", 83), ("agent.result", 113), ("verify.result", 123),
                          ("review.verdict", 133), ("merge.done", 138), ("task.succeeded", 139)),
            "verdicts": [("revise", ["met", "not_met"]), ("accept", ["met", "met"])],
        },
        "t2": {
            "status": "failed", "attempts": 2, "failures": 2, "revisions": 0, "finished_at": D1 + timedelta(hours=2),
            "costs": [("claude-sonnet-4-5", 0.10, 400, 50)],
            "events": _at(D1 + timedelta(hours=1), ("task.ready", 0), ("task.claimed", 5), ("agent.result", 25),
                          ("task.failed", 26), ("task.ready", 30), ("task.claimed", 40), ("agent.result", 60),
                          ("task.failed", 61)),
        },
        "t3": {
            "status": "succeeded", "attempts": 2, "failures": 1, "revisions": 0, "finished_at": D2,
            "events": _at(D2, ("task.claimed", 0), ("merge.done", 30), ("task.succeeded", 31)),
        },
        "t4": {"status": "blocked", "attempts": 0, "finished_at": D2},
        "t5": {"status": "succeeded", "attempts": 1, "finished_at": datetime(2026, 12, 5, tzinfo=UTC)},
    })  # fmt: skip
    other = [TaskSpec(id="x1", title="x1", runtime="claude-code", role="backend")]
    await _seed_run(app, "other", "runb", other, {"x1": {"status": "succeeded", "attempts": 1, "finished_at": D1}})
    return app
