"""Signing in and out: login, token refresh (rotated), logout, and who am I."""

from __future__ import annotations

import asyncio

from fastapi import Request, Response, status

from quarterdeck.api import convert, schemas, sessions
from quarterdeck.api.auth import REFRESH_COOKIE, CurrentPrincipal, check_csrf, client_ip
from quarterdeck.api.errors import TooManyRequests, Unauthorized
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.app import accounts
from quarterdeck.security import passwords

__all__ = ["router"]

router = v1_router("auth")


def _token_response(session: sessions.Session) -> schemas.TokenResponse:
    return schemas.TokenResponse(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        token_type="bearer",
        expires_in=session.expires_in,
        user=convert.user(session.user),
    )


@router.post("/auth/login")
async def login(body: schemas.LoginRequest, request: Request, response: Response, svc: Svc) -> schemas.TokenResponse:
    """Trade an e-mail and password for tokens; also sets the session cookies for the dashboard."""
    email = accounts.normalise_email(body.email)
    retry = await svc.limiter.hit(
        f"login:{client_ip(request)}:{email}", limit=svc.api.login_rate_limit, window_s=svc.api.rate_limit_window_s
    )
    if retry is not None:
        raise TooManyRequests(retry)
    user = await accounts.read_user_by_email(svc.db, email)
    if user is None:
        await asyncio.to_thread(passwords.verify_dummy, body.password)
        raise Unauthorized("wrong e-mail or password")
    if not await asyncio.to_thread(passwords.verify_password, user.password_hash, body.password):
        raise Unauthorized("wrong e-mail or password")
    if user.disabled_at is not None:
        raise Unauthorized("this account is disabled")
    session = await sessions.start(svc, user)
    sessions.set_cookies(svc, request, response, session)
    return _token_response(session)


@router.post("/auth/refresh")
async def refresh(
    request: Request, response: Response, svc: Svc, body: schemas.RefreshRequest | None = None
) -> schemas.TokenResponse:
    """Exchange a refresh token (body, or the ``qd_refresh`` cookie) for new tokens; the old one stops working."""
    retry = await svc.limiter.hit(
        f"refresh:{client_ip(request)}", limit=svc.api.login_rate_limit * 6, window_s=svc.api.rate_limit_window_s
    )
    if retry is not None:
        raise TooManyRequests(retry)
    token = body.refresh_token if body is not None and body.refresh_token else None
    if token is None:
        token = request.cookies.get(REFRESH_COOKIE)
        if token:
            check_csrf(request)
    if not token:
        raise Unauthorized("no refresh token: send it in the body or the qd_refresh cookie")
    session = await sessions.refresh(svc, token)
    sessions.set_cookies(svc, request, response, session)
    return _token_response(session)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, svc: Svc, body: schemas.RefreshRequest | None = None) -> Response:
    """End the session: revoke its refresh token and clear the cookies."""
    token = body.refresh_token if body is not None and body.refresh_token else None
    if token is None and (token := request.cookies.get(REFRESH_COOKIE)):
        check_csrf(request)
    await sessions.end(svc, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    sessions.clear_cookies(response)
    return response


@router.get("/me")
async def me(principal: CurrentPrincipal, svc: Svc) -> schemas.UserPublic:
    """The caller: a user (with e-mail) or an API key, their role and organisation."""
    if principal.user_id is not None and principal.api_key_id is None:
        return convert.user(await accounts.read_user(svc.db, principal.user_id, org_id=principal.org_id))
    return schemas.UserPublic(
        id=principal.user_id,
        email=None,
        name=principal.name,
        role=principal.role.value,
        org_id=principal.org_id,
        api_key_id=principal.api_key_id,
    )
