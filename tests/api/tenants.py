"""Walking every route of the app: one organisation's objects, and the requests that name them."""

from __future__ import annotations

import re
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute

from quarterdeck.crews import gates
from quarterdeck.store import memories
from quarterdeck.store.types import utcnow
from tests.api.conftest import Api, shell_task

#: a secret value whose masked form (``…WXYZ``) is recognisable in any response
SECRET_VALUE = "sk-planted-secret-value-WXYZ"

#: bodies that pass validation, so that a route's own checks (role, organisation) decide the answer
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/auth/login"): {"email": "nobody@example.com", "password": "x" * 12},
    ("POST", "/api/v1/runs/{run_id}/budget"): {"add_usd": 1.0},
    ("POST", "/api/v1/runs/{run_id}/tasks/{task_id}/prioritize"): {"priority": 5},
    ("PUT", "/api/v1/secrets/{name}"): {"value": "another-value-1234", "kind": "other"},
    ("POST", "/api/v1/projects"): {"name": "theirs", "repo_path": str(Path(tempfile.gettempdir()) / "theirs")},
    ("POST", "/api/v1/api-keys"): {"name": "theirs", "role": "viewer"},
    ("POST", "/api/v1/users"): {"email": "new@example.com", "name": "New", "password": "x" * 12},
    ("POST", "/api/v1/subscriptions"): {"scope": "user", "channel": "email", "target": "someone@example.com"},
    ("POST", "/api/v1/runs/{run_id}/tasks/{task_id}/say"): {"message": "one more thing"},
    ("PATCH", "/api/v1/runs/{run_id}/tasks/{task_id}"): {"prompt": "another prompt"},
    ("PUT", "/api/v1/approvals/{approval_id}/plan"): {
        "plan": "name: edited\ntasks:\n  - id: t\n    title: T\n    runtime: shell\n    options: {script: 'true'}\n"
    },
}


@dataclass
class Tenant:
    """Objects of one organisation, one of each kind a route can name."""

    org: str
    ids: dict[str, str]
    #: strings that only this organisation's data contains
    markers: list[str] = field(default_factory=list)


async def populate(api: Api, org: str, repo: Path) -> Tenant:
    admin = await api.user(org, "admin", email=f"admin@{org}.io")
    run = await api.start_run(admin, repo, shell_task("alpha", "true"))
    project = (
        await api.client.post("/api/v1/projects", headers=admin, json={"name": f"{org}-proj", "repo_path": str(repo)})
    ).json()
    key = (await api.client.post("/api/v1/api-keys", headers=admin, json={"name": f"{org}-ci"})).json()
    user = (
        await api.client.post(
            "/api/v1/users",
            headers=admin,
            json={"email": f"viewer@{org}.io", "name": f"{org} viewer", "role": "viewer", "password": "x" * 12},
        )
    ).json()
    secret = await api.client.put(f"/api/v1/secrets/{org}-SECRET", headers=admin, json={"value": SECRET_VALUE})
    assert secret.status_code == 200, secret.text
    subscription = await api.client.post(
        "/api/v1/subscriptions",
        headers=admin,
        json={"scope": "org", "channel": "email", "target": f"alerts@{org}.io"},
    )
    assert subscription.status_code == 201, subscription.text
    async with api.services.db.transaction() as conn:
        approval = await gates.request(
            conn, org_id=org, kind="budget", payload={"add_usd": 1}, requested_by="manager", run_id=run["id"]
        )
        lesson = await memories.create_memory(conn, _lesson(org, str(repo), run["id"]), now=utcnow())
    ids = {
        "run_id": run["id"],
        "task_id": "alpha",
        "project_id": project["id"],
        "key_id": key["id"],
        "user_id": user["id"],
        "approval_id": approval.id,
        "name": f"{org}-SECRET",
        "subscription_id": subscription.json()["id"],
        "memory_id": lesson.id,
        "forge": "github",  # a webhook's sender proves itself by its signature, never by a user's credentials
    }
    markers = [run["id"], project["id"], key["id"], user["id"], approval.id, f"admin@{org}.io", "…WXYZ", str(repo)]
    markers += [subscription.json()["id"], f"alerts@{org}.io", lesson.id, f"{org}-lesson"]
    return Tenant(org=org, ids=ids, markers=markers)


def _lesson(org: str, repo: str, run_id: str) -> memories.NewMemory:
    """A lesson of the organisation's (its vector made up: routes that search embed their query for real)."""
    vector = struct.pack("<384f", *([1.0] + [0.0] * 383))
    text = f"{org}-lesson: the check failed until redis was started"
    return memories.NewMemory(org, repo, run_id, "alpha", f"{org}-lesson", "succeeded", text, (), "test", vector)


def all_routes(app: FastAPI) -> list[Any]:
    """Every route of the app, included routers flattened (FastAPI ≥ 0.150 nests them as ``_IncludedRouter``)."""
    out: list[Any] = []
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        out += list(contexts()) if contexts is not None else [route]
    return out


def http_routes(app: FastAPI) -> list[tuple[str, str, Any]]:
    """(method, path template, route) of every HTTP route with a dependant (the app's own), HEAD left out."""
    out = []
    for route in all_routes(app):
        original = getattr(route, "original_route", route)
        if isinstance(original, APIRoute):
            out += [(method, route.path, route) for method in sorted(route.methods - {"HEAD"})]
    return out


def route_path(route: Any) -> str:
    path: str = getattr(route, "path", "") or route.original_route.path
    return path


def websocket_routes(app: FastAPI) -> list[Any]:
    return [r for r in all_routes(app) if isinstance(getattr(r, "original_route", r), APIWebSocketRoute)]


def path_params(template: str) -> list[str]:
    return re.findall(r"{(\w+)}", template)


def query_names(route: Any) -> set[str]:
    return {param.name for param in route.dependant.query_params}


async def schema_operations(api: Api) -> list[tuple[str, str, set[str]]]:
    """(method, path template, query parameter names) of every operation ``/openapi.json`` publishes.

    Walks list the routes from the published schema, so a new route is walked without anyone adding it.
    """
    schema = (await api.client.get("/openapi.json")).json()
    out = []
    for template, item in sorted(schema["paths"].items()):
        for method, operation in sorted(item.items()):
            if method in ("parameters", "head", "options"):
                continue
            query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            out.append((method.upper(), template, query))
    return out


def request_for(tenant: Tenant, method: str, template: str) -> tuple[str, Any]:
    """The URL (naming ``tenant``'s objects) and a valid body for an operation."""
    params = path_params(template)
    unknown = [p for p in params if p not in tenant.ids]
    assert not unknown, f"{method} {template}: teach tests/api/tenants.py about {unknown}"
    url = template.format(**{p: tenant.ids[p] for p in params})
    return url, BODIES.get((method, template), {} if method in ("POST", "PUT", "PATCH") else None)
