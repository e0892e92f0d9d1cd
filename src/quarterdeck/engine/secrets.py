"""The organisation's secrets an agent may use: in its environment, and redacted from everything it reports.

A secret of kind ``provider_key`` or ``git_credential`` whose name is an environment variable name
(``ANTHROPIC_API_KEY``, ``GH_TOKEN`` …) reaches the agent's processes and its checks as that
variable. Its value never reaches an event, an error or a row: opening it ``remember``-s it with
``security/redaction.py``, and the store records everything redacted. Secrets are read per
organisation at most every ``_FRESH_S`` seconds; the worker reads the keys when it starts
(``open_keyring``). No other ``QUARTERDECK_*`` variable reaches a step (``step_environment``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from quarterdeck.errors import RuntimeFailure
from quarterdeck.security import redaction, sealing
from quarterdeck.security.keyring import KEY_FILE, Keyring, KeySettings
from quarterdeck.security.redaction import Redactor
from quarterdeck.settings import Settings
from quarterdeck.store import secrets as secret_store
from quarterdeck.store.database import Database

__all__ = ["AgentSecrets", "Redactor", "step_environment"]

#: the control plane's own settings (state directory, database, keys …) are never a step's
_OURS = "QUARTERDECK_"


def step_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without any ``QUARTERDECK_*`` variable: none may tell a step where the state directory,
    the database or the key ring is (the engine adds the step's own ``QUARTERDECK_RUN_ID`` and the like)."""
    return {name: value for name, value in env.items() if not name.startswith(_OURS)}


#: how long an organisation's secrets are reused before they are read again
_FRESH_S = 10.0
_KINDS = ("provider_key", "git_credential")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
        redaction.remember(env.values())  # whatever the store records from now on hides them
        self._cache[org_id] = (time.monotonic(), env)
        return env

    @property
    def keyring_open(self) -> bool:
        return self._keyring is not None

    def open_keyring(self) -> None:
        """Read the keys now, before any step runs, when they are configured or their file exists.

        A step never needs the key file (it gets only its organisation's secrets, as variables);
        reading it first lets a deployment take the file out of the steps' reach once workers started.
        """
        keys = self._keys or KeySettings()
        if keys.configured() or (self._settings.state_dir / KEY_FILE).exists():
            self._keyring_now()

    def _keyring_now(self) -> Keyring:
        if self._keyring is None:
            self._keyring = (self._keys or KeySettings()).keyring(self._settings.state_dir)
        return self._keyring
