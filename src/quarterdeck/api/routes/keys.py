"""API keys for CI and agents: created by admins (the key is shown once), listed without it, revoked."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request, status

from quarterdeck.api import convert, schemas
from quarterdeck.api.auth import Admin, Role, client_ip
from quarterdeck.api.errors import Forbidden, TooManyRequests
from quarterdeck.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.app import accounts

__all__ = ["router"]

router = v1_router("api-keys")


@router.get("/api-keys")
async def list_api_keys(
    principal: Admin, svc: Svc, limit: Limit = 50, cursor: Cursor = None
) -> schemas.Page[schemas.ApiKeyPublic]:
    after = decode_cursor(cursor, str)[0] if cursor else None
    found = await accounts.read_api_keys(svc.db, org_id=principal.org_id, after=after, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return schemas.Page[schemas.ApiKeyPublic](
        items=[convert.api_key(k) for k in found], next_cursor=encode_cursor(found[-1].id) if more else None
    )


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
async def create_api_key(
    body: schemas.ApiKeyCreate, request: Request, principal: Admin, svc: Svc
) -> schemas.ApiKeyCreated:
    """A new key with a scope (``read``, ``run``, ``admin``; or ``role``): it acts with at most that role and
    at most its owner's role at the time of each request. The response holds the key itself, shown only once."""
    role = body.granted_role()
    if not principal.role.allows(Role(role)):
        raise Forbidden(f"a key cannot be given the {role} role; you are {principal.role}")
    retry = await svc.limiter.hit(
        f"newkey:{client_ip(request)}:{principal.actor}",
        limit=svc.api.login_rate_limit,
        window_s=svc.api.rate_limit_window_s,
    )
    if retry is not None:
        raise TooManyRequests(retry)
    record, key = await accounts.create_api_key(
        svc.db,
        org_id=principal.org_id,
        user_id=principal.user_id,
        name=body.name,
        role=role,
        expires_in=timedelta(days=body.expires_in_days) if body.expires_in_days else None,
    )
    return schemas.ApiKeyCreated(**convert.api_key(record).model_dump(), key=key)


@router.delete("/api-keys/{key_id}")
async def revoke_api_key(key_id: str, principal: Admin, svc: Svc) -> schemas.ApiKeyPublic:
    """Revoke the key: it stops working at once in this process, within ``api_key_cache_s`` in others."""
    record = await accounts.revoke_api_key(svc.db, key_id, org_id=principal.org_id)
    svc.api_keys.forget(lambda caller: caller.api_key_id == record.id)
    return convert.api_key(record)
