"""Subscriptions and the outbox through the API: who may subscribe what, and a finished run's notifications."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.api.conftest import Api, shell_task
from tests.support.receivers import WebhookReceiver


async def test_admins_subscribe_the_organisation_and_members_themselves(api: Api) -> None:
    admin = await api.user("acme", "admin")
    member = await api.user("acme", "member", email="mia@acme.io")
    org_wide = await api.client.post(
        "/api/v1/subscriptions",
        headers=admin,
        json={"scope": "org", "channel": "slack", "target": "https://hooks.slack.test/services/T0/B0/abcdefgh"},
    )
    assert org_wide.status_code == 201, org_wide.text
    assert org_wide.json()["target"] == "https://hooks.slack.test/…efgh"  # the URL is a credential
    refused = await api.client.post(
        "/api/v1/subscriptions", headers=member, json={"scope": "org", "channel": "email", "target": "m@acme.io"}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "only an admin subscribes the organisation"
    mine = await api.client.post(
        "/api/v1/subscriptions", headers=member, json={"channel": "email", "kinds": ["approval.needed"]}
    )
    assert mine.status_code == 201, mine.text
    assert (mine.json()["scope"], mine.json()["target"], mine.json()["kinds"]) == (
        "user",
        "mia@acme.io",
        ["approval.needed"],
    )
    listed_by_member = (await api.client.get("/api/v1/subscriptions", headers=member)).json()
    assert [s["id"] for s in listed_by_member] == [mine.json()["id"]]
    listed_by_admin = (await api.client.get("/api/v1/subscriptions", headers=admin)).json()
    assert [s["id"] for s in listed_by_admin] == [org_wide.json()["id"], mine.json()["id"]]
    # a member cannot delete the organisation's subscription (it is not theirs: 404), only their own
    other = await api.client.delete(f"/api/v1/subscriptions/{org_wide.json()['id']}", headers=member)
    assert other.status_code == 404
    assert (await api.client.delete(f"/api/v1/subscriptions/{mine.json()['id']}", headers=member)).status_code == 204


async def test_bad_subscriptions_are_refused_with_the_reason(api: Api) -> None:
    admin = await api.user("acme", "admin")
    cases = [
        ({"scope": "org", "channel": "webhook", "target": "https://h.test/x"}, 400, "a webhook is signed"),
        ({"scope": "org", "channel": "slack", "target": "javascript:alert(1)"}, 400, "is not an http(s) URL"),
        ({"scope": "project", "channel": "slack", "target": "https://h.test/x"}, 400, "names its project"),
        ({"scope": "org", "channel": "pigeon", "target": "x"}, 422, None),
        ({"scope": "org", "channel": "slack", "target": "https://h.test/x", "kinds": ["nope"]}, 422, None),
    ]
    for body, code, message in cases:
        response = await api.client.post("/api/v1/subscriptions", headers=admin, json=body)
        assert response.status_code == code, (body, response.text)
        if message:
            assert message in response.json()["error"]["message"]
    project = await api.client.post(
        "/api/v1/subscriptions",
        headers=admin,
        json={"scope": "project", "channel": "slack", "target": "https://h.test/x", "project_id": "p-of-nobody"},
    )
    assert project.status_code == 404


async def test_a_finished_runs_notifications_are_in_the_outbox(api: Api, repo: Path) -> None:
    admin = await api.user("acme", "admin")
    with WebhookReceiver() as hooks:
        created = await api.client.post(
            "/api/v1/subscriptions",
            headers=admin,
            json={"scope": "org", "channel": "slack", "target": hooks.url("/slack"), "kinds": ["run.succeeded"]},
        )
        assert created.status_code == 201, created.text
        run = await api.start_run(admin, repo, shell_task("alpha", "echo hi > hi.txt"))
        await api.wait_for_run(admin, run["id"])
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            page = (await api.client.get(f"/api/v1/notifications?run={run['id']}", headers=admin)).json()
            if page["items"] and page["items"][0]["status"] == "delivered":
                break
            assert asyncio.get_running_loop().time() < deadline, page
            await asyncio.sleep(0.05)
        (notification,) = page["items"]
        assert notification["kind"] == "run.succeeded"
        assert notification["attempts"] == 1
        assert notification["payload"]["run"]["id"] == run["id"]
        assert [p.json()["text"] for p in hooks.received("/slack")] == [notification["payload"]["summary"]]
    viewer = await api.user("acme", "viewer")
    seen = (await api.client.get("/api/v1/notifications?status=delivered", headers=viewer)).json()
    assert [n["id"] for n in seen["items"]] == [notification["id"]]
    bad = await api.client.get("/api/v1/notifications?status=lost", headers=viewer)
    assert bad.status_code == 400
