"""Domain-free security primitives: password hashing, signed tokens, opaque keys, sealed secrets.

Nothing here touches the database or HTTP; ``api/`` and ``store/`` call these functions.
"""

from __future__ import annotations

from quarterdeck.security import keyring, opaque, passwords, sealing, tokens

__all__ = ["keyring", "opaque", "passwords", "sealing", "tokens"]
