"""Notifications at the wire: a worker's notifier delivers signed webhooks, Slack messages and emails for a
run's events through the durable outbox, retries a receiver that fails, and takes over a dead deliverer's rows."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from quarterdeck.app import Quarterdeck, vault
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.errors import InputError
from quarterdeck.notify.notifier import Notifier
from quarterdeck.security.keyring import KeySettings
from quarterdeck.settings import Settings
from quarterdeck.store import events as event_store
from quarterdeck.store import notifications as notification_store
from quarterdeck.store.notifications import NotificationRecord
from quarterdeck.store.types import utcnow
from tests.support.receivers import SmtpReceiver, WebhookReceiver

SECRET = "whsec-test-0123456789"


@pytest.fixture
def notify_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"notify_poll_s": 0.05, "notify_retry_s": 0.05})


@pytest.fixture
async def notifying_app(notify_settings: Settings) -> AsyncIterator[Quarterdeck]:
    async with Quarterdeck(notify_settings) as application:
        yield application


async def _until(condition: Callable[[], Awaitable[bool]], within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _failing_plan() -> plans.Plan:
    return plans.Plan(
        name="notify-me",
        tasks=(
            plans.TaskSpec(
                id="bad", title="Bad", runtime="scripted", options={"actions": [{"fail": "cannot do this"}]}
            ),
        ),
    )


async def test_a_workers_notifier_delivers_signed_webhooks_slack_and_email(
    notifying_app: Quarterdeck, repo: Path
) -> None:
    app = notifying_app
    org = app.settings.org
    keys = KeySettings().keyring(app.settings.state_dir)
    await vault.set_secret(app.db, keys, org_id=org, name="HOOK_SECRET", value=SECRET, kind="other")
    with WebhookReceiver(fail_first=3) as flaky, WebhookReceiver() as hooks, SmtpReceiver() as smtp:
        app.settings = app.settings.model_copy(update={"smtp_url": smtp.url, "public_url": "https://qd.example"})
        await app.subscribe(
            org_id=org,
            actor="test",
            scope="org",
            channel="webhook",
            target=hooks.url("/hook"),
            secret_name="HOOK_SECRET",
        )
        await app.subscribe(
            org_id=org,
            actor="test",
            scope="org",
            channel="webhook",
            target=flaky.url("/flaky"),
            secret_name="HOOK_SECRET",
            kinds=["run.failed"],
        )
        await app.subscribe(
            org_id=org, actor="test", scope="org", channel="slack", target=hooks.url("/slack"), kinds=["run.failed"]
        )
        await app.subscribe(
            org_id=org, actor="test", scope="org", channel="email", target="lead@example.com", kinds=["run.failed"]
        )
        worker = app.worker(slots=1)
        serving = asyncio.create_task(worker.serve())
        try:
            run = await app.submit(_failing_plan(), repo=repo)

            async def all_delivered() -> bool:
                found = await app.notifications(org_id=org, run_id=run.id)
                return len(found) == 5 and all(n.status == "delivered" for n in found)

            await _until(all_delivered)
        finally:
            worker.should_exit = True
            worker.wake()
            await serving
        view = await app.view(run.id)
        assert view.run.status is RunStatus.FAILED

        # the signed webhook: both notifications (the task dead-lettered, then the run failed), HMAC checked here
        posted = hooks.received("/hook")
        assert sorted(p.json()["type"] for p in posted) == ["run.failed", "task.dead_lettered"]
        for p in posted:
            ts, _, digest = p.headers["X-Quarterdeck-Signature"].partition(",v1=")
            expected = hmac.new(SECRET.encode(), f"{ts.removeprefix('t=')}.".encode() + p.body, hashlib.sha256)
            assert hmac.compare_digest(digest, expected.hexdigest())
            assert p.headers["X-Quarterdeck-Delivery"] == p.json()["id"]
        failed = next(p.json() for p in posted if p.json()["type"] == "run.failed")
        assert failed["schema"] == 1
        assert failed["run"] == {
            "id": run.id,
            "name": "notify-me",
            "status": "failed",
            "url": f"https://qd.example/runs/{run.id}",
        }
        assert failed["event"]["type"] == "run.finished"
        dead = next(p.json() for p in posted if p.json()["type"] == "task.dead_lettered")
        assert dead["task"] == "bad"
        assert "cannot do this" in dead["summary"]

        # the receiver that failed the first three deliveries got the same notification four times
        retried = flaky.received("/flaky")
        assert [p.status for p in retried] == [500, 500, 500, 200]
        assert len({p.headers["X-Quarterdeck-Delivery"] for p in retried}) == 1
        outbox = await app.notifications(org_id=org, run_id=run.id)
        flaky_row = next(n for n in outbox if n.target.endswith("/flaky"))
        assert flaky_row.attempts == 4
        assert flaky_row.delivered_at is not None

        # Slack: the incoming-webhook shape (text + mrkdwn section + context), no signature needed
        (slack,) = hooks.received("/slack")
        message = slack.json()
        assert message["text"] == f"Run notify-me ({run.id}) failed"
        assert message["blocks"][0]["type"] == "section"
        assert message["blocks"][0]["text"]["type"] == "mrkdwn"
        assert (
            f"<https://qd.example/runs/{run.id}|Open run {run.id} in Quarterdeck>"
            in message["blocks"][0]["text"]["text"]
        )
        assert message["blocks"][1]["type"] == "context"

        # the email, through a real SMTP server
        ((recipients, email),) = smtp.messages
        assert recipients == ["lead@example.com"]
        assert email["Subject"] == f"[Quarterdeck] Run notify-me ({run.id}) failed"
        assert email["From"] == app.settings.smtp_from
        assert f"https://qd.example/runs/{run.id}" in email.get_payload()


async def test_a_receiver_that_always_fails_gets_the_notification_given_up(
    notify_settings: Settings, repo: Path
) -> None:
    settings = notify_settings.model_copy(update={"notify_max_attempts": 2})
    async with Quarterdeck(settings) as app:
        with WebhookReceiver(fail_first=1000) as down:
            await app.subscribe(
                org_id=settings.org,
                actor="t",
                scope="org",
                channel="slack",
                target=down.url("/down"),
                kinds=["run.failed"],
            )
            run = await app.submit(_failing_plan(), repo=repo)
            await app.run_until_done(run.id, worker=app.worker(slots=1, run_id=run.id), tick_s=0.02)
            notifier = Notifier(app.db, settings, settle_s=0)
            async with httpx.AsyncClient() as client:

                async def given_up() -> bool:
                    await notifier.run_once(client)
                    found = await app.notifications(org_id=settings.org, run_id=run.id)
                    return bool(found) and found[0].status == "failed"

                await _until(given_up)
            (row,) = await app.notifications(org_id=settings.org, run_id=run.id, status="failed")
            assert row.attempts == 2
            assert row.last_error == "HTTP 500: try again later"
            assert len(down.received("/down")) == 2


async def test_a_dead_deliverers_notifications_are_taken_over_once_its_lease_expires(
    notify_settings: Settings, repo: Path
) -> None:
    # the run's own worker looks for events only when it starts (its next look would be a minute later)
    settings = notify_settings.model_copy(update={"notify_poll_s": 60})
    async with Quarterdeck(settings) as app:
        with WebhookReceiver() as hooks:
            await app.subscribe(
                org_id=settings.org,
                actor="t",
                scope="org",
                channel="slack",
                target=hooks.url("/s"),
                kinds=["run.failed"],
            )
            run = await app.submit(_failing_plan(), repo=repo)
            await app.run_until_done(run.id, worker=app.worker(slots=1, run_id=run.id), tick_s=0.02)
            assert await app.notifications(org_id=settings.org, run_id=run.id) == []
            assert await Notifier(app.db, settings, settle_s=0).enqueue() == 1
            # a deliverer leases the row and dies before sending: its lease is never released
            async with app.db.transaction() as conn:
                (leased,) = await notification_store.claim_notifications(
                    conn, app.db.dialect, token="dead", now=utcnow(), lease_s=1.0, limit=10
                )
            assert leased.status == "sending"
            async with httpx.AsyncClient() as client:
                survivor = Notifier(app.db, settings, settle_s=0)
                assert await survivor.deliver(client) == 0  # still the dead one's
                assert hooks.received("/s") == []

                async def delivered() -> bool:
                    await survivor.deliver(client)
                    rows: list[NotificationRecord] = await app.notifications(org_id=settings.org, run_id=run.id)
                    return [n.status for n in rows] == ["delivered"]

                await _until(delivered)
            assert len(hooks.received("/s")) == 1
            # the dead deliverer's late write is fenced off by the lease token
            async with app.db.transaction() as conn:
                assert not await notification_store.release_delivered(conn, leased.id, token="dead", now=utcnow())


async def test_subscriptions_refuse_bad_targets_and_unsigned_webhooks(notifying_app: Quarterdeck) -> None:
    app = notifying_app
    org = app.settings.org
    with pytest.raises(InputError, match="is not an http"):
        await app.subscribe(org_id=org, actor="t", scope="org", channel="slack", target="file:///etc/passwd")
    with pytest.raises(InputError, match="a webhook is signed"):
        await app.subscribe(org_id=org, actor="t", scope="org", channel="webhook", target="http://x.test/h")
    with pytest.raises(InputError, match="no secret 'NOPE'"):
        await app.subscribe(
            org_id=org, actor="t", scope="org", channel="webhook", target="http://x.test/h", secret_name="NOPE"
        )
    with pytest.raises(InputError, match=r"unknown kinds run\.exploded"):
        await app.subscribe(
            org_id=org, actor="t", scope="org", channel="email", target="a@b.test", kinds=["run.exploded"]
        )
    with pytest.raises(InputError, match="not an email address"):
        await app.subscribe(org_id=org, actor="t", scope="org", channel="email", target="nobody")
    assert await app.subscriptions(org_id=org) == []


async def test_a_notifier_far_behind_catches_up_without_skipping_an_event(
    notify_settings: Settings, repo: Path
) -> None:
    async with Quarterdeck(notify_settings) as app:
        await app.subscribe(
            org_id=notify_settings.org, actor="t", scope="org", channel="slack", target="https://hooks.test/x"
        )
        noop = plans.TaskSpec(id="n", title="N", runtime="noop")
        run = await app.submit(plans.Plan(name="burst", tasks=(noop,)), repo=repo)
        async with app.db.transaction() as conn:
            await event_store.create_events(
                conn,
                [
                    event_store.NewEvent(run.id, "run.finished", {"status": "failed", "reason": str(n)})
                    for n in range(2100)
                ],
            )
        notifier = Notifier(app.db, notify_settings, settle_s=0)
        first = await notifier.enqueue()  # ten reads of 200 in one pass: the cursor stops at the last one read
        second = await notifier.enqueue()
        assert (first, second) == (2000, 100)
        assert await notifier.enqueue() == 0
        async with app.db.read() as conn:
            queued = await notification_store.read_notifications(conn, org_id=notify_settings.org, limit=5000)
        assert sorted(int(n.payload["event"]["payload"]["reason"]) for n in queued) == list(range(2100))
