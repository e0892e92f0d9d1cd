"""Identifiers: new run and attempt ids, and the check that makes a user's name safe for refs and paths."""

from __future__ import annotations

import re
import secrets
import time

from quarterdeck.errors import UnsafeNameError

__all__ = ["check_branch_name", "check_safe_name", "new_id", "new_run_id", "slug"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_NAME = 64


def _encode(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str = "") -> str:
    """Return a sortable, unique id: 48 bits of milliseconds then 40 random bits."""
    return prefix + _encode(int(time.time() * 1000), 10) + _encode(secrets.randbits(40), 8)


def new_run_id() -> str:
    """Return a short run id, sortable by creation time (``r`` + 12 characters)."""
    return "r" + _encode(int(time.time() * 1000), 9) + _encode(secrets.randbits(15), 3)


def check_safe_name(name: str, *, what: str = "name") -> str:
    """Return ``name`` if it can become a git ref component and a directory name, else raise.

    Raises:
        UnsafeNameError: with the reason (``..``, a leading ``-``, ``@{``, control characters, …).
    """
    reason: str | None = None
    if not name:
        reason = "is empty"
    elif len(name) > MAX_NAME:
        reason = f"is longer than {MAX_NAME} characters"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        reason = "contains control characters"
    elif name.startswith("-"):
        reason = "starts with '-'"
    elif ".." in name:
        reason = "contains '..'"
    elif "@{" in name:
        reason = "contains '@{'"
    elif name.endswith(".lock"):
        reason = "ends with '.lock'"
    elif name.endswith("."):
        reason = "ends with '.'"
    elif not _SAFE.match(name):
        reason = "may only hold letters, digits, '.', '_' and '-', starting with a letter or digit"
    if reason:
        raise UnsafeNameError(name, f"{what} {reason}")
    return name


def check_branch_name(name: str) -> str:
    """Return ``name`` if every ``/``-separated part is a safe name (see ``check_safe_name``), else raise."""
    if not name or len(name) > 200:
        raise UnsafeNameError(name, "branch name must be 1 to 200 characters")
    for part in name.split("/"):
        check_safe_name(part, what="branch name part")
    return name


def slug(text: str, *, limit: int = 40) -> str:
    """Turn free text into a safe, lower-case name component (never empty)."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return out or "x"
