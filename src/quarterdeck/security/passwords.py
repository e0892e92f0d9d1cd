"""Passwords: argon2id hashes, verified in constant time, with a dummy check for unknown accounts."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["MIN_LENGTH", "check_strength", "hash_password", "needs_rehash", "verify_dummy", "verify_password"]

#: the shortest password accepted for a new account
MIN_LENGTH = 10

_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters


@functools.cache
def _dummy_hash() -> str:
    """Hashed on first use, not at import: hashing takes ~0.1-0.2 s, which every CLI command would pay."""
    return _HASHER.hash("quarterdeck dummy password for unknown accounts")


def check_strength(password: str) -> str | None:
    """Why ``password`` may not be used, or None."""
    if len(password) < MIN_LENGTH:
        return f"the password must be at least {MIN_LENGTH} characters"
    if password.strip() != password:
        return "the password may not start or end with white space"
    return None


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches; a malformed hash never matches."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_dummy(password: str) -> None:
    """Spend the time a real check takes, so an unknown e-mail cannot be told from a wrong password."""
    verify_password(_dummy_hash(), password)


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)
