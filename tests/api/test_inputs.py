"""One input policy on both databases: NUL and other control characters are 422 naming the field, never a 500.

PostgreSQL refused a NUL byte with 500 ``internal_error`` where SQLite stored it; every request
below now gets the same 422 on both (the ``api`` fixture runs each test on both databases).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.api.conftest import Api, plan_object, shell_task


async def _project(api: Api, admin: dict[str, str], repo: Path) -> str:
    created = await api.client.post("/api/v1/projects", headers=admin, json={"name": "p", "repo_path": str(repo)})
    assert created.status_code == 201, created.text
    project_id: str = created.json()["id"]
    return project_id


def _names(response: Any, *loc: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert any(d["loc"][: len(loc)] == list(loc) for d in error["details"]), error
    assert "control character" in str(error)


@pytest.mark.parametrize("bad", ["a\x00b", "a\x1bb", "a\x7fb"])
async def test_control_characters_in_any_field_are_422_naming_it_on_both_databases(
    api: Api, repo: Path, bad: str
) -> None:
    admin = await api.user("acme", "admin")
    project = await _project(api, admin, repo)
    post, patch = api.client.post, api.client.patch
    _names(
        await post("/api/v1/projects", headers=admin, json={"name": "q", "repo_path": f"{repo}{bad}"}),
        "body",
        "repo_path",
    )
    _names(
        await post(
            "/api/v1/projects", headers=admin, json={"name": "q", "repo_path": str(repo), "settings": {"k": bad}}
        ),
        "body",
        "settings",
    )
    _names(await patch(f"/api/v1/projects/{project}", headers=admin, json={"name": bad}), "body", "name")
    user = {"email": "n@acme.io", "name": bad, "password": "x" * 12}
    _names(await post("/api/v1/users", headers=admin, json=user), "body", "name")
    _names(await post("/api/v1/api-keys", headers=admin, json={"name": bad}), "body", "name")
    plan = plan_object(shell_task("a", "true"), name=bad)
    _names(await post("/api/v1/runs", headers=admin, json={"plan": plan, "repo": str(repo)}), "body", "plan")
    _names(await api.client.get("/api/v1/runs", params={"q": bad}, headers=admin), "query", "q")
    _names(await api.client.get(f"/api/v1/runs/r{quote(bad)}", headers=admin), "path")
    _names(await post("/api/v1/auth/login", json={"email": f"x{bad}@acme.io", "password": "x" * 12}), "body", "email")
    # nothing was written
    projects = (await api.client.get("/api/v1/projects", headers=admin)).json()["items"]
    assert [p["id"] for p in projects] == [project]


async def test_line_breaks_are_free_text_only(api: Api, repo: Path) -> None:
    admin = await api.user("acme", "admin")
    _names(await api.client.post("/api/v1/api-keys", headers=admin, json={"name": "two\nlines"}), "body", "name")
    task = shell_task("a", "true\necho multi-line\n")
    task["prompt"] = "a prompt\n\twith lines\r\n"
    run = await api.client.post(
        "/api/v1/runs", headers=admin, json={"plan": plan_object(task), "repo": str(repo), "goal": "line one\nline two"}
    )
    assert run.status_code == 201, run.text
