"""The forge secrets of an organisation (API tokens, webhook secrets), opened from its encrypted secrets."""

from __future__ import annotations

from collections.abc import Callable

from quarterdeck.errors import InputError, NotFound, RuntimeFailure
from quarterdeck.security import redaction, sealing
from quarterdeck.security.keyring import Keyring
from quarterdeck.store import secrets as secret_store
from quarterdeck.store.database import Database

__all__ = ["ForgeSecrets"]


class ForgeSecrets:
    """Opens one named secret of an organisation with the key ring (the value is redacted from then on).

    ``keys`` may be a function that reads them: then they are read when a secret is first opened, so a
    process that never meets a ``[forge]`` never reads (or creates) the key file."""

    def __init__(self, db: Database, keys: Keyring | Callable[[], Keyring]) -> None:
        self._db = db
        self._keys = keys

    async def open(self, org_id: str, name: str) -> str:
        """The plaintext of secret ``name``.

        Raises:
            InputError: no such secret, saying how to set it.
            RuntimeFailure: it was sealed with a key this process lacks.
        """
        async with self._db.read() as conn:
            try:
                record = await secret_store.read_secret(conn, org_id=org_id, name=name)
            except NotFound:
                raise InputError(
                    f"the forge needs the secret {name}: set it with `quarterdeck secret set {name} --kind other`"
                ) from None
        if not isinstance(self._keys, Keyring):
            self._keys = self._keys()
        try:
            value = sealing.open_sealed(
                self._keys,
                sealing.Sealed(record.key_id, record.ciphertext),
                context=sealing.secret_context(org_id, name),
            )
        except sealing.SealError as exc:
            raise RuntimeFailure(f"the secret {name} cannot be opened: {exc}") from None
        redaction.remember([value])
        return value
