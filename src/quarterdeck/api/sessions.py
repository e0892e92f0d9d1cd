"""Sessions: a short-lived access token plus a refresh token that is exchanged on every use.

A refresh token presented a second time means a copy exists (a thief's, or an old client's): the
whole chain it began is revoked and the caller must sign in again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from quarterdeck.api import auth
from quarterdeck.api.errors import Unauthorized
from quarterdeck.api.services import Services
from quarterdeck.security import opaque, tokens
from quarterdeck.store import identity
from quarterdeck.store.identity import UserRecord
from quarterdeck.store.types import utcnow

__all__ = ["Session", "clear_cookies", "end", "refresh", "set_cookies", "start"]

_REFRESH_PATH = "/api/v1/auth"


@dataclass(frozen=True, slots=True)
class Session:
    access_token: str
    refresh_token: str
    expires_in: int
    user: UserRecord


def _access_token(svc: Services, user: UserRecord) -> str:
    return tokens.issue_access_token(
        svc.keys,
        user_id=user.id,
        org_id=user.org_id,
        role=user.role,
        name=user.name,
        ttl=timedelta(seconds=svc.api.access_token_ttl_s),
        now=utcnow(),
    )


async def start(svc: Services, user: UserRecord) -> Session:
    """A new session for a user who just proved who they are."""
    minted = opaque.mint(opaque.REFRESH)
    now = utcnow()
    async with svc.db.transaction() as conn:
        await identity.create_refresh_token(
            conn,
            token_id=minted.lookup,
            user_id=user.id,
            token_hash=minted.digest,
            now=now,
            expires_at=now + timedelta(seconds=svc.api.refresh_token_ttl_s),
        )
    return Session(_access_token(svc, user), minted.token, svc.api.access_token_ttl_s, user)


async def refresh(svc: Services, token: str) -> Session:
    """Exchange a refresh token for a new session.

    Raises:
        Unauthorized: unknown, expired or revoked token, a disabled user, or a reused token
            (which also revokes every token exchanged from it).
    """
    lookup = opaque.parse(opaque.REFRESH, token)
    if lookup is None:
        raise Unauthorized("invalid refresh token")
    now = utcnow()
    minted = opaque.mint(opaque.REFRESH)
    refused: str | None = None
    user: UserRecord | None = None
    async with svc.db.transaction() as conn:
        record = await identity.read_refresh_token(conn, lookup)
        if record is None or not opaque.matches(token, record.token_hash):
            raise Unauthorized("invalid refresh token")
        if record.replaced_by is not None:
            await identity.revoke_refresh_chain(conn, record.id, now=now)
            refused = "refresh token reused: the session is revoked; sign in again"
        elif record.revoked_at is not None or record.expires_at <= now:
            refused = "refresh token expired or revoked; sign in again"
        else:
            user = await identity.read_user(conn, record.user_id)
            if user.disabled_at is not None:
                await identity.revoke_refresh_token(conn, record.id, now=now)
                refused = "the user is disabled"
            else:
                await identity.create_refresh_token(
                    conn,
                    token_id=minted.lookup,
                    user_id=user.id,
                    token_hash=minted.digest,
                    now=now,
                    expires_at=now + timedelta(seconds=svc.api.refresh_token_ttl_s),
                )
                if not await identity.rotate_refresh_token(conn, record.id, replaced_by=minted.lookup, now=now):
                    raise Unauthorized("refresh token already used")  # a concurrent exchange won; roll back ours
    # Raised after the commit, so that a reuse's revocations stand.
    if refused is not None or user is None:
        raise Unauthorized(refused or "invalid refresh token")
    return Session(_access_token(svc, user), minted.token, svc.api.access_token_ttl_s, user)


async def end(svc: Services, token: str | None) -> None:
    """Revoke the session's refresh token (a token that is not valid is ignored: signing out always works)."""
    lookup = opaque.parse(opaque.REFRESH, token or "")
    if lookup is None:
        return
    async with svc.db.transaction() as conn:
        record = await identity.read_refresh_token(conn, lookup)
        if record is not None and opaque.matches(token or "", record.token_hash):
            await identity.revoke_refresh_token(conn, record.id, now=utcnow())


def _secure(svc: Services, request: Request) -> bool:
    return svc.api.cookie_secure if svc.api.cookie_secure is not None else request.url.scheme == "https"


def set_cookies(svc: Services, request: Request, response: Response, session: Session) -> None:
    secure = _secure(svc, request)
    response.set_cookie(
        auth.ACCESS_COOKIE,
        session.access_token,
        max_age=session.expires_in,
        path="/",
        httponly=True,
        secure=secure,
        samesite="strict",
    )
    response.set_cookie(
        auth.REFRESH_COOKIE,
        session.refresh_token,
        max_age=svc.api.refresh_token_ttl_s,
        path=_REFRESH_PATH,
        httponly=True,
        secure=secure,
        samesite="strict",
    )
    response.set_cookie(
        auth.CSRF_COOKIE,
        secrets.token_urlsafe(32),
        max_age=svc.api.refresh_token_ttl_s,
        path="/",
        httponly=False,
        secure=secure,
        samesite="strict",
    )


def clear_cookies(response: Response) -> None:
    response.delete_cookie(auth.ACCESS_COOKIE, path="/")
    response.delete_cookie(auth.REFRESH_COOKIE, path=_REFRESH_PATH)
    response.delete_cookie(auth.CSRF_COOKIE, path="/")
