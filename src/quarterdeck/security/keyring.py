"""The server's secret keys, newest first: each master key yields separate keys per purpose (HKDF)."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["DerivedKey", "Keyring", "load_or_create_key_file"]

#: the shortest master key accepted (bytes of its text)
MIN_KEY_LENGTH = 32


@dataclass(frozen=True, slots=True)
class DerivedKey:
    """A key for one purpose, with a short public id (which master key it came from)."""

    id: str
    secret: bytes


def _derive(master: str, purpose: str) -> DerivedKey:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"quarterdeck/{purpose}".encode()).derive(
        master.encode()
    )
    return DerivedKey(id=hashlib.sha256(key).hexdigest()[:12], secret=key)


class Keyring:
    """Master keys, newest first: the newest signs and seals, every one still verifies and opens."""

    def __init__(self, masters: Sequence[str]) -> None:
        if not masters:
            raise ValueError("a keyring needs at least one key")
        for master in masters:
            if len(master) < MIN_KEY_LENGTH:
                raise ValueError(f"a secret key must be at least {MIN_KEY_LENGTH} characters")
        self._masters = tuple(masters)
        #: derived keys by purpose, newest first (derived once: every request verifies a token)
        self._derived: dict[str, list[DerivedKey]] = {}

    def newest(self, purpose: str) -> DerivedKey:
        return self.all(purpose)[0]

    def all(self, purpose: str) -> list[DerivedKey]:
        derived = self._derived.get(purpose)
        if derived is None:
            derived = self._derived[purpose] = [_derive(master, purpose) for master in self._masters]
        return list(derived)


def load_or_create_key_file(path: Path) -> str:
    """The key stored at ``path``; created first (mode 0600, never overwritten) when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()
