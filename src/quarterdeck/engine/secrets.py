"""The organisation's secrets an agent may use: in its environment, and redacted from everything it reports.

A secret of kind ``provider_key`` or ``git_credential`` whose name is an environment variable name
(``ANTHROPIC_API_KEY``, ``GH_TOKEN`` …) reaches the agent's processes and its checks as that
variable. Its value never reaches an event: whatever an agent or a check prints passes through a
:class:`Redactor` first. Secrets are read per organisation at most every ``_FRESH_S`` seconds, and the
keyring is loaded only when an organisation has secrets to open.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from quarterdeck.errors import RuntimeFailure
from quarterdeck.security import sealing
from quarterdeck.security.keyring import Keyring, KeySettings
from quarterdeck.settings import Settings
from quarterdeck.store import secrets as secret_store
from quarterdeck.store.database import Database

__all__ = ["AgentSecrets", "Redactor"]

#: how long an organisation's secrets are reused before they are read again
_FRESH_S = 10.0
_KINDS = ("provider_key", "git_credential")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HIDDEN = "[secret]"


class Redactor:
    """Replaces every known secret value in strings, lists and dicts (event payloads)."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        secrets = sorted({v for v in (values or {}).values() if len(v) >= 4}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, secrets))) if secrets else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, value: Any) -> Any:
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self._pattern.sub(_HIDDEN, value)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        return value


class AgentSecrets:
    """Opens an organisation's agent secrets with the configured keys (``QUARTERDECK_SECRET_KEY(S)``)."""

    def __init__(self, db: Database, settings: Settings, keys: KeySettings | None = None) -> None:
        self._db = db
        self._settings = settings
        self._keys = keys
        self._keyring: Keyring | None = None
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}

    async def environment(self, org_id: str) -> dict[str, str]:
        """The organisation's agent secrets as environment variables (empty when it has none)."""
        cached = self._cache.get(org_id)
        if cached is not None and time.monotonic() - cached[0] < _FRESH_S:
            return cached[1]
        async with self._db.read() as conn:
            records = await secret_store.read_all_secrets(conn, org_id=org_id)
        usable = [r for r in records if r.kind in _KINDS and _ENV_NAME.fullmatch(r.name)]
        env: dict[str, str] = {}
        if usable:
            keyring = self._keyring_now()
            for record in usable:
                sealed = sealing.Sealed(record.key_id, record.ciphertext)
                try:
                    env[record.name] = sealing.open_sealed(
                        keyring, sealed, context=sealing.secret_context(record.org_id, record.name)
                    )
                except sealing.SealError as exc:
                    raise RuntimeFailure(f"the secret {record.name} cannot be opened: {exc}") from None
        self._cache[org_id] = (time.monotonic(), env)
        return env

    def _keyring_now(self) -> Keyring:
        if self._keyring is None:
            self._keyring = (self._keys or KeySettings()).keyring(self._settings.state_dir)
        return self._keyring
