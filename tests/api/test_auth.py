"""Signing in and out, refresh rotation with reuse detection, cookies with CSRF, API keys, rate limits."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from quarterdeck.store import identity
from tests.api.conftest import PASSWORD, Api


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


async def test_login_refresh_logout_and_refresh_reuse_revokes_the_session(api: Api) -> None:
    await api.user("acme", "member", email="m@acme.io")
    login = await api.client.post("/api/v1/auth/login", json={"email": "M@acme.io ", "password": PASSWORD})
    assert login.status_code == 200
    first = login.json()
    assert first["token_type"] == "bearer"
    assert first["expires_in"] == 15 * 60
    assert first["user"]["email"] == "m@acme.io"
    assert first["user"]["org_id"] == "acme"
    cookies = {c.name: c for c in api.client.cookies.jar}
    assert set(cookies) == {"qd_access", "qd_refresh", "qd_csrf"}
    assert cookies["qd_refresh"].path == "/api/v1/auth"
    assert "httponly" in login.headers.get_list("set-cookie")[0].lower()
    api.client.cookies.clear()

    me = await api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert me.json()["role"] == "member"

    refreshed = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]

    # The first token was exchanged: presenting it again is a reuse, which ends the whole session.
    reused = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert "reused" in assert_error(reused, 401, "unauthorized")["message"]
    after_reuse = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert_error(after_reuse, 401, "unauthorized")

    # A fresh session, then logout revokes its refresh token.
    third = (await api.client.post("/api/v1/auth/login", json={"email": "m@acme.io", "password": PASSWORD})).json()
    api.client.cookies.clear()
    out = await api.client.post("/api/v1/auth/logout", json={"refresh_token": third["refresh_token"]})
    assert out.status_code == 204
    assert_error(
        await api.client.post("/api/v1/auth/refresh", json={"refresh_token": third["refresh_token"]}),
        401,
        "unauthorized",
    )


async def test_wrong_password_unknown_user_and_bad_tokens_are_401(api: Api) -> None:
    await api.user("acme", "member", email="m@acme.io")
    wrong = await api.client.post("/api/v1/auth/login", json={"email": "m@acme.io", "password": "nope nope nope"})
    unknown = await api.client.post("/api/v1/auth/login", json={"email": "x@acme.io", "password": PASSWORD})
    assert assert_error(wrong, 401, "unauthorized")["message"] == assert_error(unknown, 401, "unauthorized")["message"]
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert_error(await api.client.get("/api/v1/runs"), 401, "unauthorized")
    assert_error(await api.client.get("/api/v1/runs", headers={"Authorization": "Bearer x.y.z"}), 401, "unauthorized")
    assert_error(await api.client.get("/api/v1/runs", headers={"Authorization": "Basic abc"}), 401, "unauthorized")


async def test_cookie_session_needs_the_csrf_header_on_unsafe_requests(api: Api) -> None:
    await api.user("acme", "admin", email="a@acme.io")
    login = await api.client.post("/api/v1/auth/login", json={"email": "a@acme.io", "password": PASSWORD})
    assert login.status_code == 200
    csrf = api.client.cookies["qd_csrf"]
    assert (await api.client.get("/api/v1/runs")).status_code == 200  # reads need no CSRF header
    body = {"name": "p1", "repo_path": str(Path(tempfile.gettempdir()) / "p1")}
    assert_error(await api.client.post("/api/v1/projects", json=body), 403, "forbidden")
    assert_error(
        await api.client.post("/api/v1/projects", json=body, headers={"X-CSRF-Token": "forged"}), 403, "forbidden"
    )
    created = await api.client.post("/api/v1/projects", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    # the refresh cookie is exchanged with the CSRF header too
    assert_error(await api.client.post("/api/v1/auth/refresh"), 403, "forbidden")
    refreshed = await api.client.post("/api/v1/auth/refresh", headers={"X-CSRF-Token": csrf})
    assert refreshed.status_code == 200, refreshed.text


async def test_api_key_create_use_revoke(api: Api) -> None:
    admin = await api.user("acme", "admin")
    created = await api.client.post("/api/v1/api-keys", headers=admin, json={"name": "ci", "role": "viewer"})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    key_id = created.json()["id"]
    assert key.startswith("qdk_")
    assert created.json()["prefix"] in key
    bearer = {"Authorization": f"Bearer {key}"}

    me = (await api.client.get("/api/v1/me", headers=bearer)).json()
    assert me["api_key_id"] == key_id
    assert me["role"] == "viewer"
    assert me["org_id"] == "acme"
    listed = (await api.client.get("/api/v1/api-keys", headers=admin)).json()["items"]
    assert [k["id"] for k in listed] == [key_id]
    assert "key" not in listed[0]
    assert listed[0]["last_used_at"] is not None
    async with api.services.db.read() as conn:
        stored = await identity.read_api_key(conn, key_id, org_id="acme")
    assert key not in stored.key_hash
    assert stored.key_hash != key

    # the key's role binds it: a viewer key cannot start runs
    assert_error(await api.client.post("/api/v1/runs", headers=bearer, json={}), 403, "forbidden")
    tampered = key[:-2] + ("AA" if not key.endswith("AA") else "BB")
    assert_error(
        await api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {tampered}"}), 401, "unauthorized"
    )

    revoked = await api.client.delete(f"/api/v1/api-keys/{key_id}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert_error(await api.client.get("/api/v1/me", headers=bearer), 401, "unauthorized")


async def test_disabled_user_cannot_sign_in_and_the_last_admin_stays(api: Api) -> None:
    admin = await api.user("acme", "admin")
    me = (await api.client.get("/api/v1/me", headers=admin)).json()
    assert_error(await api.client.delete(f"/api/v1/users/{me['id']}", headers=admin), 400, "bad_request")
    created = await api.client.post(
        "/api/v1/users",
        headers=admin,
        json={"email": "v@acme.io", "name": "V", "role": "viewer", "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    duplicate = await api.client.post(
        "/api/v1/users", headers=admin, json={"email": "V@acme.io", "name": "V", "password": PASSWORD}
    )
    assert_error(duplicate, 409, "conflict")
    weak = await api.client.post(
        "/api/v1/users", headers=admin, json={"email": "w@acme.io", "name": "W", "password": "short"}
    )
    assert "at least" in assert_error(weak, 400, "bad_request")["message"]
    disabled = await api.client.delete(f"/api/v1/users/{created.json()['id']}", headers=admin)
    assert disabled.json()["disabled"] is True
    login = await api.client.post("/api/v1/auth/login", json={"email": "v@acme.io", "password": PASSWORD})
    assert_error(login, 401, "unauthorized")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_login_is_rate_limited_per_ip_and_email(api: Api) -> None:
    await api.user("acme", "member", email="m@acme.io")  # one login already counted
    statuses = []
    for _ in range(6):
        response = await api.client.post("/api/v1/auth/login", json={"email": "m@acme.io", "password": "wrong wrong"})
        statuses.append(response.status_code)
    assert statuses[:4] == [401] * 4
    assert statuses[4:] == [429, 429]
    limited = await api.client.post("/api/v1/auth/login", json={"email": "m@acme.io", "password": PASSWORD})
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # another e-mail from the same address is counted apart
    other = await api.client.post("/api/v1/auth/login", json={"email": "o@acme.io", "password": "wrong wrong"})
    assert other.status_code == 401
