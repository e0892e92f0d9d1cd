"""``quarterdeck costs``: rollups per model, day, task and run from the cost rows, as a table and as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from quarterdeck.store import costs as cost_store
from quarterdeck.store import orgs
from quarterdeck.store.database import Database
from quarterdeck.store.tables import cost_entries, runs

ROOT = Path(__file__).resolve().parents[2]


async def _seed(db: Database) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    async with db.transaction() as conn:
        for run_id in ("r1", "r2"):
            await conn.execute(
                sa.insert(runs).values(
                    id=run_id, name=run_id, status="succeeded", repo_path="/r", base_ref="main",
                    integration_branch="i", plan_path="p", created_at=now, updated_at=now,
                )
            )  # fmt: skip
        rows = [
            ("r1", "a", "claude-haiku-4-5", 0.25, "price-table", now),
            ("r1", "b", "claude-haiku-4-5", 0.50, "price-table", now.replace(day=2)),
            ("r1", "b", "my-local-llama", 0.0, "unpriced", now.replace(day=2)),
            ("r2", "a", "gpt-4o", 1.0, "price-table", now),
        ]
        for run_id, task_id, model, cost, source, at in rows:
            await conn.execute(
                sa.insert(cost_entries).values(
                    run_id=run_id, task_id=task_id, provider="api-agent", model=model, input_tokens=1000,
                    output_tokens=100, cost_usd=cost, source=source, created_at=at,
                )
            )  # fmt: skip


async def test_rollups_by_model_day_task_and_run(db: Database, database_url: str, tmp_path: Path) -> None:
    await _seed(db)
    async with db.read() as conn:
        by_model = await cost_store.read_cost_rollups(conn, by="model")
        by_day = await cost_store.read_cost_rollups(conn, by="day", run_id="r1")
        by_task = await cost_store.read_cost_rollups(conn, by="task", run_id="r1")
    assert [(r.key, r.entries, r.cost_usd, r.unpriced) for r in by_model] == [
        ("gpt-4o", 1, 1.0, 0),
        ("claude-haiku-4-5", 2, 0.75, 0),
        ("my-local-llama", 1, 0.0, 1),
    ]
    assert [(r.key, r.cost_usd) for r in by_day] == [("2026-03-02", 0.5), ("2026-03-01", 0.25)]
    assert [(r.key, r.input_tokens) for r in by_task] == [("b", 2000), ("a", 1000)]

    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    env |= {
        "QUARTERDECK_DATABASE_URL": database_url,
        "QUARTERDECK_STATE_DIR": str(tmp_path / "state"),
        "COLUMNS": "160",
    }

    def qd(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "quarterdeck", "costs", *args], capture_output=True, text=True, env=env, cwd=ROOT,
            timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert [r["key"] for r in json.loads(qd("--by", "run", "--json"))] == ["r2", "r1"]
    table = qd("--run", "r1", "--by", "task")
    assert "costs by task in run r1" in table
    assert "$0.7500" in table
    # A model missing from the price table has an unknown cost: shown as unpriced, never as $0.
    model_table = qd("--by", "model")
    (llama,) = [line for line in model_table.splitlines() if "my-local-llama" in line]
    assert "unpriced" in llama
    assert "$0.0000" not in llama
    assert "$1.7500 + 1 unpriced" in model_table


async def test_rollups_of_one_organisation_leave_the_others_out(db: Database) -> None:
    await _seed(db)
    async with db.transaction() as conn:
        await orgs.ensure_org(conn, "other")
        await conn.execute(sa.update(runs).where(runs.c.id == "r2").values(org_id="other"))
    async with db.read() as conn:
        ours = await cost_store.read_cost_rollups(conn, by="run", org_id="default")
        theirs = await cost_store.read_cost_rollups(conn, by="model", org_id="other")
        everyone = await cost_store.read_cost_rollups(conn, by="run")
    assert [(r.key, r.cost_usd) for r in ours] == [("r1", 0.75)]
    assert [(r.key, r.cost_usd) for r in theirs] == [("gpt-4o", 1.0)]
    assert [r.key for r in everyone] == ["r2", "r1"]
