"""Roles: a viewer may read everything of the organisation and change nothing; every mutating route says 403.

The operations are listed from ``/openapi.json``: a new one is walked without anyone adding it.
"""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import Api
from tests.api.tenants import BODIES, path_params, populate, schema_operations

#: mutating routes that anyone may call: they sign in and out
UNGATED = {"/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout"}
#: mutating routes whose caller proves itself by a signature, not a role: a user's call without one changes nothing
SIGNED = {"/api/v1/hooks/{forge}/{project_id}"}
#: what a member may not do either
ADMIN_ONLY_PREFIXES = ("/api/v1/projects", "/api/v1/api-keys", "/api/v1/secrets", "/api/v1/users")


async def test_every_mutating_route_refuses_a_viewer(api: Api, repo: Path) -> None:
    ours = await populate(api, "acme", repo)
    viewer = await api.user("acme", "viewer")
    member = await api.user("acme", "member")
    checked = []
    for method, template, _ in await schema_operations(api):
        if method == "GET" or not template.startswith("/api/") or template in UNGATED:
            continue
        url = template.format(**{p: ours.ids[p] for p in path_params(template)})
        body = BODIES.get((method, template), {} if method in ("POST", "PUT", "PATCH") else None)
        response = await api.client.request(method, url, json=body, headers=viewer)
        if template in SIGNED:
            assert response.status_code in (401, 403, 404), f"{method} {template} unsigned → {response.status_code}"
            continue
        assert response.status_code == 403, f"{method} {template} as viewer → {response.status_code}"
        assert response.json()["error"]["code"] == "forbidden"
        if template.startswith(ADMIN_ONLY_PREFIXES):
            as_member = await api.client.request(method, url, json=body, headers=member)
            assert as_member.status_code == 403, f"{method} {template} as member → {as_member.status_code}"
        checked.append(f"{method} {template}")
    assert len(checked) >= 20, checked
    # and the viewer still reads
    assert (await api.client.get(f"/api/v1/runs/{ours.ids['run_id']}", headers=viewer)).status_code == 200
