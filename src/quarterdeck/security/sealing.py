"""Sealed secrets: AES-256-GCM under a key derived from the keyring, bound to where the secret lives.

The associated data (organisation and name) binds a ciphertext to its row: copied to another
row or organisation, it no longer opens. Each sealed value records the id of the key that sealed
it, so a rotation can re-seal everything with the newest key.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from quarterdeck.security.keyring import Keyring

__all__ = ["SealError", "Sealed", "mask", "newest_key_id", "open_sealed", "seal", "secret_context"]

_PURPOSE = "secrets"


class SealError(Exception):
    """A sealed value cannot be opened: its key is gone from the keyring, or it was tampered with."""


@dataclass(frozen=True, slots=True)
class Sealed:
    key_id: str
    ciphertext: str


def secret_context(org_id: str, name: str) -> str:
    """What a stored secret is bound to: opened under another organisation or name, it does not open."""
    return f"{org_id}/{name}"


def newest_key_id(keys: Keyring) -> str:
    """The id of the key that seals new values (rotation re-seals everything else with it)."""
    return keys.newest(_PURPOSE).id


def seal(keys: Keyring, plaintext: str, *, context: str) -> Sealed:
    key = keys.newest(_PURPOSE)
    nonce = os.urandom(12)
    box = AESGCM(key.secret).encrypt(nonce, plaintext.encode(), context.encode())
    return Sealed(key_id=key.id, ciphertext=base64.b64encode(nonce + box).decode())


def open_sealed(keys: Keyring, sealed: Sealed, *, context: str) -> str:
    key = next((k for k in keys.all(_PURPOSE) if k.id == sealed.key_id), None)
    if key is None:
        raise SealError(f"the key {sealed.key_id} that sealed this secret is not configured any more")
    raw = base64.b64decode(sealed.ciphertext)
    try:
        return AESGCM(key.secret).decrypt(raw[:12], raw[12:], context.encode()).decode()
    except InvalidTag:
        raise SealError("the sealed value does not open: tampered with, or moved from another row") from None


def mask(value: str) -> str:
    """What listings show: a provider prefix and the last four characters of long values, nothing of short ones."""
    if len(value) < 12:
        return "••••"
    # a provider's short, public prefix (``sk-``, ``ghp_``) helps tell secrets apart and reveals nothing
    cut = next((i for i, c in enumerate(value[:5]) if c in "-_"), -1)
    return f"{value[: cut + 1]}…{value[-4:]}"
