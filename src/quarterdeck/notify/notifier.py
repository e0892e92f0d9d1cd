"""The notifier: turns notifying events into outbox rows and delivers them, in every process that runs workers.

Two passes, each its own transaction, repeated every ``QUARTERDECK_NOTIFY_POLL_S``:

- **enqueue** reads the event log after the stored cursor (only the types in
  ``domain.notifications.NOTIFYING_EVENTS``) and queues one notification per matching subscription; a
  (subscription, event) pair is unique, so two notifiers, or a pass repeated after a crash, queue it once.
  On PostgreSQL event ids can commit out of order, so the cursor trails the log by ``settle_s``: events in
  that window are read again (and found queued already) until it passes them.
- **deliver** leases due notifications (``pending`` and due, or ``sending`` whose deliverer's lease expired),
  sends each through its channel and records the outcome fenced by the lease token: delivered, or pending
  again after the policy's backoff, or ``failed`` after its last try. A process that dies mid-delivery
  leaves its rows to be taken over when their lease expires: every notification is delivered at least once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

import httpx

from quarterdeck.domain import ids
from quarterdeck.domain import notifications as rules
from quarterdeck.errors import NotFound, QuarterdeckError, StoreError
from quarterdeck.notify import channels
from quarterdeck.security import redaction, sealing
from quarterdeck.security.keyring import Keyring, KeySettings
from quarterdeck.settings import Settings
from quarterdeck.store import notifications as store
from quarterdeck.store import secrets as secret_store
from quarterdeck.store.database import Database
from quarterdeck.store.notifications import NotificationRecord, NotifyingEvent, SubscriptionRecord
from quarterdeck.store.types import utcnow

__all__ = ["SCHEMA_VERSION", "Notifier", "notification_body"]

_log = logging.getLogger(__name__)

#: the version of the webhook body's schema (``docs/notifications.md``)
SCHEMA_VERSION = 1
#: how long a deliverer holds a leased notification before another process may take it over
_LEASE_S = 60.0
#: events read per query, and notifications leased per pass
_BATCH = 200
#: queries of events per pass (a notifier far behind catches up over several passes)
_BATCHES = 10
#: deliveries in flight at once (receivers throttle; Slack allows about one message a second per webhook)
_CONCURRENCY = 16


def notification_body(event: NotifyingEvent, kind: rules.Kind, *, public_url: str | None) -> dict[str, Any]:
    """The webhook body (without its ``id``, added per notification): the documented schema, version 1."""
    url = f"{public_url.rstrip('/')}/runs/{event.run_id}" if public_url else None
    status = event.payload.get("status") if event.type == "run.finished" else event.run_status
    return {
        "schema": SCHEMA_VERSION,
        "type": kind.value,
        "created_at": event.created_at.isoformat(),
        "org": event.org_id,
        "project": event.project_id,
        "run": {"id": event.run_id, "name": event.run_name, "status": status or event.run_status, "url": url},
        "task": event.task_id,
        "summary": rules.summary(
            kind, run_name=event.run_name, run_id=event.run_id, task_id=event.task_id, payload=event.payload
        ),
        "event": {"id": event.id, "type": event.type, "payload": event.payload},
    }


def _hears(subscription: SubscriptionRecord, event: NotifyingEvent, kind: rules.Kind) -> bool:
    if subscription.org_id != event.org_id or subscription.created_at > event.created_at:
        return False
    if subscription.scope == rules.Scope.PROJECT and subscription.project_id != event.project_id:
        return False
    return not subscription.kinds or kind.value in subscription.kinds


class Notifier:
    """Queues and delivers notifications until ``should_exit``; ``run_once`` does one pass of each."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        keys: KeySettings | Keyring | None = None,
        policy: rules.DeliveryPolicy | None = None,
        settle_s: float = 30.0,
        lease_s: float = _LEASE_S,
    ) -> None:
        self.db = db
        self.settings = settings
        self.policy = policy or rules.DeliveryPolicy(
            max_attempts=settings.notify_max_attempts, base_delay_s=settings.notify_retry_s
        )
        self.settle_s = settle_s
        self.lease_s = lease_s
        self.should_exit = False
        self._keys = keys
        self._keyring: Keyring | None = keys if isinstance(keys, Keyring) else None
        self._wake = asyncio.Event()
        self._token = ids.new_id("l")
        #: (monotonic time, highest event id then): the cursor moves to the newest one older than ``settle_s``
        self._seen: collections.deque[tuple[float, int]] = collections.deque()
        self._smtp = channels.SmtpServer.from_url(settings.smtp_url) if settings.smtp_url else None

    def wake(self) -> None:
        self._wake.set()

    async def serve(self) -> None:
        """Pass after pass until ``should_exit``; a database outage is ridden out, never fatal."""
        async with httpx.AsyncClient() as client:
            while not self.should_exit:
                try:
                    await self.run_once(client)
                except StoreError as exc:
                    _log.warning("notifier: database away: %s", exc)
                except QuarterdeckError as exc:
                    _log.warning("notifier: %s", exc)
                except Exception:  # never take the worker down with it: the outbox keeps what was not sent
                    _log.exception("notifier: unexpected failure")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.notify_poll_s)
                self._wake.clear()

    async def run_once(self, client: httpx.AsyncClient) -> tuple[int, int]:
        """One enqueue pass and one delivery pass; returns (queued, delivered)."""
        return await self.enqueue(), await self.deliver(client)

    async def enqueue(self) -> int:
        """Queue the notifications of the events after the cursor; returns how many were new."""
        now = utcnow()
        found: list[NotifyingEvent] = []
        async with self.db.read() as conn:
            cursor = await store.read_cursor(conn)
            last = await store.read_last_event_id(conn)
            subscriptions = await store.read_subscriptions(conn)
            behind = bool(subscriptions)  # more events may wait than one read returns
            for _ in range(_BATCHES if subscriptions else 0):
                batch = await store.read_notifying_events(
                    conn, after_id=found[-1].id if found else cursor or 0, types=rules.NOTIFYING_EVENTS, limit=_BATCH
                )
                found += batch
                if len(batch) < _BATCH:
                    behind = False
                    break
        moment = time.monotonic()
        self._seen.append((moment, last))
        settled = cursor or 0
        while self._seen and moment - self._seen[0][0] >= self.settle_s:
            settled = max(settled, self._seen.popleft()[1])
        if not subscriptions:
            settled = last  # nobody listens: the history before a first subscription is never notified anyway
        elif behind:  # events after the last one read are still unread: the cursor may not pass them
            settled = min(max(settled, cursor or 0), found[-1].id)
        rows: list[dict[str, Any]] = []
        for event in found:
            kind = rules.kind_of(event.type, event.payload)
            if kind is None:
                continue
            body: dict[str, Any] | None = None
            for subscription in subscriptions:
                if not _hears(subscription, event, kind):
                    continue
                body = body or notification_body(event, kind, public_url=self.settings.public_url)
                rows.append(
                    {
                        "org_id": event.org_id,
                        "subscription_id": subscription.id,
                        "event_id": event.id,
                        "run_id": event.run_id,
                        "task_id": event.task_id,
                        "kind": kind.value,
                        "channel": subscription.channel,
                        "target": subscription.target,
                        "payload": body,
                    }
                )
        if not rows and settled == (cursor or 0) and cursor is not None:
            return 0
        async with self.db.transaction() as conn:
            queued = await store.create_notifications(conn, rows, now=now)
            await store.update_cursor(conn, settled, now=now)
        return queued

    async def deliver(self, client: httpx.AsyncClient) -> int:
        """Lease the due notifications, send them, record each outcome; returns how many were delivered."""
        async with self.db.transaction() as conn:
            leased = await store.claim_notifications(
                conn, self.db.dialect, token=self._token, now=utcnow(), lease_s=self.lease_s, limit=_BATCH
            )
        if not leased:
            return 0
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def send(notification: NotificationRecord) -> str | None:
            async with limit:
                return await self._send(client, notification)

        outcomes = await asyncio.gather(*(send(n) for n in leased))
        delivered = 0
        for notification, error in zip(leased, outcomes, strict=True):
            now = utcnow()
            async with self.db.transaction() as conn:
                if error is None:
                    delivered += await store.release_delivered(conn, notification.id, token=self._token, now=now)
                    continue
                delay = self.policy.next_delay(notification.attempts + 1)
                retry_at = None if delay is None else now + timedelta(seconds=delay)
                await store.release_failed(conn, notification.id, token=self._token, error=error, retry_at=retry_at)
            _log.warning(
                "notification %s (%s to %s) not delivered, %s: %s",
                notification.id,
                notification.kind,
                notification.channel,
                "given up" if retry_at is None else f"retried in {delay:.0f}s",
                error,
            )
        return delivered

    async def _send(self, client: httpx.AsyncClient, notification: NotificationRecord) -> str | None:
        """Send one notification; the error (None: delivered)."""
        try:
            match notification.channel:
                case rules.Channel.WEBHOOK:
                    secret = await self._signing_secret(notification)
                    await channels.send_webhook(
                        client, notification.target, notification.id, notification.payload, secret=secret
                    )
                case rules.Channel.SLACK:
                    await channels.send_slack(client, notification.target, notification.payload)
                case rules.Channel.EMAIL:
                    if self._smtp is None:
                        return "no SMTP server: set QUARTERDECK_SMTP_URL"
                    message = channels.email_message(
                        notification.payload, sender=self.settings.smtp_from, recipient=notification.target
                    )
                    await channels.send_email(self._smtp, message)
                case other:
                    return f"unknown channel {other!r}"
        except channels.DeliveryFailed as exc:
            return str(exc)
        except QuarterdeckError as exc:
            return str(exc)
        return None

    async def _signing_secret(self, notification: NotificationRecord) -> str | None:
        async with self.db.read() as conn:
            try:
                subscription = await store.read_subscription(
                    conn, notification.subscription_id, org_id=notification.org_id
                )
            except NotFound:
                raise channels.DeliveryFailed("its subscription was deleted") from None
            if subscription.secret_name is None:
                return None
            try:
                record = await secret_store.read_secret(conn, org_id=subscription.org_id, name=subscription.secret_name)
            except NotFound:
                raise channels.DeliveryFailed(
                    f"no secret {subscription.secret_name!r} to sign with: quarterdeck secret set "
                    f"{subscription.secret_name}"
                ) from None
        try:
            secret = sealing.open_sealed(
                self._keyring_now(),
                sealing.Sealed(record.key_id, record.ciphertext),
                context=sealing.secret_context(record.org_id, record.name),
            )
        except sealing.SealError as exc:
            raise channels.DeliveryFailed(f"the secret {record.name} cannot be opened: {exc}") from None
        redaction.remember([secret])
        return secret

    def _keyring_now(self) -> Keyring:
        if self._keyring is None:
            keys = self._keys if isinstance(self._keys, KeySettings) else KeySettings()
            self._keyring = keys.keyring(self.settings.state_dir)
        return self._keyring
