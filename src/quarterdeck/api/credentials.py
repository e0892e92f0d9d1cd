"""A short memory of verified credentials, so that a bearer seen again is not verified again.

An access token's verification (HMAC, JSON, claims) and an API key's lookup (a rate-limit hit, a
read of the key and of its user, a hash) cost more than many of the reads they guard. The cache maps
the SHA-256 of the credential (never the credential itself) to the caller it proved, until a
deadline: an access token's own expiry (verifying it again would say the same until then), or a few
seconds for an API key (``QUARTERDECK_API_KEY_CACHE_S``), which bounds how long a key revoked by
another process (the CLI, another API process) still works here. Revocations made through this
process's API ``forget`` at once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["CredentialCache"]

_V = TypeVar("_V")


class CredentialCache(Generic[_V]):
    """What a credential proved, until a deadline (wall-clock seconds, like a JWT's ``exp``)."""

    def __init__(self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self._entries: dict[bytes, tuple[float, _V]] = {}
        self._max_entries = max_entries
        #: the time source; a test may replace it to step over a deadline without waiting
        self.clock = clock

    @staticmethod
    def _key(credential: str) -> bytes:
        return hashlib.sha256(credential.encode()).digest()

    def get(self, credential: str) -> _V | None:
        """What ``credential`` proved, or None when it is unknown or its deadline has passed."""
        entry = self._entries.get(self._key(credential))
        if entry is None:
            return None
        if entry[0] <= self.clock():
            self._entries.pop(self._key(credential), None)
            return None
        return entry[1]

    def put(self, credential: str, value: _V, *, until: float) -> None:
        """Remember ``value`` for ``credential`` until ``until`` (nothing when that has passed)."""
        now = self.clock()
        if until <= now:
            return
        if len(self._entries) >= self._max_entries:
            self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
            if len(self._entries) >= self._max_entries:
                self._entries.clear()  # many live credentials: start over rather than track their age
        self._entries[self._key(credential)] = (until, value)

    def forget(self, proved: Callable[[_V], bool]) -> int:
        """Drop every entry whose value matches ``proved`` (a revoked key, a disabled user); how many."""
        gone = [k for k, (_, value) in self._entries.items() if proved(value)]
        for key in gone:
            del self._entries[key]
        return len(gone)

    def __len__(self) -> int:
        return len(self._entries)
