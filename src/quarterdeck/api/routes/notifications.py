"""Notifications: subscriptions (the organisation's, a project's, a user's own) and the outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response, status

from quarterdeck.api import convert, schemas
from quarterdeck.api.auth import Member, Principal, Role, Viewer
from quarterdeck.api.errors import Forbidden
from quarterdeck.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc

__all__ = ["router"]

router = v1_router("notifications")

SubscriptionId = Annotated[str, Path(min_length=1, max_length=32)]


def _own_only(principal: Principal) -> str | None:
    """Whose subscriptions the caller manages: an admin every one (None), anyone else only their own."""
    if principal.role.allows(Role.ADMIN):
        return None
    return principal.user_id or ""


@router.get("/subscriptions")
async def list_subscriptions(principal: Viewer, svc: Svc) -> list[schemas.SubscriptionPublic]:
    """The organisation's subscriptions (an admin's view), or the caller's own."""
    found = await svc.quarterdeck.subscriptions(org_id=principal.org_id, user_id=_own_only(principal))
    return [convert.subscription(s) for s in found]


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED)
async def create_subscription(
    body: schemas.SubscriptionCreate, principal: Member, svc: Svc
) -> schemas.SubscriptionPublic:
    """Subscribe a webhook, a Slack channel or an email address; ``org`` and ``project`` scopes need an admin."""
    if body.scope != "user" and not principal.role.allows(Role.ADMIN):
        raise Forbidden(f"only an admin subscribes the {'organisation' if body.scope == 'org' else 'project'}")
    record = await svc.quarterdeck.subscribe(
        org_id=principal.org_id,
        actor=principal.actor,
        scope=body.scope,
        channel=body.channel,
        target=body.target,
        kinds=body.kinds,
        project_id=body.project_id,
        user_id=principal.user_id if body.scope == "user" else None,
        secret_name=body.secret_name,
    )
    return convert.subscription(record)


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_subscription(subscription_id: SubscriptionId, principal: Member, svc: Svc) -> Response:
    await svc.quarterdeck.unsubscribe(subscription_id, org_id=principal.org_id, user_id=_own_only(principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/notifications")
async def list_notifications(
    principal: Viewer,
    svc: Svc,
    run: Annotated[str | None, Query(max_length=32, description="Only this run's notifications.")] = None,
    state: Annotated[
        str | None, Query(alias="status", max_length=16, description="pending, sending, delivered or failed.")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> schemas.Page[schemas.NotificationPublic]:
    """The outbox, newest first: each notification with its delivery state, tries and last error."""
    before = decode_cursor(cursor, str)[0] if cursor else None
    found = await svc.quarterdeck.notifications(
        org_id=principal.org_id, run_id=run, status=state, before=before, limit=limit + 1
    )
    more = len(found) > limit
    found = found[:limit]
    return schemas.Page[schemas.NotificationPublic](
        items=[convert.notification(n) for n in found], next_cursor=encode_cursor(found[-1].id) if more else None
    )
