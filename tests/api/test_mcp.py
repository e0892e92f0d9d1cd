"""``/mcp`` under the API over streamable HTTP, driven by the official ``mcp`` client: the API's authentication
(an API key as bearer), a viewer's key that reads but may not steer, another organisation that sees nothing."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.conftest import Api, serving
from tests.support.mcp_session import data, drive, error, http_session, plan_file


async def test_the_mcp_endpoint_under_the_api_takes_an_api_key(api: Api, tmp_path: Path, repo: Path) -> None:
    admin = await api.user("acme", "admin")
    member_key = (await api.client.post("/api/v1/api-keys", headers=admin, json={"name": "agent"})).json()["key"]
    viewer_key = (
        await api.client.post("/api/v1/api-keys", headers=admin, json={"name": "reader", "role": "viewer"})
    ).json()["key"]
    plan_path = plan_file(tmp_path)
    async with serving(api.app) as base_url:
        async with httpx.AsyncClient() as plain:
            refused = await plain.post(f"{base_url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthorized"
            wrong = await plain.post(
                f"{base_url}/mcp",
                headers={"Authorization": "Bearer qdk_nonsense_key"},
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            )
            assert wrong.status_code == 401
        async with http_session(f"{base_url}/mcp", member_key) as session:
            run_id = await drive(session, plan_path, repo)
        # a viewer's key reads, and may not steer
        async with http_session(f"{base_url}/mcp", viewer_key) as session:
            await session.initialize()
            seen = data(await session.call_tool("get_run", {"run_id": run_id}))
            assert seen["status"] == "succeeded"
            refused_steer = await session.call_tool("retry_task", {"run_id": run_id, "task_id": "greet"})
            assert "viewer" in error(refused_steer)
            refused_say = await session.call_tool("say", {"run_id": run_id, "task_id": "greet", "message": "hi"})
            assert "viewer" in error(refused_say)
    # another organisation's key sees no such run
    other = await api.user("globex", "admin")
    other_key = (await api.client.post("/api/v1/api-keys", headers=other, json={"name": "x"})).json()["key"]
    async with serving(api.app) as base_url, http_session(f"{base_url}/mcp", other_key) as session:
        await session.initialize()
        assert run_id in error(await session.call_tool("get_run", {"run_id": run_id}))
