"""The edge: body size limit, security headers, CORS closed by default, HSTS over https only, metrics, 500s."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from quarterdeck.api.settings import ApiSettings
from quarterdeck.settings import Settings
from tests.api.conftest import SECRET_KEY, Api, running_app
from tests.api.test_auth import assert_error


async def test_bodies_over_the_limit_get_413(settings: Settings) -> None:
    small = ApiSettings(secret_key=SECRET_KEY, max_body_bytes=1024)
    async with running_app(settings, small) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            declared = await client.post("/api/v1/auth/login", content=b"x" * 2048)
            assert_error(declared, 413, "payload_too_large")

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(8):
                    yield b"y" * 512

            streamed = await client.post("/api/v1/auth/login", content=chunks())
            assert_error(streamed, 413, "payload_too_large")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_security_headers_and_hsts_only_over_https(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "strict-transport-security" not in response.headers
    page = await api.client.get("/login")
    assert "script-src 'self';" in page.headers["content-security-policy"]
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://secure.example") as https:
        assert "max-age" in (await https.get("/healthz")).headers["strict-transport-security"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_cors_is_closed_by_default_and_opens_for_configured_origins(api: Api, settings: Settings) -> None:
    preflight = {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"}
    closed = await api.client.options("/api/v1/runs", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    plain = await api.client.get("/healthz", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in plain.headers

    open_settings = ApiSettings(secret_key=SECRET_KEY, cors_origins=["https://dash.example"])
    async with running_app(settings, open_settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            allowed = await client.options("/api/v1/runs", headers={**preflight, "Origin": "https://dash.example"})
            assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
            refused = await client.options("/api/v1/runs", headers=preflight)
            assert "access-control-allow-origin" not in refused.headers


async def test_metrics_count_runs_tasks_queue_and_requests_by_route(api: Api, repo) -> None:  # type: ignore[no-untyped-def]
    from tests.api.conftest import shell_task

    member = await api.user("acme", "member")
    run = await api.start_run(member, repo, shell_task("one", "true"))
    await api.wait_for_run(member, run["id"])
    await api.client.get(f"/api/v1/runs/{run['id']}", headers=member)
    text = (await api.client.get("/metrics")).text
    assert 'quarterdeck_runs{status="succeeded"} 1.0' in text
    assert 'quarterdeck_tasks{status="succeeded"} 1.0' in text
    assert "quarterdeck_queue_depth 0.0" in text
    assert 'quarterdeck_attempt_duration_seconds_count{status="succeeded"} 1.0' in text
    assert "quarterdeck_cost_usd" in text
    assert 'route="/api/v1/runs/{run_id}"' in text
    assert run["id"] not in text  # labels are templates, never ids
    ready = (await api.client.get("/readyz")).json()
    assert ready == {"status": "ok", "database": True, "bus": True}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_unexpected_error_is_a_500_in_the_error_shape_without_internals(api: Api) -> None:
    async def boom() -> None:
        raise RuntimeError("internal detail: password=hunter2")

    api.app.add_api_route("/api/v1/test-boom", boom)
    response = await api.client.get("/api/v1/test-boom")
    error = assert_error(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert error["details"][0]["error_id"] in error["message"]
