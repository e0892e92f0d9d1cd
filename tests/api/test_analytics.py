"""GET /api/v1/analytics: the application layer's figures, of the caller's organisation only; a bad window is a 400."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_auth import assert_error
from tests.support.analytics_history import seed_history


async def test_analytics_over_http_are_the_callers_organisations(api: Api) -> None:
    await seed_history(api.services.quarterdeck)
    acme, other = await api.user("acme", "viewer"), await api.user("other", "viewer")
    window = {"since": "2026-11-30", "until": "2026-12-03"}
    mine = (await api.client.get("/api/v1/analytics", params={**window, "by": "role"}, headers=acme)).json()
    assert [(g["key"], g["tasks"], g["first_attempt_rate"]) for g in mine["groups"]] == [
        ("backend", 2, 0.5),
        ("docs", 1, 0.0),
    ]
    assert mine["total"]["tasks"] == 3
    assert mine["groups"][0]["seconds_per_task"]["agent"] == 65.0
    theirs = (await api.client.get("/api/v1/analytics", params={**window, "by": "runtime"}, headers=other)).json()
    assert [(g["key"], g["tasks"]) for g in theirs["groups"]] == [("claude-code", 1)]


async def test_a_bad_window_is_refused_with_its_reason(api: Api) -> None:
    viewer = await api.user("acme", "viewer")
    response = await api.client.get("/api/v1/analytics", params={"since": "last tuesday"}, headers=viewer)
    assert_error(response, 400, "bad_request")
    assert "give a date" in response.json()["error"]["message"]
    anonymous = await api.client.get("/api/v1/analytics")
    assert anonymous.status_code == 401


async def test_prometheus_metrics_count_ended_tasks_and_spend_by_role_runtime_and_model(api: Api) -> None:
    await seed_history(api.services.quarterdeck)
    text = (await api.client.get("/metrics")).text
    lines = set(text.splitlines())
    # labels in alphabetical order, as the exposition writes them; every organisation's tasks, all time:
    # t1 and the other organisation's x1 succeeded, t2 failed, t4 never ran
    assert 'quarterdeck_tasks_ended{outcome="succeeded",role="backend",runtime="claude-code"} 2.0' in lines
    assert 'quarterdeck_tasks_ended{outcome="dead",role="backend",runtime="claude-code"} 1.0' in lines
    assert 'quarterdeck_tasks_ended{outcome="succeeded",role="docs",runtime="codex"} 2.0' in lines
    assert 'quarterdeck_tasks_first_attempt_succeeded{role="docs",runtime="codex"} 1.0' in lines
    assert 'quarterdeck_task_revisions{role="backend",runtime="claude-code"} 1.0' in lines
    assert 'quarterdeck_model_cost_usd{model="claude-sonnet-4-5",role="backend",runtime="claude-code"} 0.4' in lines
    tokens = 'quarterdeck_model_tokens{direction="input",model="claude-haiku-4-5",role="backend",runtime="claude-code"}'
    assert f"{tokens} 500.0" in lines
