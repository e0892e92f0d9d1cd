"""Signed access tokens: HS256 JWTs with ``exp``, ``iat``, ``jti`` and ``typ``, keyed by a keyring."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from quarterdeck.security.keyring import Keyring

__all__ = ["ACCESS", "AccessClaims", "InvalidToken", "issue_access_token", "verify_access_token"]

ACCESS = "access"
_PURPOSE = "jwt"
_ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The token is malformed, forged, expired or of the wrong type."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What an access token says: who (user), where (organisation), with which role, until when."""

    user_id: str
    org_id: str
    role: str
    name: str
    jti: str
    expires_at: datetime


def issue_access_token(
    keys: Keyring, *, user_id: str, org_id: str, role: str, name: str, ttl: timedelta, now: datetime
) -> str:
    key = keys.newest(_PURPOSE)
    claims = {
        "sub": user_id,
        "org": org_id,
        "role": role,
        "name": name,
        "typ": ACCESS,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": secrets.token_hex(12),
    }
    return jwt.encode(claims, key.secret, algorithm=_ALGORITHM, headers={"kid": key.id})


def verify_access_token(keys: Keyring, token: str) -> AccessClaims:
    """The claims of a valid, unexpired access token signed by any key of the ring.

    Raises:
        InvalidToken: with the reason.
    """
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"malformed token: {exc}") from None
    key = next((k for k in keys.all(_PURPOSE) if k.id == kid), None)
    if key is None:
        raise InvalidToken("token signed with an unknown key")
    try:
        claims = jwt.decode(
            token,
            key.secret,
            algorithms=[_ALGORITHM],
            options={"require": ["exp", "iat", "jti", "sub", "typ"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid token: {exc}") from None
    if claims.get("typ") != ACCESS:
        raise InvalidToken("not an access token")
    try:
        return AccessClaims(
            user_id=str(claims["sub"]),
            org_id=str(claims["org"]),
            role=str(claims["role"]),
            name=str(claims.get("name", "")),
            jti=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"])).astimezone(),
        )
    except (KeyError, TypeError, ValueError):
        raise InvalidToken("token lacks claims") from None
