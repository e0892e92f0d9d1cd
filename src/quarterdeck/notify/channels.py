"""The three ways out: a signed webhook POST, a Slack-compatible incoming-webhook message and an email.

Each channel turns a notification's body (the documented webhook schema, ``docs/notifications.md``) into
what goes on the wire and sends it; a failure raises ``DeliveryFailed`` with what the receiver said, and
the notifier decides when to try again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from quarterdeck.errors import QuarterdeckError

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "DeliveryFailed",
    "SmtpServer",
    "email_message",
    "send_email",
    "send_slack",
    "send_webhook",
    "sign",
    "slack_message",
    "verify",
]

#: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
SIGNATURE_HEADER = "X-Quarterdeck-Signature"
#: the notification's id: the same on every retry of one notification, so receivers can drop duplicates
DELIVERY_HEADER = "X-Quarterdeck-Delivery"
#: the notification's kind (``run.succeeded`` …)
EVENT_HEADER = "X-Quarterdeck-Event"

_TIMEOUT = httpx.Timeout(10.0)


class DeliveryFailed(QuarterdeckError):
    """A notification could not be delivered (the receiver refused it or could not be reached)."""


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The signature header's value for ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` (what a receiver checks)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp=ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _body(notification_id: str, payload: Mapping[str, Any]) -> bytes:
    return json.dumps({"id": notification_id, **payload}, separators=(",", ":"), sort_keys=True).encode()


async def _post(client: httpx.AsyncClient, url: str, content: bytes, headers: dict[str, str]) -> None:
    try:
        response = await client.post(url, content=content, headers=headers, timeout=_TIMEOUT)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
    if not response.is_success:
        raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")


async def send_webhook(
    client: httpx.AsyncClient, url: str, notification_id: str, payload: Mapping[str, Any], *, secret: str | None
) -> None:
    """POST the notification as JSON, signed with ``secret`` (HMAC-SHA256) when one is given."""
    content = _body(notification_id, payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Quarterdeck-Webhook/1",
        DELIVERY_HEADER: notification_id,
        EVENT_HEADER: str(payload.get("type", "")),
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, content)
    await _post(client, url, content, headers)


def _mrkdwn(text: str) -> str:
    """Text for Slack's mrkdwn: the three characters it gives meaning to, escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (the fallback, and what notifications show) and blocks."""
    summary = str(payload.get("summary", ""))
    run = payload.get("run") or {}
    lines = [f"*{_mrkdwn(summary)}*"]
    url = run.get("url")
    if url:
        lines.append(f"<{url}|Open run {_mrkdwn(str(run.get('id', '')))} in Quarterdeck>")
    context = f"{payload.get('type', '')} · organisation {payload.get('org', '')}"
    if payload.get("task"):
        context += f" · task {payload['task']}"
    return {
        "text": summary,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(context)}]},
        ],
    }


async def send_slack(client: httpx.AsyncClient, url: str, payload: Mapping[str, Any]) -> None:
    content = json.dumps(slack_message(payload)).encode()
    await _post(client, url, content, {"Content-Type": "application/json"})


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where emails go: ``smtp://[user:password@]host[:port][?starttls=true]`` or ``smtps://…`` (TLS at once)."""

    host: str
    port: int
    tls: bool = False
    starttls: bool = False
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("QUARTERDECK_SMTP_URL must look like smtp://[user:password@]host[:port] or smtps://…")
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            tls=parts.scheme == "smtps",
            starttls=query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes"),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def email_message(payload: Mapping[str, Any], *, sender: str, recipient: str) -> EmailMessage:
    """A plain-text email: the summary as subject, then the run's link and the event's details."""
    message = EmailMessage()
    summary = str(payload.get("summary", ""))
    message["Subject"] = f"[Quarterdeck] {summary}"[:250]
    message["From"] = sender
    message["To"] = recipient
    run = payload.get("run") or {}
    lines = [summary, ""]
    if run.get("url"):
        lines += [f"Run: {run['url']}", ""]
    lines += [
        f"Kind: {payload.get('type', '')}",
        f"Organisation: {payload.get('org', '')}",
        f"Run: {run.get('id', '')} ({run.get('name', '')}), now {run.get('status', '')}",
    ]
    if payload.get("task"):
        lines.append(f"Task: {payload['task']}")
    lines += ["", "— Quarterdeck (manage subscriptions under Settings, or: quarterdeck notify list)"]
    message.set_content("\n".join(lines))
    return message


def _send_sync(server: SmtpServer, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP = (
        smtplib.SMTP_SSL(server.host, server.port, timeout=10, context=context)
        if server.tls
        else smtplib.SMTP(server.host, server.port, timeout=10)
    )
    with smtp:
        if server.starttls:
            smtp.starttls(context=context)
        if server.user:
            smtp.login(server.user, server.password or "")
        smtp.send_message(message)


async def send_email(server: SmtpServer, message: EmailMessage) -> None:
    """Send over SMTP (in a thread: ``smtplib`` blocks)."""
    try:
        await asyncio.to_thread(_send_sync, server, message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP {server.host}:{server.port}: {type(exc).__name__}: {exc}") from None
