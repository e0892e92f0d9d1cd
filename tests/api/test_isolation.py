"""Tenant isolation: every route, called by another organisation's admin about our objects, finds nothing.

The routes are enumerated from ``app.routes``, so a new route is walked without anyone remembering to.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from quarterdeck.store import identity
from quarterdeck.store import secrets as secret_store
from tests.api.conftest import LiveServer
from tests.api.tenants import (
    BODIES,
    http_routes,
    path_params,
    populate,
    query_names,
    route_path,
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
NAMING = {"run_id", "task_id", "project_id", "key_id", "user_id", "approval_id"}


async def test_every_route_as_another_organisation_finds_nothing(live: LiveServer, repo: Path) -> None:
    api = live.api
    ours = await populate(api, "acme", repo)
    theirs = await api.user("rival", "admin")
    walked = 0
    for method, template, route in http_routes(api.app):
        params = path_params(template)
        unknown = [p for p in params if p not in ours.ids]
        assert not unknown, f"{method} {template}: teach tests/api/tenants.py about {unknown}"
        url = template.format(**{p: ours.ids[p] for p in params})
        query = {"run_id": ours.ids["run_id"]} if "run_id" in query_names(route) else {}
        body = BODIES.get((method, template), {} if method in ("POST", "PUT", "PATCH") else None)
        response = await api.client.request(method, url, params=query, json=body, headers=theirs)
        walked += 1
        where = f"{method} {template} → {response.status_code}"
        assert response.status_code < 500, f"{where}: {response.text[:300]}"
        asked = url + repr(query)  # an error may echo what was asked for; that is no leak
        for marker in ours.markers:
            if marker not in asked:
                assert marker not in response.text, f"{where} leaks {marker!r}"
        names_ours = (set(params) | set(query)) & NAMING
        if not template.startswith("/api/"):
            # the dashboard's page shells hold no data (their scripts call the API); the rest is public
            assert template in PUBLIC or route.include_in_schema is False, f"{where}: not an API route, not public"
        elif names_ours:
            assert response.status_code == 404, f"{where}: {response.text[:300]}"
            assert response.json()["error"]["code"] == "not_found"
        elif method == "PUT" and template == "/api/v1/secrets/{name}":
            # a secret is named within its organisation: this creates the rival's own, beside ours
            assert response.status_code == 200
            assert "another" not in response.text
        else:
            assert response.status_code in (200, 201, 204, 400, 401, 404, 422), where
    assert walked >= 40

    sockets = websocket_routes(api.app)
    assert sockets
    for route in sockets:
        token = theirs["Authorization"].removeprefix("Bearer ")
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
    assert key.revoked_at is None
    assert user.disabled_at is None
    assert secret.masked == "sk-…WXYZ"
