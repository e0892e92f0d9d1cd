"""/api/v1/memory: the caller's organisation's lessons, searched with the real model, listed, read, forgotten."""

from __future__ import annotations

from pathlib import Path

from quarterdeck.memory import embedder
from quarterdeck.store import memories, orgs
from quarterdeck.store.types import utcnow
from tests.api.conftest import Api, shell_task
from tests.api.test_auth import assert_error
from tests.support.memory_pairs import PAIRS


async def _seed(api: Api, org: str, run_id: str, repo: str, picks: range) -> list[str]:
    model = embedder.load()
    made = []
    async with api.services.db.transaction() as conn:
        await orgs.ensure_org(conn, org)
        for i in picks:
            lesson = PAIRS[i][0]
            new = memories.NewMemory(
                org, repo, run_id, f"t{i}", f"{org} {i}", "succeeded", lesson, ("ci.sh",), model.name,
                model.embed(lesson).tobytes(),
            )  # fmt: skip
            made.append((await memories.create_memory(conn, new, now=utcnow())).id)
    return made


async def test_search_list_read_and_forget_over_http(api: Api, repo: Path) -> None:
    member = await api.user("acme", "member")
    viewer = await api.user("acme", "viewer")
    run = await api.start_run(member, repo, shell_task("alpha", "true"))
    ours = await _seed(api, "acme", run["id"], str(repo), range(3))
    await _seed(api, "other", "r-other", str(repo), range(3))

    hits = await api.client.get("/api/v1/memory/search", params={"q": PAIRS[1][1], "k": 2}, headers=viewer)
    assert hits.status_code == 200, hits.text
    assert hits.json()[0]["memory"]["id"] == ours[1]
    assert all(h["memory"]["title"].startswith("acme") for h in hits.json())

    listed = (await api.client.get("/api/v1/memory", params={"repo": str(repo)}, headers=viewer)).json()
    assert [m["id"] for m in listed] == ours[::-1]
    by_run = (await api.client.get("/api/v1/memory", params={"run_id": run["id"]}, headers=viewer)).json()
    assert len(by_run) == 3
    one = (await api.client.get(f"/api/v1/memory/{ours[0]}", headers=viewer)).json()
    assert one["files"] == ["ci.sh"]

    assert (await api.client.delete(f"/api/v1/memory/{ours[0]}", headers=viewer)).status_code == 403
    gone = await api.client.delete(f"/api/v1/memory/{ours[0]}", headers=member)
    assert gone.json() == {"forgotten": 1}
    assert_error(await api.client.get(f"/api/v1/memory/{ours[0]}", headers=viewer), 404, "not_found")
    assert_error(await api.client.delete("/api/v1/memory", headers=member), 400, "bad_request")
    rest = await api.client.delete("/api/v1/memory", params={"repo": str(repo)}, headers=member)
    assert rest.json() == {"forgotten": 2}  # ours only: the other organisation's three stay
    async with api.services.db.read() as conn:
        assert await memories.count_memories(conn, org_id="other") == 3

    given = await api.client.get(f"/api/v1/runs/{run['id']}/tasks/alpha/memories", headers=viewer)
    assert given.json() == []  # memory is off for that run: it was given nothing
