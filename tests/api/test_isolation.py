"""Tenant isolation: every route, called by every identity of another organisation about our objects, finds nothing.

The operations are listed from ``/openapi.json`` (and the routes the schema leaves out from
``app.routes``), so a new route is walked without anyone remembering to. The identities: the other
organisation's admin, member and viewer (bearer JWT), an admin API key, an admin's cookie session, and
an admin demoted to viewer (their key).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from quarterdeck.store import identity, memories
from quarterdeck.store import secrets as secret_store
from tests.api.conftest import PASSWORD, Api, LiveServer
from tests.api.tenants import (
    BODIES,
    http_routes,
    path_params,
    populate,
    query_names,
    route_path,
    schema_operations,
    websocket_routes,
)

#: routes without organisation data: the process's health, the docs, the dashboard's static shells
PUBLIC = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
}
#: an object's id in the path or a run in the query names something of another organisation: always 404
NAMING = {"run_id", "task_id", "project_id", "key_id", "user_id", "approval_id", "memory_id"}


async def _identities(api: Api) -> dict[str, dict[str, str]]:
    """The other organisation's callers, as request headers (a cookie session as its cookie and CSRF header)."""
    admin = await api.user("rival", "admin", email="admin@rival.io")
    await api.user("rival", "admin", email="second@rival.io")
    key = await api.client.post("/api/v1/api-keys", headers=admin, json={"name": "rival", "scope": "admin"})
    demoted = await api.user("rival", "admin", email="demoted@rival.io")
    demoted_key = await api.client.post("/api/v1/api-keys", headers=demoted, json={"name": "d", "scope": "admin"})
    demoted_id = (await api.client.get("/api/v1/me", headers=demoted)).json()["id"]
    change = await api.client.patch(f"/api/v1/users/{demoted_id}", headers=admin, json={"role": "viewer"})
    assert change.status_code == 200, change.text
    login = await api.client.post("/api/v1/auth/login", json={"email": "second@rival.io", "password": PASSWORD})
    cookies = dict(api.client.cookies)
    api.client.cookies.clear()
    return {
        "admin": admin,
        "member": await api.user("rival", "member"),
        "viewer": await api.user("rival", "viewer"),
        "api key": {"Authorization": f"Bearer {key.json()['key']}"},
        "cookie": {
            "Cookie": f"qd_access={cookies['qd_access']}; qd_csrf={cookies['qd_csrf']}",
            "X-CSRF-Token": cookies["qd_csrf"],
        }
        if login.status_code == 200
        else {},
        "demoted admin's key": {"Authorization": f"Bearer {demoted_key.json()['key']}"},
    }


async def _operations(api: Api) -> list[tuple[str, str, set[str], bool]]:
    """(method, template, query names, in the schema) of every operation of ``/openapi.json``, then of the
    app's routes the schema leaves out (the dashboard's pages, the docs)."""
    listed = [(m, t, q, True) for m, t, q in await schema_operations(api)]
    known = {(m, t) for m, t, _, _ in listed}
    return listed + [(m, t, query_names(r), False) for m, t, r in http_routes(api.app) if (m, t) not in known]


async def test_every_route_as_another_organisation_finds_nothing(live: LiveServer, repo: Path) -> None:
    api = live.api
    ours = await populate(api, "acme", repo)
    identities = await _identities(api)
    assert all(identities.values())
    operations = await _operations(api)
    in_schema = {(m, t) for m, t, _, listed in operations if listed}
    app_api = {(m, t) for m, t, _ in http_routes(api.app) if t.startswith("/api/")}
    assert app_api <= in_schema, f"API routes missing from /openapi.json: {sorted(app_api - in_schema)}"
    walked = 0
    for (who, theirs), (method, template, query_params, _) in itertools.product(identities.items(), operations):
        params = path_params(template)
        unknown = [p for p in params if p not in ours.ids]
        assert not unknown, f"{method} {template}: teach tests/api/tenants.py about {unknown}"
        url = template.format(**{p: ours.ids[p] for p in params})
        query = {"run_id": ours.ids["run_id"]} if "run_id" in query_params else {}
        body = BODIES.get((method, template), {} if method in ("POST", "PUT", "PATCH") else None)
        response = await api.client.request(method, url, params=query, json=body, headers=theirs)
        walked += 1
        where = f"{method} {template} as the rival's {who} → {response.status_code}"
        assert response.status_code < 500, f"{where}: {response.text[:300]}"
        asked = url + repr(query)  # an error may echo what was asked for; that is no leak
        for marker in ours.markers:
            if marker not in asked:
                assert marker not in response.text, f"{where} leaks {marker!r}"
        names_ours = (set(params) | set(query)) & NAMING
        # a role too low for the operation is refused before anything is looked up: that tells nothing either
        refused = (403,) if who not in ("admin", "api key", "cookie") else ()
        if not template.startswith("/api/"):
            # the dashboard's page shells hold no data (their scripts call the API); the rest is public
            assert template in PUBLIC or (method, template) not in in_schema, f"{where}: not an API route, not public"
        elif names_ours:
            assert response.status_code in (404, *refused), f"{where}: {response.text[:300]}"
            assert response.json()["error"]["code"] in ("not_found", "forbidden")
        elif method == "PUT" and template == "/api/v1/secrets/{name}":
            # a secret is named within its organisation: this creates the rival's own, beside ours
            assert response.status_code in (200, *refused), where
            assert "another" not in response.text
        else:
            # (409: a name the rival's own organisation already used by another of its identities; 429: logins)
            assert response.status_code in (200, 201, 204, 400, 401, 404, 409, 422, 429, *refused), where
    assert walked >= 40 * len(identities)

    sockets = websocket_routes(api.app)
    assert sockets
    for route in sockets:
        token = identities["admin"]["Authorization"].removeprefix("Bearer ")
        url = f"{live.ws_url}{route_path(route)}?run_id={ours.ids['run_id']}&access_token={token}"
        async with websockets.connect(url) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                await socket.recv()  # any message at all would be another organisation's event
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4404

    # ... and nothing of ours changed
    run = await api.client.get(f"/api/v1/runs/{ours.ids['run_id']}", headers=await api.user("acme", "viewer"))
    assert run.status_code == 200
    assert run.json()["budget_usd"] is None
    async with api.services.db.read() as conn:
        key = await identity.read_api_key(conn, ours.ids["key_id"], org_id="acme")
        user = await identity.read_user(conn, ours.ids["user_id"], org_id="acme")
        secret = await secret_store.read_secret(conn, org_id="acme", name=ours.ids["name"])
        lesson = await memories.read_memory(conn, ours.ids["memory_id"], org_id="acme")  # not forgotten
    assert key.revoked_at is None
    assert user.disabled_at is None
    assert secret.masked == "sk-…WXYZ"
    assert lesson.title == "acme-lesson"
