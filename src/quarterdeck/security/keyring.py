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
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["KEY_FILE", "DerivedKey", "KeySettings", "Keyring", "load_or_create_key_file"]

#: where a generated key is kept when none is configured, relative to the state directory
KEY_FILE = "secret.key"

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
    """The key stored at ``path``; created first (mode 0600, never overwritten) when missing.

    An existing file readable by others than its owner is made 0600 before it is read.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()


class KeySettings(BaseSettings):
    """Where the master keys come from (``QUARTERDECK_SECRET_KEY`` / ``_KEYS``): the API signs and seals with
    them, and workers open the secrets they hand to agents."""

    model_config = SettingsConfigDict(env_prefix="QUARTERDECK_", extra="ignore", frozen=True)

    #: signs access tokens and seals secrets; default: generated once into ``<state_dir>/secret.key`` (0600)
    secret_key: SecretStr | None = None
    #: several keys for rotation, newest first (JSON list); the newest signs and seals, all verify and open
    secret_keys: list[SecretStr] = Field(default_factory=list)

    def configured(self) -> bool:
        """Keys are given by the settings (not the state directory's generated file)."""
        return bool(self.secret_keys) or self.secret_key is not None

    def master_keys(self, state_dir: Path) -> list[str]:
        """The configured keys, newest first; with none configured, the state directory's generated key."""
        keys = [k.get_secret_value() for k in self.secret_keys]
        if not keys and self.secret_key is not None:
            keys = [self.secret_key.get_secret_value()]
        if not keys:
            keys = [load_or_create_key_file(state_dir / KEY_FILE)]
        return keys

    def keyring(self, state_dir: Path) -> Keyring:
        return Keyring(self.master_keys(state_dir))
