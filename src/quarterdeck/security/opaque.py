"""Opaque bearer strings (API keys ``qdk_…``, refresh tokens ``qdr_…``): minted random, stored as a hash.

A token reads ``<tag>_<lookup>_<secret>``: the lookup part finds the row, the hash of the whole
token proves it. The tokens carry 256 random bits, so a fast hash (SHA-256) is enough; a slow
password hash would only slow every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

__all__ = ["API_KEY", "REFRESH", "Minted", "digest", "matches", "mint", "parse"]

#: tag of API keys
API_KEY = "qdk"
#: tag of refresh tokens
REFRESH = "qdr"

_LOOKUP_CHARS = "0123456789abcdefghjkmnpqrstvwxyz"
_SHAPE = re.compile(r"^(?P<tag>[a-z]{3})_(?P<lookup>[0-9a-z]{16})_(?P<secret>[A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class Minted:
    """A new token: the whole string (shown once), its lookup part and its hash (stored)."""

    token: str
    lookup: str
    digest: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mint(tag: str) -> Minted:
    lookup = "".join(secrets.choice(_LOOKUP_CHARS) for _ in range(16))
    token = f"{tag}_{lookup}_{secrets.token_urlsafe(32)}"
    return Minted(token=token, lookup=lookup, digest=digest(token))


def parse(tag: str, token: str) -> str | None:
    """The lookup part of a well-formed token with ``tag``, or None."""
    match = _SHAPE.match(token)
    if match is None or match["tag"] != tag:
        return None
    return match["lookup"]


def matches(token: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(token), stored_digest)
