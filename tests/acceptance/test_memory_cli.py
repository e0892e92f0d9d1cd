"""``quarterdeck memory``: search, list and forget lessons from the command line (through the application layer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from quarterdeck.memory import embedder
from quarterdeck.store import memories
from quarterdeck.store.database import Database
from quarterdeck.store.types import utcnow
from tests.support.memory_pairs import PAIRS

ROOT = Path(__file__).resolve().parents[2]
REPO = "https://git.example.com/app.git"  # a repository named by URL is filed under that URL as given


async def test_search_list_and_forget(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'qd.db'}"
    db = Database(url)
    await db.upgrade()
    model = embedder.load()
    async with db.transaction() as conn:
        for i, (lesson, _) in enumerate(PAIRS[:4]):
            new = memories.NewMemory(
                "default", REPO, "r1", f"t{i}", f"lesson {i}", "succeeded", lesson, (), model.name,
                model.embed(lesson).tobytes(),
            )  # fmt: skip
            await memories.create_memory(conn, new, now=utcnow())
    await db.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    env |= {"QUARTERDECK_DATABASE_URL": url, "QUARTERDECK_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "160"}

    def qd(*args: str, code: int = 0) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "quarterdeck", "memory", *args], capture_output=True, text=True, env=env, cwd=ROOT,
            timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == code, done.stderr
        return done.stdout + done.stderr

    hits = json.loads(qd("search", PAIRS[2][1], "--repo", REPO, "-k", "2", "--json"))
    assert hits[0]["task"] == "t2"
    assert len(hits) == 2
    assert "name a memory" in qd("forget", code=2)
    assert "Forgot 1 lesson." in qd("forget", hits[0]["id"])
    assert [m["task"] for m in json.loads(qd("list", "--json"))] == ["t3", "t1", "t0"]
    assert "Forgot 3 lessons." in qd("forget", "--repo", REPO)
