"""Notifications as pure rules: which events notify, of what kind, in what words, and when a failed delivery
is tried again. No I/O: the notifier (``notify/``) reads events, asks these rules and records their answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "CHANNELS",
    "KINDS",
    "NOTIFYING_EVENTS",
    "SCOPES",
    "Channel",
    "DeliveryPolicy",
    "Kind",
    "Scope",
    "check_target",
    "kind_of",
    "summary",
]


class Kind(StrEnum):
    """What a notification tells (the ``type`` of a webhook's body)."""

    #: a human gate opened: a plan, merge, budget or re-plan waits for an approval
    APPROVAL_NEEDED = "approval.needed"
    #: every task of a run succeeded
    RUN_SUCCEEDED = "run.succeeded"
    #: a run ended with a failed or blocked task
    RUN_FAILED = "run.failed"
    #: a run waits for a person: paused by a user, nothing new starts until it is resumed
    RUN_WAITING = "run.waiting"
    #: a run stopped because its next step could not be afforded
    BUDGET_EXHAUSTED = "budget.exhausted"
    #: a task failed for good (out of attempts, or a failure that is never retried)
    TASK_DEAD_LETTERED = "task.dead_lettered"
    #: a task's branch conflicts with the integration branch
    CONFLICT = "task.conflict"


KINDS = tuple(k.value for k in Kind)


class Channel(StrEnum):
    """How a notification is delivered."""

    #: a signed JSON POST to the subscriber's URL
    WEBHOOK = "webhook"
    #: a Slack-compatible incoming webhook (``{"text": …, "blocks": …}``)
    SLACK = "slack"
    #: an email over SMTP (``QUARTERDECK_SMTP_URL``)
    EMAIL = "email"


CHANNELS = tuple(c.value for c in Channel)


class Scope(StrEnum):
    """Whose runs a subscription hears of."""

    #: every run of the organisation (managed by admins)
    ORG = "org"
    #: the runs of one project (managed by admins)
    PROJECT = "project"
    #: every run of the organisation, for one user's own address (managed by that user)
    USER = "user"


SCOPES = tuple(s.value for s in Scope)

#: the event types that may notify; everything else is never read by the notifier
NOTIFYING_EVENTS = (
    "approval.requested",
    "run.finished",
    "run.paused",
    "run.budget_exhausted",
    "task.failed",
    "merge.conflict",
)


def kind_of(event_type: str, payload: Mapping[str, Any]) -> Kind | None:
    """The notification an event makes, or None (a failure that will be retried, a cancelled run)."""
    if event_type == "approval.requested":
        return Kind.APPROVAL_NEEDED
    if event_type == "run.finished":
        status = payload.get("status")
        if status == "succeeded":
            return Kind.RUN_SUCCEEDED
        return Kind.RUN_FAILED if status == "failed" else None
    if event_type == "run.paused":
        return Kind.RUN_WAITING
    if event_type == "run.budget_exhausted":
        return Kind.BUDGET_EXHAUSTED
    if event_type == "task.failed":
        return None if payload.get("retry_in") is not None else Kind.TASK_DEAD_LETTERED
    if event_type == "merge.conflict":
        return Kind.CONFLICT
    return None


def summary(kind: Kind, *, run_name: str, run_id: str, task_id: str | None, payload: Mapping[str, Any]) -> str:
    """One line a person reads first (a Slack message's text, an email's subject)."""
    run = f"run {run_name} ({run_id})" if run_name and run_name != run_id else f"run {run_id}"
    task = f"task {task_id} of {run}" if task_id else run
    match kind:
        case Kind.APPROVAL_NEEDED:
            return f"Approval needed: {payload.get('kind') or 'a'} gate of {task}"
        case Kind.RUN_SUCCEEDED:
            return f"{run.capitalize()} succeeded"
        case Kind.RUN_FAILED:
            return f"{run.capitalize()} failed"
        case Kind.RUN_WAITING:
            return f"{run.capitalize()} is paused and waits to be resumed"
        case Kind.BUDGET_EXHAUSTED:
            return f"Budget exhausted: {run} stopped ({payload.get('message') or 'raise its budget to continue'})"
        case Kind.TASK_DEAD_LETTERED:
            return f"{task.capitalize()} failed for good: {_first_line(payload.get('error'))}"
        case Kind.CONFLICT:
            paths = payload.get("paths") or []
            shown = ", ".join(str(p) for p in paths[:5]) if isinstance(paths, list) else ""
            return f"Merge conflict: {task}" + (f" ({shown})" if shown else "")
    return f"{kind.value}: {task}"  # pragma: no cover - every kind is matched above


def _first_line(value: object) -> str:
    text = str(value or "no error recorded").strip()
    line = text.splitlines()[0] if text else "no error recorded"
    return line if len(line) <= 200 else line[:199] + "…"


_EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")


def check_target(channel: Channel, target: str) -> str | None:
    """Why ``target`` cannot receive ``channel`` (None: it can): an http(s) URL, or one email address."""
    if channel is Channel.EMAIL:
        return None if _EMAIL.match(target) and len(target) <= 320 else f"{target!r} is not an email address"
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{target!r} is not an http(s) URL"
    if parts.username or parts.password:
        return "the URL may not carry a user name or password"
    return None


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Exponential backoff between deliveries of one notification, then give up (``failed``)."""

    max_attempts: int = 8
    base_delay_s: float = 2.0
    max_delay_s: float = 600.0

    def next_delay(self, attempts: int) -> float | None:
        """Seconds until the next try after ``attempts`` failed tries (1-based), or None to give up."""
        if attempts >= self.max_attempts:
            return None
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** (attempts - 1)))
