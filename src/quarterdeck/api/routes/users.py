"""Users of the organisation: admins add, change, and disable them (the last admin stays)."""

from __future__ import annotations

from fastapi import status

from quarterdeck.api import convert, schemas
from quarterdeck.api.auth import Admin, Principal, Role, forget_user
from quarterdeck.api.errors import Forbidden
from quarterdeck.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.app import accounts

__all__ = ["router"]

router = v1_router("users")


@router.get("/users")
async def list_users(
    principal: Admin, svc: Svc, limit: Limit = 50, cursor: Cursor = None
) -> schemas.Page[schemas.UserPublic]:
    after = decode_cursor(cursor, str)[0] if cursor else None
    found = await accounts.read_users(svc.db, org_id=principal.org_id, after=after, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return schemas.Page[schemas.UserPublic](
        items=[convert.user(u) for u in found], next_cursor=encode_cursor(found[-1].id) if more else None
    )


def _may_grant(principal: Principal, role: str | None, *, user_id: str | None = None) -> None:
    """No caller grants a role above its own, and no one raises their own."""
    if role is None:
        return
    if user_id is not None and user_id == principal.user_id and not principal.role.allows(Role(role)):
        raise Forbidden(f"no one can raise their own role: you are {principal.role}")
    if not principal.role.allows(Role(role)):
        raise Forbidden(f"you cannot grant the {role} role; you are {principal.role}")


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: schemas.UserCreate, principal: Admin, svc: Svc) -> schemas.UserPublic:
    _may_grant(principal, body.role)
    record = await accounts.create_user(
        svc.db, org_id=principal.org_id, email=body.email, name=body.name, role=body.role, password=body.password
    )
    return convert.user(record)


@router.get("/users/{user_id}")
async def read_user(user_id: str, principal: Admin, svc: Svc) -> schemas.UserPublic:
    return convert.user(await accounts.read_user(svc.db, user_id, org_id=principal.org_id))


@router.patch("/users/{user_id}")
async def update_user(user_id: str, body: schemas.UserUpdate, principal: Admin, svc: Svc) -> schemas.UserPublic:
    """Change name, role or password, or disable (``disabled: true``) or enable the user.

    The change binds the user's keys, tokens and sessions at once in this process, and within
    ``authority_cache_s`` in others."""
    _may_grant(principal, body.role, user_id=user_id)
    record = await accounts.update_user(
        svc.db,
        user_id,
        org_id=principal.org_id,
        name=body.name,
        role=body.role,
        password=body.password,
        disabled=body.disabled,
    )
    forget_user(svc, record.id)  # their keys and tokens answer to the change here at once
    return convert.user(record)


@router.delete("/users/{user_id}")
async def disable_user(user_id: str, principal: Admin, svc: Svc) -> schemas.UserPublic:
    """Disable the user (kept for the audit trail): they can no longer sign in, their API keys stop working."""
    record = await accounts.update_user(svc.db, user_id, org_id=principal.org_id, disabled=True)
    forget_user(svc, record.id)  # their keys and tokens stop working here at once
    return convert.user(record)
