"""Cursors for keyset pages: opaque to clients, a JSON list of the last row's sort key inside."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import Query

from quarterdeck.errors import InputError

__all__ = ["Cursor", "Limit", "decode_cursor", "encode_cursor"]

#: how many items a page holds (``limit``)
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
#: where the page starts: the ``next_cursor`` of the previous page
Cursor = Annotated[str | None, Query(max_length=500, description="The previous page's next_cursor.")]


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type) -> list[Any]:
    """The sort key in ``cursor``, each part checked against ``types``; InputError when it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InputError("invalid cursor: pass back a next_cursor exactly as received") from None
    valid = isinstance(key, list) and len(key) == len(types)
    if not valid or not all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(key, types, strict=True)):
        raise InputError("invalid cursor: pass back a next_cursor exactly as received")
    return list(key)
