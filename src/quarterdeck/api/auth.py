"""Who is calling: a bearer JWT, an API key (``qdk_…``) or the session cookie (with a CSRF check).

Routes declare what they need with ``Annotated`` dependencies: ``current_principal`` for any
signed-in caller, ``require(Role.MEMBER)`` for a minimum role. The dashboard's pages may use them too.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from quarterdeck.api.errors import Forbidden, TooManyRequests, Unauthorized
from quarterdeck.api.principals import Principal, Role
from quarterdeck.api.services import Services, Standing
from quarterdeck.errors import NotFound
from quarterdeck.security import opaque, tokens
from quarterdeck.store import identity
from quarterdeck.store.types import utcnow

__all__ = [
    "ACCESS_COOKIE",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "REFRESH_COOKIE",
    "Admin",
    "CurrentPrincipal",
    "Member",
    "Principal",
    "Role",
    "Viewer",
    "authenticate",
    "check_csrf",
    "client_ip",
    "current_principal",
    "forget_user",
    "require",
]

ACCESS_COOKIE = "qd_access"
REFRESH_COOKIE = "qd_refresh"
CSRF_COOKIE = "qd_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: ``last_used_at`` of an API key is written at most this often, not on every request
_TOUCH_EVERY = timedelta(seconds=60)


def client_ip(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else "unknown"


def _bearer(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token or API key>'")
    return value.strip()


async def _from_api_key(svc: Services, connection: HTTPConnection, key: str) -> Principal:
    known = svc.api_keys.get(key)
    if known is not None:
        return known
    # Only lookups count against the limit: a key already proved here costs nothing to check.
    retry = await svc.limiter.hit(
        f"apikey:{client_ip(connection)}", limit=svc.api.login_rate_limit * 10, window_s=svc.api.rate_limit_window_s
    )
    if retry is not None:
        raise TooManyRequests(retry)
    lookup = opaque.parse(opaque.API_KEY, key)
    now = utcnow()
    async with svc.db.read() as conn:
        record = await identity.read_api_key_by_prefix(conn, lookup) if lookup else None
        owner = await identity.read_user(conn, record.user_id) if record and record.user_id else None
    if record is None or not opaque.matches(key, record.key_hash) or not record.usable(now):
        raise Unauthorized("invalid, expired or revoked API key")
    if owner is not None and owner.disabled_at is not None:
        raise Unauthorized("the API key's user is disabled")
    if owner is not None:
        _remember(svc, owner.id, Role(owner.role))
    if record.last_used_at is None or now - record.last_used_at > _TOUCH_EVERY:
        async with svc.db.transaction() as conn:
            await identity.touch_api_key(conn, record.id, now=now)
    principal = Principal(
        user_id=record.user_id, api_key_id=record.id, org_id=record.org_id, role=Role(record.role), name=record.name
    )
    until = now.timestamp() + svc.api.api_key_cache_s
    if record.expires_at is not None:
        until = min(until, record.expires_at.timestamp())
    svc.api_keys.put(key, principal, until=until)
    return principal


def _from_jwt(svc: Services, token: str) -> Principal:
    known = svc.tokens.get(token)
    if known is not None:
        return known
    try:
        claims = tokens.verify_access_token(svc.keys, token)
    except tokens.InvalidToken as exc:
        raise Unauthorized(str(exc)) from None
    try:
        role = Role(claims.role)
    except ValueError:
        raise Unauthorized("token carries an unknown role") from None
    principal = Principal(user_id=claims.user_id, api_key_id=None, org_id=claims.org_id, role=role, name=claims.name)
    # A token is signed and stateless: until it expires, verifying it again would prove the same.
    svc.tokens.put(token, principal, until=claims.expires_at.timestamp())
    return principal


def _remember(svc: Services, user_id: str, role: Role | None) -> Standing:
    standing = Standing(user_id, role.value if role is not None else None)
    svc.standings.put(user_id, standing, until=svc.standings.clock() + svc.api.authority_cache_s)
    return standing


async def _as_of_now(svc: Services, principal: Principal) -> Principal:
    """The caller with at most its user's current role; Unauthorized when the user is disabled or gone.

    A token or key carries the role it was issued with; the user's role now is read again at most
    every ``authority_cache_s`` (and at once after a change through this process), so demoting or
    disabling a user binds their keys, tokens and sessions within that time.
    """
    if principal.user_id is None:
        return principal  # an organisation's key made by the server's operator: its own role is all it has
    standing = svc.standings.get(principal.user_id)
    if standing is None:
        async with svc.db.read() as conn:
            try:
                user = await identity.read_user(conn, principal.user_id, org_id=principal.org_id)
            except NotFound:
                user = None
        enabled = user is not None and user.disabled_at is None
        standing = _remember(svc, principal.user_id, Role(user.role) if user is not None and enabled else None)
    if standing.role is None:
        raise Unauthorized("the user is disabled or no longer exists")
    now = Role(standing.role)
    return principal if now.allows(principal.role) else dataclasses.replace(principal, role=now)


def forget_user(svc: Services, user_id: str) -> None:
    """Forget what this process remembers of a user's standing and keys: their next request reads it again."""
    svc.standings.forget(lambda standing: standing.user_id == user_id)
    svc.api_keys.forget(lambda caller: caller.user_id == user_id)


def check_csrf(connection: HTTPConnection) -> None:
    expected = connection.cookies.get(CSRF_COOKIE) or ""
    given = connection.headers.get(CSRF_HEADER.lower()) or ""
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        raise Forbidden(f"a cookie-authenticated {connection.scope.get('method', '')} needs the {CSRF_HEADER} header")


async def authenticate(svc: Services, connection: HTTPConnection, *, query_token: bool = False) -> Principal:
    """The caller of an HTTP request or WebSocket; Unauthorized when nobody valid is calling.

    A bearer header wins over the cookie. Unsafe methods authenticated by cookie must echo the
    CSRF cookie in ``X-CSRF-Token`` (double submit). ``query_token`` also accepts
    ``?access_token=`` (WebSocket clients cannot always set headers).
    """
    token = _bearer(connection)
    if token is None and query_token:
        token = connection.query_params.get("access_token") or None
    if token is not None:
        if token.startswith(f"{opaque.API_KEY}_"):
            return await _as_of_now(svc, await _from_api_key(svc, connection, token))
        return await _as_of_now(svc, _from_jwt(svc, token))
    cookie = connection.cookies.get(ACCESS_COOKIE)
    if cookie:
        principal = _from_jwt(svc, cookie)
        if connection.scope["type"] == "http" and connection.scope.get("method", "GET") not in _SAFE_METHODS:
            check_csrf(connection)
        return await _as_of_now(svc, principal)
    raise Unauthorized()


async def current_principal(connection: HTTPConnection) -> Principal:
    # One dependency, not one per step (services, then the caller): FastAPI's cost is per dependency.
    return await authenticate(connection.app.state.services, connection)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(role: Role) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """A dependency: the caller, if their role is at least ``role``; else 403."""

    async def _require(connection: HTTPConnection) -> Principal:
        principal = await current_principal(connection)
        if not principal.role.allows(role):
            raise Forbidden(f"this needs the {role} role; you are {principal.role}")
        return principal

    return _require


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Member = Annotated[Principal, Depends(require(Role.MEMBER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
