"""Who a caller is once authenticated: a ``Principal`` with its ``Role`` (``auth.py`` decides who; this holds what).

Apart from ``auth.py`` so that ``services.py`` (which caches principals) and ``auth.py`` (which reads the
services) do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Principal", "Role"]


class Role(StrEnum):
    """What a user or key may do; each role can do everything the ones below it can."""

    #: read everything of the organisation
    VIEWER = "viewer"
    #: also create and steer runs and tasks, decide approvals
    MEMBER = "member"
    #: also manage users, API keys, secrets and projects
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a user (signed in) or an API key, acting in one organisation with one role."""

    user_id: str | None
    api_key_id: str | None
    org_id: str
    role: Role
    name: str

    @property
    def actor(self) -> str:
        """How the caller is recorded in decisions and audit entries."""
        return self.user_id or f"key:{self.api_key_id}"
