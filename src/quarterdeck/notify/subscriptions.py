"""Subscriptions and the outbox as use cases: the CLI, the API, the dashboard and the MCP server call these."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from quarterdeck.domain import notifications as rules
from quarterdeck.errors import InputError, NotFound
from quarterdeck.store import identity
from quarterdeck.store import notifications as store
from quarterdeck.store import projects as project_store
from quarterdeck.store import secrets as secret_store
from quarterdeck.store.database import Database
from quarterdeck.store.notifications import NotificationRecord, SubscriptionRecord
from quarterdeck.store.types import utcnow

__all__ = ["STATUSES", "masked_target", "notifications", "subscribe", "subscriptions", "unsubscribe"]

#: notification statuses, in the order a notification goes through them
STATUSES = ("pending", "sending", "delivered", "failed")


async def subscribe(
    db: Database,
    *,
    org_id: str,
    actor: str,
    scope: str,
    channel: str,
    target: str | None,
    kinds: Sequence[str] = (),
    project_id: str | None = None,
    user_id: str | None = None,
    secret_name: str | None = None,
) -> SubscriptionRecord:
    """Subscribe ``target`` to the organisation's, a project's or a user's notifications.

    A ``user`` subscription belongs to ``user_id``; sent by email, its target defaults to the user's address.
    A webhook names the organisation's secret (``quarterdeck secret set NAME``) that signs its bodies.

    Raises:
        InputError: an unknown scope, channel or kind, a target the channel cannot reach, a missing secret.
        NotFound: no such project or user in the organisation.
    """
    project_id, secret_name, target = project_id or None, secret_name or None, target or None  # "" is none
    try:
        the_scope, the_channel = rules.Scope(scope), rules.Channel(channel)
    except ValueError:
        raise InputError(
            f"scope must be one of {', '.join(rules.SCOPES)} and channel one of {', '.join(rules.CHANNELS)}"
        ) from None
    unknown = sorted(set(kinds) - set(rules.KINDS))
    if unknown:
        raise InputError(f"unknown kinds {', '.join(unknown)}: use {', '.join(rules.KINDS)}")
    if the_scope is rules.Scope.PROJECT and not project_id:
        raise InputError("a project subscription names its project")
    if the_scope is not rules.Scope.PROJECT and project_id:
        raise InputError("only a project subscription names a project")
    if the_scope is rules.Scope.USER and not user_id:
        raise InputError("a user subscription belongs to a user (an API key without a user has none)")
    if the_channel is rules.Channel.WEBHOOK and not secret_name:
        raise InputError("a webhook is signed: name the secret that signs it (quarterdeck secret set NAME)")
    if the_channel is not rules.Channel.WEBHOOK and secret_name:
        raise InputError("only a webhook is signed with a secret")
    async with db.transaction() as conn:
        if project_id:
            project_id = (await project_store.read_project(conn, project_id, org_id=org_id)).id
        if the_scope is rules.Scope.USER and user_id:
            user = await identity.read_user(conn, user_id, org_id=org_id)
            if not target and the_channel is rules.Channel.EMAIL:
                target = user.email
        else:
            user_id = None
        if not target:
            raise InputError(
                f"a {channel} subscription needs a target ({'an address' if channel == 'email' else 'a URL'})"
            )
        if (why := rules.check_target(the_channel, target)) is not None:
            raise InputError(why)
        if secret_name:
            try:
                await secret_store.read_secret(conn, org_id=org_id, name=secret_name)
            except NotFound:
                raise InputError(
                    f"no secret {secret_name!r}: store it first (quarterdeck secret set {secret_name})"
                ) from None
        return await store.create_subscription(
            conn,
            org_id=org_id,
            scope=the_scope.value,
            channel=the_channel.value,
            target=target,
            kinds=sorted(set(kinds)),
            created_by=actor,
            now=utcnow(),
            project_id=project_id,
            user_id=user_id,
            secret_name=secret_name,
        )


async def subscriptions(db: Database, *, org_id: str, user_id: str | None = None) -> list[SubscriptionRecord]:
    """The organisation's subscriptions (with ``user_id``: only that user's own), oldest first."""
    async with db.read() as conn:
        return await store.read_subscriptions(conn, org_ids=[org_id], user_id=user_id)


async def unsubscribe(db: Database, subscription_id: str, *, org_id: str, user_id: str | None = None) -> None:
    """Delete a subscription (with ``user_id``: only if it is that user's own) and its queued notifications.

    Raises:
        NotFound: no such subscription (of that user).
    """
    async with db.transaction() as conn:
        found = await store.read_subscription(conn, subscription_id, org_id=org_id)
        if user_id is not None and found.user_id != user_id:
            raise NotFound(f"no subscription {subscription_id!r}")
        await store.delete_subscription(conn, subscription_id, org_id=org_id)


async def notifications(
    db: Database,
    *,
    org_id: str,
    run_id: str | None = None,
    status: str | None = None,
    user_id: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> list[NotificationRecord]:
    """The outbox, newest first (with ``user_id``: only the notifications of that user's subscriptions)."""
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown status {status!r}: use {', '.join(STATUSES)}")
    async with db.read() as conn:
        mine = None
        if user_id is not None:
            mine = [s.id for s in await store.read_subscriptions(conn, org_ids=[org_id], user_id=user_id)]
        return await store.read_notifications(
            conn, org_id=org_id, run_id=run_id, status=status, subscription_ids=mine, before=before, limit=limit
        )


def masked_target(channel: str, target: str) -> str:
    """What listings show of a target: an address whole, a URL's host and the end of its path (a Slack
    incoming-webhook URL is itself a credential)."""
    if channel == rules.Channel.EMAIL:
        return target
    parts = urlsplit(target)
    tail = parts.path[-4:] if len(parts.path) > 8 else ""
    return f"{parts.scheme}://{parts.netloc}/…{tail}"
